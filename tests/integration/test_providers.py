"""LLM providers through the official SDKs against real loopback servers speaking each wire
format, end to end through the service's HTTP API."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from rag_service.api.app import create_app
from rag_service.core.config import Settings
from rag_service.generation.base import ABSTAIN_ANSWER
from rag_service.generation.llm import SENTINEL
from rag_service.services import Services, build_pipeline
from tests.conftest import LiveServer
from tests.fakes import (
    FakeServer,
    Reply,
    anthropic_error,
    anthropic_message,
    anthropic_stream,
    openai_completion,
    openai_error,
    openai_stream,
)

KEY = "sk-test-SECRET-key-0123456789"
QUESTION = "What is the median day rate for a freelance AI Engineer in the UK?"
GOOD = 'The median day rate is £600/day [1].\nQUOTES:\n[1] "with a median of £600/day"'
FAST_RETRY = {"retry-after-ms": "5"}

PROVIDERS = {
    "openai": (openai_completion, openai_stream, openai_error),
    "anthropic": (anthropic_message, anthropic_stream, anthropic_error),
}


@pytest.fixture()
def upstream() -> Iterator[FakeServer]:
    with FakeServer([Reply(status=500)]) as server:
        yield server


def serve(settings: Settings, services: Services, upstream: FakeServer, **overrides) -> LiveServer:
    s = settings.model_copy(
        update={
            "openai_base_url": upstream.url + "/v1",
            "openai_api_key": KEY,
            "anthropic_base_url": upstream.url,
            "anthropic_api_key": KEY,
            "openai_model": "gpt-test",
            "anthropic_model": "claude-test",
            "llm_max_retries": 2,
            "llm_timeout_s": 5.0,
            **overrides,
        }
    )
    from pydantic import SecretStr

    s = s.model_copy(update={"openai_api_key": SecretStr(KEY), "anthropic_api_key": SecretStr(KEY)})
    mine = replace(services, pipeline=build_pipeline(s, services.db, services.embedder))
    return LiveServer(create_app(s, mine))


def ask(url: str, provider: str, question: str = QUESTION) -> httpx.Response:
    return httpx.post(
        url + "/v1/ask", json={"question": question, "provider": provider}, timeout=60
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cited_answer_and_what_the_sdk_sent(provider, settings, services, upstream) -> None:
    upstream.replies = [PROVIDERS[provider][0](GOOD)]
    with serve(settings, services, upstream) as live:
        r = ask(live.url, provider)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answerable"] is True and body["provider"] == provider
    assert body["answer"] == "The median day rate is £600/day [1]."
    cite = body["citations"][0]
    assert cite["quote"] == "with a median of £600/day"
    with services.db.connection() as conn:
        text = conn.execute(
            "SELECT content FROM documents WHERE source = %s", (cite["document"],)
        ).fetchone()[0]
    assert text[cite["start"] : cite["end"]] == cite["quote"]
    expected_usage = (120, 30) if provider == "openai" else (150, 40)
    assert body["usage"] == {"input_tokens": expected_usage[0], "output_tokens": expected_usage[1]}
    assert body["model"] == ("gpt-test" if provider == "openai" else "claude-test")
    sent = upstream.requests[-1]
    assert sent.body["max_tokens"] == settings.llm_max_tokens
    if provider == "openai":
        assert sent.path == "/v1/chat/completions"
        assert sent.body["model"] == "gpt-test"
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        system, user = sent.body["messages"]
        assert SENTINEL in system["content"]
        prompt = user["content"]
    else:
        assert sent.path == "/v1/messages"
        assert sent.body["model"] == "claude-test"
        assert KEY in (sent.headers.get("x-api-key", "") + sent.headers.get("authorization", ""))
        assert SENTINEL in sent.body["system"]
        prompt = sent.body["messages"][0]["content"]
    assert '<passage n="1"' in prompt and "£600/day" in prompt and QUESTION in prompt


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sentinel_abstains(provider, settings, services, upstream) -> None:
    upstream.replies = [PROVIDERS[provider][0](SENTINEL)]
    with serve(settings, services, upstream) as live:
        body = ask(live.url, provider).json()
    assert body["answerable"] is False and body["answer"] == ABSTAIN_ANSWER
    assert body["citations"] == [] and body["reason"] == "generator_abstained"
    assert body["usage"]["output_tokens"] > 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_hallucinated_citations_are_dropped(provider, settings, services, upstream) -> None:
    fake = (
        "The median day rate is £999/day [7]. Quantum engineers earn more [1].\n"
        'QUOTES:\n[7] "£999/day"\n[1] "quantum engineers earn a lot"'
    )
    upstream.replies = [PROVIDERS[provider][0](fake)]
    with serve(settings, services, upstream) as live:
        body = ask(live.url, provider).json()
    assert body["answerable"] is False
    assert body["reason"] == "no_verified_citation" and body["citations"] == []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rate_limit_then_success_is_retried(provider, settings, services, upstream) -> None:
    complete, _, error = PROVIDERS[provider]
    limited = error(429, "slow down")
    limited.headers.update(FAST_RETRY)
    upstream.replies = [limited, complete(GOOD)]
    with serve(settings, services, upstream) as live:
        r = ask(live.url, provider)
    assert r.status_code == 200 and r.json()["answerable"] is True
    assert len(upstream.requests) == 2


@pytest.mark.parametrize("provider", PROVIDERS)
def test_server_error_is_502_after_bounded_retries(
    provider, settings, services, upstream, caplog
) -> None:
    failing = PROVIDERS[provider][2](500, "internal trouble")
    failing.headers.update(FAST_RETRY)
    upstream.replies = [failing]
    with caplog.at_level(logging.DEBUG), serve(settings, services, upstream) as live:
        r = ask(live.url, provider)
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_error"
    assert len(upstream.requests) == 3  # one try + llm_max_retries=2
    assert KEY not in r.text and KEY not in caplog.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_rejected_key_is_a_configuration_error_without_the_key(
    provider, settings, services, upstream, caplog
) -> None:
    upstream.replies = [PROVIDERS[provider][2](401, f"Incorrect API key provided: {KEY}")]
    with caplog.at_level(logging.DEBUG), serve(settings, services, upstream) as live:
        r = ask(live.url, provider)
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["code"] == "upstream_configuration_error" and "credentials" in err["message"]
    assert KEY not in r.text and KEY[-10:] not in r.text and KEY not in caplog.text


@pytest.mark.parametrize("provider", PROVIDERS)
def test_timeout_is_504(provider, settings, services, upstream) -> None:
    slow = PROVIDERS[provider][0](GOOD)
    slow.delay_s = 2.0
    upstream.replies = [slow]
    with serve(settings, services, upstream, llm_timeout_s=0.3, llm_max_retries=0) as live:
        r = ask(live.url, provider)
    assert r.status_code == 504
    assert r.json()["error"]["code"] == "upstream_timeout"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_malformed_body_is_502(provider, settings, services, upstream) -> None:
    upstream.replies = [Reply(body=b"<html>not json at all")]
    with serve(settings, services, upstream, llm_max_retries=0) as live:
        r = ask(live.url, provider)
    assert r.status_code == 502
    assert "Traceback" not in r.text


def _events(text: str) -> list[tuple[str, object]]:
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = block.splitlines()
        name = next((ln[6:].strip() for ln in lines if ln.startswith("event:")), None)
        data = "\n".join(ln[5:].strip() for ln in lines if ln.startswith("data:"))
        if name:
            out.append((name, json.loads(data)))
    return out


@pytest.mark.parametrize("provider", PROVIDERS)
def test_streaming_hides_quotes_and_verifies_at_the_end(
    provider, settings, services, upstream
) -> None:
    pieces = [
        "The median ",
        "day rate is ",
        "£600/day [1].",
        "\nQUO",
        "TES:\n[1] ",
        '"with a median of £600/day"',
    ]
    upstream.replies = [PROVIDERS[provider][1](pieces)]
    with (
        serve(settings, services, upstream) as live,
        httpx.stream(
            "POST",
            live.url + "/v1/ask/stream",
            json={"question": QUESTION, "provider": provider},
            timeout=60,
        ) as r,
    ):
        events = _events(r.read().decode())
    names = [n for n, _ in events]
    assert names[0] == "citations" and names[-1] == "done" and "delta" in names
    streamed = "".join(d for n, d in events if n == "delta")
    assert "QUOTES" not in streamed and "£600/day [1]." in streamed
    done = events[-1][1]
    assert done["answerable"] is True
    assert done["citations"][0]["quote"] == "with a median of £600/day"
    assert done["usage"]["output_tokens"] > 0
    assert upstream.requests[-1].body["stream"] is True


def test_stream_upstream_failure_arrives_as_an_error_event(settings, services, upstream) -> None:
    upstream.replies = [openai_error(500)]
    with (
        serve(settings, services, upstream, llm_max_retries=0) as live,
        httpx.stream(
            "POST",
            live.url + "/v1/ask/stream",
            json={"question": QUESTION, "provider": "openai"},
            timeout=60,
        ) as r,
    ):
        events = _events(r.read().decode())
    assert events[-1][0] == "error"
    assert events[-1][1]["error"]["code"] == "upstream_error"


def test_default_provider_from_settings(settings, services, upstream) -> None:
    upstream.replies = [openai_completion(GOOD)]
    with serve(settings, services, upstream, provider="openai") as live:
        r = httpx.post(live.url + "/v1/ask", json={"question": QUESTION}, timeout=60)
    assert r.json()["provider"] == "openai"


def test_weak_evidence_never_reaches_the_model(settings, services, upstream) -> None:
    upstream.replies = [openai_completion(GOOD)]
    with serve(settings, services, upstream) as live:
        body = ask(live.url, "openai", "What is the capital of France?").json()
    assert body["answerable"] is False
    assert upstream.requests == []
