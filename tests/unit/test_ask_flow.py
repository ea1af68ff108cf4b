"""The one ask flow (RagPipeline.flow) driven three ways: `ask` (the generator called whole),
`ask_stream` and `ask_stream_async` (streamed; awaited on the event loop when the generator
can). Retrieval is replaced by fixed evidence, so these run without a database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from rag_service.generation.base import ABSTAIN_ANSWER, Draft, DraftCitation, Passage
from rag_service.generation.grounding import VerifiedCitation
from rag_service.pipeline import AskResult, Evidence, RagPipeline
from rag_service.ranking.selector import GateDecision

TEXT = "The retry limit is five attempts per minute."
PASSAGES = [Passage(1, 7, "doc.md", "", TEXT, 100, 100 + len(TEXT), 0.9)]


class Verifier:
    def verify(self, citations: list[DraftCitation], passages: list[Passage]) -> list:
        return [VerifiedCitation("doc.md", c.chunk_id, c.quote, 100, 144, 1.0) for c in citations]


class Verbatim:
    """A generator answering with the passage verbatim (as the extractive one does)."""

    name = "verbatim"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def draft(self) -> Draft:
        return Draft(TEXT, [DraftCitation(7, TEXT, 100, 144, 1.0)], usage={"output_tokens": 9})

    def generate(self, question: str, passages: list[Passage], **_: Any) -> Draft:
        self.calls.append("generate")
        return self.draft()

    def stream(self, question: str, passages: list[Passage], **_: Any) -> Iterator[str | Draft]:
        self.calls.append("stream")
        yield from ("The retry limit ", "is five attempts per minute.")
        yield self.draft()


class Awaited(Verbatim):
    name = "awaited"

    async def astream(
        self, question: str, passages: list[Passage], *, slot: Any = None, **_: Any
    ) -> AsyncIterator[str | Draft]:
        self.calls.append(f"astream slot={slot}")
        for piece in ("The retry limit ", "is five attempts per minute."):
            yield piece
        yield self.draft()


class Silent(Verbatim):
    """Streams no text, only the final draft (a structured reply, shown once verified)."""

    name = "silent"

    def stream(self, question: str, passages: list[Passage], **_: Any) -> Iterator[str | Draft]:
        yield self.draft()


def pipeline(answerable: bool = True) -> tuple[RagPipeline, dict[str, Verbatim]]:
    gens: dict[str, Verbatim] = {g.name: g for g in (Verbatim(), Awaited(), Silent())}
    p = RagPipeline(None, None, None, Verifier(), gens, default_provider="verbatim", top_k=3)  # type: ignore[arg-type]
    decision = GateDecision(answerable, "supported" if answerable else "prompt_injection", 0.8, 1.0)
    p.gather = lambda question, k=None: Evidence(  # type: ignore[method-assign]
        SimpleNamespace(terms={}), None, [], PASSAGES, decision, {}
    )
    return p, gens


def events_async(p: RagPipeline, **kw: Any) -> list[tuple[str, Any]]:
    async def collect() -> list[tuple[str, Any]]:
        return [e async for e in p.ask_stream_async("What is the retry limit?", **kw)]

    return asyncio.run(collect())


def same(a: AskResult, b: AskResult) -> None:
    assert (a.answer, a.answerable, a.reason, a.citations, a.usage) == (
        b.answer,
        b.answerable,
        b.reason,
        b.citations,
        b.usage,
    )


@pytest.mark.parametrize("provider", ["verbatim", "awaited", "silent"])
def test_every_driver_gives_the_result_ask_gives(provider: str) -> None:
    p, gens = pipeline()
    asked = p.ask("What is the retry limit?", provider=provider)
    assert asked.answerable and asked.answer == TEXT and asked.reason == "supported"
    assert "total" in asked.timings_ms and "generate" in asked.timings_ms
    for events in (
        list(p.ask_stream("What is the retry limit?", provider=provider)),
        events_async(p, provider=provider),
    ):
        names = [n for n, _ in events]
        assert names[0] == "citations" and names[-1] == "done"
        assert set(names[1:-1]) == {"delta"}
        assert events[0][1][0]["chunk_id"] == 7
        assert "".join(item for n, item in events if n == "delta") == TEXT
        same(events[-1][1], asked)
    assert gens[provider].calls[0] == "generate"  # ask calls it whole, the streams stream


def test_an_awaitable_generator_is_awaited_with_the_callers_slot() -> None:
    p, gens = pipeline()
    events_async(p, provider="awaited", slot="slot-1")
    assert gens["awaited"].calls == ["astream slot=slot-1"]


def test_a_structured_reply_is_sent_once_after_verification() -> None:
    p, _ = pipeline()
    deltas = [i for n, i in p.ask_stream("q?", provider="silent") if n == "delta"]
    assert deltas == [TEXT]


def test_an_abstention_calls_no_generator_on_any_path() -> None:
    p, gens = pipeline(answerable=False)
    asked = p.ask("What is the retry limit?")
    assert (asked.answerable, asked.answer, asked.reason) == (
        False,
        ABSTAIN_ANSWER,
        "prompt_injection",
    )
    for events in (list(p.ask_stream("What is the retry limit?")), events_async(p)):
        assert [n for n, _ in events] == ["citations", "delta", "done"]
        assert events[0][1] == [] and events[1][1] == ABSTAIN_ANSWER
        same(events[-1][1], asked)
    assert all(g.calls == [] for g in gens.values())


def test_closing_the_async_stream_early_closes_the_flow() -> None:
    p, _ = pipeline()

    async def first_only() -> tuple[str, Any]:
        stream = p.ask_stream_async("What is the retry limit?", provider="awaited")
        first = await stream.__anext__()
        await stream.aclose()
        return first

    assert asyncio.run(first_only())[0] == "citations"
