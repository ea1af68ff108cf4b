"""The ask path: retrieve → rerank → grounding gate → generate → verify citations."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from rag_service.analysis import DomainProfile, QueryAnalysis, analyze, question_shape
from rag_service.analysis.followup import keeps_terms, rewrite_followup
from rag_service.conversations import Conversation
from rag_service.core.errors import InvalidInput, ProviderNotConfigured, RagError
from rag_service.generation.base import ABSTAIN_ANSWER, Draft, Generator, Passage
from rag_service.generation.citations import Verification, verify_reply
from rag_service.generation.grounding import CitationVerifier, VerifiedCitation
from rag_service.ranking.selector import CalibratedGate, GateDecision, LearnedSelector
from rag_service.retrieval.rerank import Reranker
from rag_service.retrieval.search import HybridRetriever
from rag_service.retrieval.types import Candidate, Retrieval
from rag_service.tracing import Tracer


@dataclass
class Evidence:
    analysis: QueryAnalysis
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
    verification: dict[str, Any] | None = None  # claims / verified / dropped (LLM replies)
    cost_usd: float | None = None  # estimated, from usage and the model's price
    conversation_id: str | None = None  # asked in a conversation: its id
    standalone_question: str | None = None  # ... and the question as searched
    rewrite: str | None = None  # ... by which follow-up rule (analysis.followup)

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
            "verification": self.verification,
            "cost_usd": self.cost_usd,
            "conversation_id": self.conversation_id,
            "standalone_question": self.standalone_question,
            "rewrite": self.rewrite,
        }


LLM_PASSAGES = 8


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


class RagPipeline:
    def __init__(
        self,
        retriever: HybridRetriever,
        selector: LearnedSelector,
        gate: CalibratedGate,
        verifier: CitationVerifier,
        generators: dict[str, Generator],
        *,
        default_provider: str,
        top_k: int,
        max_question_chars: int = 1000,
        tracer: Tracer | None = None,
        profile: DomainProfile | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        """`reranker`, when given (a cross-encoder, say), reorders the answer units the
        generator reads; the calibrated gate still reads the learned selector's scores."""
        if default_provider not in generators:
            raise ProviderNotConfigured(
                f"RAG_PROVIDER={default_provider!r} is not configured; available: "
                + ", ".join(sorted(generators))
            )
        self.retriever = retriever
        self.selector = selector
        self.reranker = reranker
        self.profile = profile or DomainProfile()
        self.gate = gate
        self.verifier = verifier
        self.generators = generators
        self.default_provider = default_provider
        self.top_k = top_k
        self.max_question_chars = max_question_chars
        self.tracer = tracer or Tracer.disabled()

    def passages_for(self, gen: Generator) -> int:
        """How many passages a generator reads by default: a language model reads more than
        the extractive generator picks from (LLM_PASSAGES), at little cost per passage."""
        return self.top_k if gen.name == "extractive" else max(self.top_k, LLM_PASSAGES)

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
        shape = question_shape(question, profile=self.profile)
        with self.tracer.span("retrieve", input={"query": question, "k": k}) as span:
            retrieval = retrieve_for(self.retriever, shape, k)
            span.update(
                output=[
                    {"chunk_id": c.chunk_id, "fused": round(c.fused, 5)}
                    for c in retrieval.candidates
                ]
            )
        analysis = analyze(shape, retrieval.terms)
        timings["retrieve"] = _ms(t0)
        timings.update({f"retrieve_{stage}": ms for stage, ms in retrieval.timings_ms.items()})
        t0 = time.perf_counter()
        with self.tracer.span("rerank", input={"reranker": self.selector.name}) as span:
            ranking = self.selector.rank(analysis, retrieval)
            decision = self.gate.decide(analysis, retrieval, ranking)
            ranked = ranking.candidates
            if self.reranker is not None:
                ranked = self.reranker.rerank(retrieval)
            span.update(
                output=[{"chunk_id": c.chunk_id, "score": round(c.score, 4)} for c in ranked[:k]],
                metadata={
                    "answerable": decision.answerable,
                    "reason": decision.reason,
                    "gate_probability": decision.score,
                    "coverage": decision.coverage,
                    "answer_type": analysis.answer_type,
                    "unknown_entities": list(analysis.unknown_entities),
                },
            )
        timings["rerank"] = _ms(t0)
        return Evidence(analysis, retrieval, ranked, passages_of(ranked, k), decision, timings)

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
        """Verify an LLM's reply claim by claim (unverified claims are dropped from the
        answer) and every citation against the stored text; abstain if the model did or
        nothing survives."""
        ev.timings_ms["generate"] = _ms(t0)
        t1 = time.perf_counter()
        checked: Verification | None = None
        if draft.abstained:
            result = self._abstain(ev, gen.name, draft.model, "generator_abstained", draft.usage)
        elif draft.reply is None:  # verbatim passage text (extractive): citations only
            cites = self.verifier.verify(draft.citations, ev.passages)
            result = AskResult(
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
        else:
            with self.tracer.span("verify", input={"reply": draft.text, **draft.meta}) as span:
                checked = verify_reply(draft.reply, ev.passages)
                cites = self.verifier.verify(checked.citations, ev.passages)
                checked.confirm({(c.chunk_id, c.start, c.end) for c in cites})
                span.update(output=checked.summary(), metadata={"dropped": checked.dropped()})
            reason = "generator_abstained" if checked.refused else "unsupported_claims"
            result = (
                AskResult(
                    checked.answer,
                    True,
                    cites,
                    gen.name,
                    draft.model,
                    "supported",
                    draft.usage,
                    ev.timings_ms,
                    ev,
                )
                if checked.verified
                else self._abstain(ev, gen.name, draft.model, reason, draft.usage)
            )
        ev.timings_ms["verify"] = _ms(t1)
        if result.answerable and not result.citations:
            result = self._abstain(ev, gen.name, draft.model, "no_verified_citation", draft.usage)
        result.verification = checked.summary() if checked else None
        result.cost_usd = draft.cost_usd
        return result

    def calls_generator(self, ev: Evidence, gen: Generator) -> str | None:
        """None when the generator is to be called, else the abstention's reason. The offline
        gate decides for the extractive generator. An LLM is called unless the question is a
        prompt injection, nothing was retrieved, or the best unit's relevance is under the
        LLM's cheap floor (RAG_LLM_MIN_RELEVANCE): the claim verifier decides what ships."""
        d = ev.decision
        if d.answerable:
            return None
        if gen.name == "extractive" or d.reason in ("prompt_injection", "no_evidence"):
            return d.reason
        best = ev.ranked[0].score if ev.ranked else 0.0
        return "low_retrieval" if best < getattr(gen, "min_relevance", 0.0) else None

    def standalone(
        self,
        question: str,
        conversation: Conversation | None,
        gen: Generator | None = None,
        slot: Any = None,
    ) -> str:
        """In a conversation, a follow-up as the stand-alone question it stands for: rewritten
        offline from the earlier turns' analyses, or, when the generator is a language model
        (it has `condense`), by that model, kept only if it keeps the follow-up's own terms.
        Otherwise (no conversation, no earlier turn) the question itself."""
        if conversation is None:
            return question
        previous = conversation.previous[-3:]
        shapes = [question_shape(q, profile=self.profile) for q in previous]
        rewrite = rewrite_followup(question, shapes, profile=self.profile)
        offline = rewrite.standalone
        if len(offline) > self.max_question_chars:
            offline = question
        condense = getattr(gen, "condense", None)
        if condense is None or not previous:
            return offline
        with self.tracer.span(
            "condense", input={"question": question, "previous": previous}
        ) as span:
            meta: dict[str, Any] = {"provider": getattr(gen, "name", None), "offline": offline}
            try:
                got = condense(question, previous, slot=slot)
            except RagError as exc:  # an upstream error or timeout: the offline rewrite
                span.update(output=offline, metadata={**meta, "accepted": False, "error": exc.code})
                return offline
            ok = keeps_terms(question, got.text) and len(got.text) <= self.max_question_chars
            meta.update(
                condensed=got.text,
                accepted=ok,
                model=got.model,
                usage=got.usage,
                cost_usd=got.cost_usd,
                prompt_version=got.prompt_version,
            )
            span.update(output=got.text if ok else offline, metadata=meta)
        return got.text if ok else offline

    @staticmethod
    def in_conversation(
        result: AskResult, conversation: Conversation | None, asked: str, searched: str
    ) -> None:
        if conversation is not None:
            result.conversation_id = conversation.id
            result.standalone_question = searched
            result.rewrite = "standalone" if searched == asked else "followup"

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        provider: str | None = None,
        conversation: Conversation | None = None,
    ) -> AskResult:
        asked = validate_question(question, self.max_question_chars)
        gen = self.generator(provider)
        question = self.standalone(asked, conversation, gen)
        t_start = time.perf_counter()
        ev = self.gather(question, top_k or self.passages_for(gen))
        if (stop := self.calls_generator(ev, gen)) is not None:
            result = self._abstain(ev, gen.name, None, stop)
        else:
            t0 = time.perf_counter()
            with self.tracer.generation(gen.name, ev.passages) as span:
                draft = gen.generate(question, ev.passages, **generator_inputs(gen, ev))
                span.update(**traced(draft))
            result = self.finish(ev, gen, draft, t0)
        result.timings_ms["total"] = _ms(t_start)
        self.tracer.decision(result.answerable, result.reason)
        self.in_conversation(result, conversation, asked, question)
        return result

    def ask_stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        provider: str | None = None,
        conversation: Conversation | None = None,
    ) -> Iterator[tuple[str, Any]]:
        """Events: ('citations', passages offered), ('delta', text)..., ('done', AskResult)."""
        asked = validate_question(question, self.max_question_chars)
        gen = self.generator(provider)
        question = self.standalone(asked, conversation, gen)
        t_start = time.perf_counter()
        ev = self.gather(question, top_k or self.passages_for(gen))
        if (stop := self.calls_generator(ev, gen)) is not None:
            result = self._abstain(ev, gen.name, None, stop)
            yield "citations", []
            yield "delta", result.answer
        else:
            yield "citations", offered(ev.passages)
            t0 = time.perf_counter()
            draft: Draft | None = None
            streamed = False
            with self.tracer.generation(gen.name, ev.passages) as span:
                for item in gen.stream(question, ev.passages, **generator_inputs(gen, ev)):
                    if isinstance(item, Draft):
                        draft = item
                    else:
                        streamed = True
                        yield "delta", item
                if draft is not None:
                    span.update(**traced(draft))
            if draft is None:
                draft = Draft(text="", citations=[], abstained=True)
            result = self.finish(ev, gen, draft, t0)
            if not streamed:  # a structured reply (JSON) is shown once verified
                yield "delta", result.answer
        result.timings_ms["total"] = _ms(t_start)
        self.tracer.decision(result.answerable, result.reason)
        self.in_conversation(result, conversation, asked, question)
        yield "done", result

    async def ask_stream_async(
        self,
        question: str,
        *,
        top_k: int | None = None,
        provider: str | None = None,
        slot: Any = None,
        conversation: Conversation | None = None,
    ) -> AsyncIterator[tuple[str, Any]]:
        """`ask_stream` for the event loop. An LLM is awaited on its async client, so closing
        this iterator (the HTTP client went away) cancels the upstream call. `slot` is an
        upstream-call slot the caller reserved (RAG_LLM_MAX_CONCURRENCY)."""
        asked = validate_question(question, self.max_question_chars)
        gen = self.generator(provider)
        astream = getattr(gen, "astream", None)
        if astream is None:  # no I/O to cancel (extractive): the synchronous steps, in a thread
            events = await anyio.to_thread.run_sync(
                lambda: list(
                    self.ask_stream(
                        asked, top_k=top_k, provider=provider, conversation=conversation
                    )
                )
            )
            for event in events:
                yield event
            return
        question = await anyio.to_thread.run_sync(self.standalone, asked, conversation, gen, slot)
        t_start = time.perf_counter()
        ev = await anyio.to_thread.run_sync(self.gather, question, top_k or self.passages_for(gen))
        if (stop := self.calls_generator(ev, gen)) is not None:
            result = self._abstain(ev, gen.name, None, stop)
            yield "citations", []
            yield "delta", result.answer
        else:
            yield "citations", offered(ev.passages)
            t0 = time.perf_counter()
            draft: Draft | None = None
            streamed = False
            with self.tracer.generation(gen.name, ev.passages) as span:
                async for item in astream(
                    question, ev.passages, slot=slot, **generator_inputs(gen, ev)
                ):
                    if isinstance(item, Draft):
                        draft = item
                    else:
                        streamed = True
                        yield "delta", item
                if draft is not None:
                    span.update(**traced(draft))
            draft = draft or Draft(text="", citations=[], abstained=True)
            result = await anyio.to_thread.run_sync(self.finish, ev, gen, draft, t0)
            if not streamed:
                yield "delta", result.answer
        result.timings_ms["total"] = _ms(t_start)
        self.tracer.decision(result.answerable, result.reason)
        self.in_conversation(result, conversation, asked, question)
        yield "done", result


