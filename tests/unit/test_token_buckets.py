"""The per-client token buckets behind RAG_RATE_LIMIT_RPS / RAG_RATE_LIMIT_BURST, on a clock
the test moves (no sleeping)."""

from __future__ import annotations

import pytest

from rag_service.api import access
from rag_service.api.access import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(access.time, "monotonic", c)
    return c


def test_a_full_bucket_allows_the_burst_then_says_how_long_to_wait(clock: Clock) -> None:
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token at 2 per second
    clock.now += 0.25
    assert buckets.take("a") == pytest.approx(0.25)  # half a token refilled: half the wait


def test_tokens_refill_at_the_rate_and_never_beyond_the_burst(clock: Clock) -> None:
    buckets = TokenBuckets(rate=1.0, burst=2)
    buckets.take("a"), buckets.take("a")
    clock.now += 1.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    clock.now += 3600  # an hour idle refills to the burst, not to 3600 tokens
    assert [buckets.take("a") for _ in range(2)] == [0.0, 0.0]
    assert buckets.take("a") > 0


def test_clients_have_buckets_of_their_own(clock: Clock) -> None:
    buckets = TokenBuckets(rate=1.0, burst=1)
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_wait_takes_nothing(clock: Clock) -> None:
    buckets = TokenBuckets(rate=1.0, burst=1)
    assert buckets.wait("never-seen") == 0.0
    assert buckets.wait("a") == 0.0
    assert buckets.take("a") == 0.0  # wait() did not spend the only token
    assert buckets.wait("a") == pytest.approx(1.0)
    clock.now += 0.4
    assert buckets.wait("a") == pytest.approx(0.6)
    assert buckets.wait("a") == pytest.approx(0.6)  # asking again costs nothing
