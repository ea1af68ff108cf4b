"""The ask path: retrieve → rerank → grounding gate → generate → verify citations."""

from __future__ import annotations

import time
from collections import abc
from collections.abc import AsyncGenerator, Iterator
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
        analysis = analyze(shape, retrieval.terms, evidence=[c.text for c in retrieval.candidates])
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

    def flow(
        self,
        question: str,
        *,
        top_k: int | None = None,
        provider: str | None = None,
        conversation: Conversation | None = None,
        slot: Any = None,
    ) -> Flow:
        """The ask path, written once: validate → stand-alone question → retrieve and rank →
        gate → generate → verify. Yields the events a client sees (`citations`, `delta`...,
        `done` with the AskResult) and, when the generator is to be called, one
        `GenerateCall` whose `Generated` the driver sends back: `ask`, `ask_stream` and
        `ask_stream_async` differ only in how they call the generator (whole, streamed, or
        awaited on the event loop) and in where the other steps run."""
        asked = validate_question(question, self.max_question_chars)
        gen = self.generator(provider)
        searched = self.standalone(asked, conversation, gen, slot)
        t_start = time.perf_counter()
        ev = self.gather(searched, top_k or self.passages_for(gen))
        if (stop := self.calls_generator(ev, gen)) is not None:
            result = self._abstain(ev, gen.name, None, stop)
            yield "citations", []
            yield "delta", result.answer
        else:
            yield "citations", offered(ev.passages)
            t0 = time.perf_counter()
            generated = yield GenerateCall(gen, searched, ev.passages, generator_inputs(gen, ev))
            if generated is None:
                raise RuntimeError("the ask flow's driver sent no draft back")
            result = self.finish(ev, gen, generated.draft, t0)
            if not generated.streamed:  # a structured reply (JSON) is shown once verified
                yield "delta", result.answer
        result.timings_ms["total"] = _ms(t_start)
        self.tracer.decision(result.answerable, result.reason)
        self.in_conversation(result, conversation, asked, searched)
        yield "done", result

    def _generate(
        self, call: GenerateCall, *, stream: bool
    ) -> abc.Generator[Event, None, Generated]:
        """The generator called in this thread: whole (`ask`) or streamed (`ask_stream`)."""
        collected = DraftCollector()
        with self.tracer.generation(call.gen.name, call.passages) as span:
            if stream:
                for item in call.gen.stream(call.question, call.passages, **call.inputs):
                    if (delta := collected.take(item)) is not None:
                        yield "delta", delta
            else:
                collected.take(call.gen.generate(call.question, call.passages, **call.inputs))
            if collected.draft is not None:
                span.update(**traced(collected.draft))
        return collected.generated()

    def _drive(self, flow: Flow, *, stream: bool) -> Iterator[Event]:
        reply: Generated | None = None
        while (step := advance(flow, reply)) is not None:
            reply = None
            if isinstance(step, GenerateCall):
                reply = yield from self._generate(step, stream=stream)
            else:
                yield step

    def ask(
        self,
        question: str,
        *,
        top_k: int | None = None,
        provider: str | None = None,
        conversation: Conversation | None = None,
    ) -> AskResult:
        """The flow with the generator called whole; its `done` event's result."""
        flow = self.flow(question, top_k=top_k, provider=provider, conversation=conversation)
        for name, item in self._drive(flow, stream=False):
            if name == "done" and isinstance(item, AskResult):
                return item
        raise RuntimeError("the ask flow ended without a result")

    def ask_stream(
        self,
        question: str,
        *,
        top_k: int | None = None,
        provider: str | None = None,
        conversation: Conversation | None = None,
    ) -> Iterator[Event]:
        """Events: ('citations', passages offered), ('delta', text)..., ('done', AskResult)."""
        flow = self.flow(question, top_k=top_k, provider=provider, conversation=conversation)
        return self._drive(flow, stream=True)

    async def ask_stream_async(
        self,
        question: str,
        *,
        top_k: int | None = None,
        provider: str | None = None,
        slot: Any = None,
        conversation: Conversation | None = None,
    ) -> AsyncGenerator[Event, None]:
        """`ask_stream` for the event loop: the flow's steps run in a worker thread (they read
        the database and use the CPU); an LLM is awaited on its async client, so closing this
        iterator (the HTTP client went away) cancels the upstream call. `slot` is an
        upstream-call slot the caller reserved (RAG_LLM_MAX_CONCURRENCY)."""
        flow = self.flow(
            question, top_k=top_k, provider=provider, conversation=conversation, slot=slot
        )
        reply: Generated | None = None
        try:
            while (step := await anyio.to_thread.run_sync(advance, flow, reply)) is not None:
                reply = None
                if not isinstance(step, GenerateCall):
                    yield step
                    continue
                astream = getattr(step.gen, "astream", None)
                if astream is None:  # no I/O to cancel (extractive): streamed in a thread
                    deltas, reply = await anyio.to_thread.run_sync(
                        drain, self._generate(step, stream=True)
                    )
                    for event in deltas:
                        yield event
                    continue
                collected = DraftCollector()
                with self.tracer.generation(step.gen.name, step.passages) as span:
                    async for item in astream(
                        step.question, step.passages, slot=slot, **step.inputs
                    ):
                        if (delta := collected.take(item)) is not None:
                            yield "delta", delta
                    if collected.draft is not None:
                        span.update(**traced(collected.draft))
                reply = collected.generated()
        finally:
            flow.close()


Event = tuple[str, Any]


@dataclass
class GenerateCall:
    """The flow's request to its driver: call this generator on these passages."""

    gen: Generator
    question: str
    passages: list[Passage]
    inputs: dict[str, Any]


@dataclass
class Generated:
    """The driver's answer to a GenerateCall: the draft, and whether its text was already
    sent as deltas (a structured reply is not: its verified answer is sent once)."""

    draft: Draft
    streamed: bool


Flow = abc.Generator[Event | GenerateCall, Generated | None, None]


class DraftCollector:
    """Reads a generator's stream: text pieces are deltas to pass on, a Draft is the end."""

    def __init__(self) -> None:
        self.draft: Draft | None = None
        self.streamed = False

    def take(self, item: str | Draft) -> str | None:
        """The delta to pass on, or None when `item` is the final Draft."""
        if isinstance(item, Draft):
            self.draft = item
            return None
        self.streamed = True
        return item

    def generated(self) -> Generated:
        """A stream that ended without a Draft is an abstention."""
        draft = self.draft or Draft(text="", citations=[], abstained=True)
        return Generated(draft, self.streamed)


def advance(flow: Flow, reply: Generated | None) -> Event | GenerateCall | None:
    """The flow's next step (None when it has finished); a function so that a worker thread
    can run it (StopIteration cannot cross `await`)."""
    try:
        return flow.send(reply)
    except StopIteration:
        return None


def drain(steps: abc.Generator[Event, None, Generated]) -> tuple[list[Event], Generated]:
    """Run a generation to its end: the events it yielded and what it returned."""
    events: list[Event] = []
    while True:
        try:
            events.append(next(steps))
        except StopIteration as stop:
            return events, stop.value


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