def offered(passages: list[Passage]) -> list[dict[str, Any]]:
    """The stream's first event: the passages given to the generator."""
    return [
        {
            "document": p.document,
            "chunk_id": p.chunk_id,
            "n": p.n,
            "start": p.start,
            "end": p.end,
            "score": round(p.score, 4),
        }
        for p in passages
    ]


def traced(draft: Draft) -> dict[str, Any]:
    """What the trace's generation records: reply, model, usage, cost, prompt version."""
    return {
        "output": draft.text,
        "model": draft.model,
        "usage": draft.usage,
        "cost_usd": draft.cost_usd,
        "metadata": draft.meta or None,
    }


def retrieve_for(retriever: HybridRetriever, shape: QueryAnalysis, k: int) -> Retrieval:
    """Retrieve for an analysed question: synonyms searched, each side or part on its own."""
    return retriever.retrieve(
        shape.question,
        max(k, retriever.n_candidates),
        search_text=shape.search_text,
        parts=shape.sides or shape.parts,
    )


def passages_of(ranked: list[Candidate], k: int) -> list[Passage]:
    """The top `k` chunks, numbered from 1, as generators read them."""
    return [
        Passage(
            i + 1,
            c.chunk_id,
            c.source,
            c.heading,
            c.text,
            c.start,
            c.end,
            c.score,
            c.units,
            c.title,
        )
        for i, c in enumerate(ranked[:k])
    ]


def generator_inputs(gen: Generator, ev: Evidence) -> dict[str, Any]:
    """What a generator reads beside the passages: the extractive one reads the analysis."""
    inputs: dict[str, Any] = {"term_weights": ev.analysis.terms}
    if gen.name == "extractive":
        inputs["analysis"] = ev.analysis
    return inputs


def validate_question(question: str, max_chars: int) -> str:
    question = question.strip()
    if not question:
        raise InvalidInput("question must not be empty")
    if len(question) > max_chars:
        raise InvalidInput(f"question is {len(question)} characters; the limit is {max_chars}")
    return question
