"""The ask path: retrieve → rerank → grounding gate → generate → verify citations."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rag_service.core.errors import InvalidInput, ProviderNotConfigured
from rag_service.generation.base import ABSTAIN_ANSWER, Draft, Generator, Passage
from rag_service.generation.grounding import (
    CitationVerifier,
    GateDecision,
    GroundingGate,
    VerifiedCitation,
)
from rag_service.retrieval.rerank import Reranker, content_terms
from rag_service.retrieval.search import Candidate, HybridRetriever, Retrieval
from rag_service.tracing import Tracer


@dataclass
class Evidence:
    retrieval: Retrieval
    ranked: list[Candidate]
    passages: list[Passage]
    decision: GateDecision
    timings_ms: dict[str, float]


@dataclass
class AskResult:
    answer: str
    answerable: bool
    citations: list[VerifiedCitation]
    provider: str
    model: str | None
    reason: str
    usage: dict[str, int] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    evidence: Evidence | None = None
    trace_id: str | None = None

    def body(self) -> dict[str, Any]:
        """The JSON body of /v1/ask (and of the stream's final `done` event)."""
        return {
            "answer": self.answer,
            "answerable": self.answerable,
            "citations": [c.__dict__ for c in self.citations],
            "usage": self.usage,
            "provider": self.provider,
            "model": self.model,
            "reason": self.reason,
            "confidence": round(self.evidence.decision.score, 4) if self.evidence else None,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
            "trace_id": self.trace_id,
        }


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


class RagPipeline:
    def __init__(
        self,
        retriever: HybridRetriever,
        reranker: Reranker,
        gate: GroundingGate,
        verifier: CitationVerifier,
        generators: dict[str, Generator],
        *,
        default_provider: str,
        top_k: int,
        max_question_chars: int = 1000,
        tracer: Tracer | None = None,
    ) -> None:
        if default_provider not in generators:
            raise ProviderNotConfigured(
                f"RAG_PROVIDER={default_provider!r} is not configured; available: "
                + ", ".join(sorted(generators))
            )
        self.retriever = retriever
        self.reranker = reranker
        self.gate = gate
        self.verifier = verifier
        self.generators = generators
        self.default_provider = default_provider
        self.top_k = top_k
        self.max_question_chars = max_question_chars
        self.tracer = tracer or Tracer.disabled()

    def generator(self, provider: str | None) -> Generator:
        name = provider or self.default_provider
        if name not in self.generators:
            raise ProviderNotConfigured(
                f"provider {name!r} is not configured on this server; available: "
                + ", ".join(sorted(self.generators))
            )
        return self.generators[name]

    def gather(self, question: str, top_k: int | None = None) -> Evidence:
        k = top_k or self.top_k
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        with self.tracer.span("retrieve", input={"query": question, "k": k}) as span:
            retrieval = self.retriever.retrieve(question, max(k, self.retriever.n_candidates))
            span.update(
                output=[
                    {"chunk_id": c.chunk_id, "fused": round(c.fused, 5)}
                    for c in retrieval.candidates
                ]
            )
        timings["retrieve"] = _ms(t0)
        timings.update({f"retrieve_{stage}": ms for stage, ms in retrieval.timings_ms.items()})
        t0 = time.perf_counter()
        with self.tracer.span("rerank", input={"reranker": self.reranker.name}) as span:
            ranked = self.reranker.rerank(retrieval)
            decision = self.gate.decide(retrieval, ranked)
            span.update(
                output=[{"chunk_id": c.chunk_id, "score": round(c.score, 4)} for c in ranked[:k]],
                metadata={
                    "answerable": decision.answerable,
                    "reason": decision.reason,
                    "gate_score": decision.score,
                    "coverage": decision.coverage,
                },
            )
        timings["rerank"] = _ms(t0)
        passages = [
            Passage(
                i + 1, c.chunk_id, c.source, c.heading, c.text, c.start, c.end, c.score, c.units
            )
            for i, c in enumerate(ranked[:k])
        ]
        return Evidence(retrieval, ranked, passages, decision, timings)

    def _abstain(
        self,
        ev: Evidence,
        provider: str,
        model: str | None,
        reason: str,
        usage: dict[str, int] | None = None,
    ) -> AskResult:
        return AskResult(
            ABSTAIN_ANSWER, False, [], provider, model, reason, usage or {}, ev.timings_ms, ev
        )

    def finish(self, ev: Evidence, gen: Generator, draft: Draft, t0: float) -> AskResult:
        """Verify the draft's citations; abstain if the model did or nothing survives."""
        ev.timings_ms["generate"] = _ms(t0)
        t1 = time.perf_counter()
        if draft.abstained:
            return self._abstain(ev, gen.name, draft.model, "generator_abstained", draft.usage)
        cites = self.verifier.verify(draft.citations, ev.passages)
        ev.timings_ms["verify"] = _ms(t1)
        if not cites:
            return self._abstain(ev, gen.name, draft.model, "no_verified_citation", draft.usage)
        return AskResult(
            draft.text,
            True,
            cites,
            gen.name,
            draft.model,
            "supported",
            draft.usage,
            ev.timings_ms,
            ev,
        )

    def ask(
        self, question: str, *, top_k: int | None = None, provider: str | None = None
    ) -> AskResult:
        question = validate_question(question, self.max_question_chars)
        gen = self.generator(provider)
        t_start = time.perf_counter()
        ev = self.gather(question, top_k)
        if not ev.decision.answerable:
            result = self._abstain(ev, gen.name, None, ev.decision.reason)
        else:
            t0 = time.perf_counter()
            with self.tracer.generation(gen.name, ev.passages) as span:
                draft = gen.generate(
                    question, ev.passages, term_weights=content_terms(ev.retrieval.terms)
                )
                span.update(output=draft.text, model=draft.model, usage=draft.usage)
            result = self.finish(ev, gen, draft, t0)
        result.timings_ms["total"] = _ms(t_start)
        self.tracer.decision(result.answerable, result.reason)
        return result

    def ask_stream(
        self, question: str, *, top_k: int | None = None, provider: str | None = None
    ) -> Iterator[tuple[str, Any]]:
        """Events: ('citations', passages offered), ('delta', text)..., ('done', AskResult)."""
        question = validate_question(question, self.max_question_chars)
        gen = self.generator(provider)
        t_start = time.perf_counter()
        ev = self.gather(question, top_k)
        if not ev.decision.answerable:
            result = self._abstain(ev, gen.name, None, ev.decision.reason)
            yield "citations", []
            yield "delta", result.answer
        else:
            yield (
                "citations",
                [
                    {
                        "document": p.document,
                        "chunk_id": p.chunk_id,
                        "n": p.n,
                        "start": p.start,
                        "end": p.end,
                        "score": round(p.score, 4),
                    }
                    for p in ev.passages
                ],
            )
            t0 = time.perf_counter()
            draft: Draft | None = None
            with self.tracer.generation(gen.name, ev.passages) as span:
                for item in gen.stream(
                    question, ev.passages, term_weights=content_terms(ev.retrieval.terms)
                ):
                    if isinstance(item, Draft):
                        draft = item
                    else:
                        yield "delta", item
                if draft is not None:
                    span.update(output=draft.text, model=draft.model, usage=draft.usage)
            if draft is None:
                draft = Draft(text="", citations=[], abstained=True)
            result = self.finish(ev, gen, draft, t0)
        result.timings_ms["total"] = _ms(t_start)
        self.tracer.decision(result.answerable, result.reason)
        yield "done", result


def validate_question(question: str, max_chars: int) -> str:
    question = question.strip()
    if not question:
        raise InvalidInput("question must not be empty")
    if len(question) > max_chars:
        raise InvalidInput(f"question is {len(question)} characters; the limit is {max_chars}")
    return question
