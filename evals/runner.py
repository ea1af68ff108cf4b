"""Runs labelled questions through the same pipeline the API serves, in-process."""

from __future__ import annotations

import time
from collections.abc import Callable

from evals.dataset import Row, cites_source
from evals.metrics import QuestionResult, answer_matches, supports
from evals.ragas_metrics import RagasScorer
from rag_service.pipeline import RagPipeline


def gold_contexts(pipeline: RagPipeline, evidence: list[str]) -> list[str]:
    """The indexed chunks that contain a labelled evidence quote: RAGAS' reference contexts."""
    with pipeline.retriever.db.connection() as conn:
        rows = conn.execute(
            "SELECT DISTINCT c.text FROM chunks c, unnest(%s::text[]) AS e(q)"
            " WHERE strpos(c.text, e.q) > 0",
            (evidence,),
        ).fetchall()
        conn.commit()
    return [r[0] for r in rows]


def evaluate_row(
    pipeline: RagPipeline,
    row: Row,
    *,
    provider: str | None = None,
    top_k: int | None = None,
    scorer: RagasScorer | None = None,
    tags: dict[str, str] | None = None,
) -> QuestionResult:
    t0 = time.perf_counter()
    with pipeline.tracer.request("eval", row.question, tags=tags or {}) as trace:
        result = pipeline.ask(row.question, top_k=top_k, provider=provider)
        latency = (time.perf_counter() - t0) * 1000
        ev = result.evidence
        passages = ev.passages if ev else []
        ranked = ev.ranked if ev else []
        cited_docs = sorted({c.document for c in result.citations})
        content_ok = cited_ok = recall = None
        rr: float | None = None
        ragas: dict[str, float] = {}
        if row.answerable:
            content_ok = answer_matches(result.answer, row.expect)
            cited_ok = cites_source(cited_docs, row.sources)
            ok = result.answerable and content_ok
            rank = next((i for i, c in enumerate(ranked) if supports(c.text, row.evidence)), None)
            rr = 0.0 if rank is None else 1.0 / (rank + 1)
            recall = rank is not None and rank < len(passages)  # passages are ranked[:k]
            if scorer is not None:
                ragas = scorer.score(
                    question=row.question,
                    answer=result.answer if result.answerable else "",
                    reference=row.reference,
                    contexts=[p.text for p in passages],
                    evidence=gold_contexts(pipeline, row.evidence) or row.evidence,
                )
        else:
            ok = not result.answerable
        trace.score("correct", float(ok))
        for name, value in ragas.items():
            trace.score(name, value)
        result.trace_id = trace.trace_id
    return QuestionResult(
        id=row.id,
        question=row.question,
        answerable=row.answerable,
        said_answerable=result.answerable,
        reason=result.reason,
        answer=result.answer,
        expected=" AND ".join(" | ".join(g) for g in row.expect) if row.answerable else "(abstain)",
        ok=ok,
        content_ok=content_ok,
        cited_ok=cited_ok,
        cited=cited_docs,
        recall_at_k=recall,
        reciprocal_rank=rr,
        latency_ms=round(latency, 2),
        ragas=ragas,
        trace_id=result.trace_id,
    )


def evaluate(
    pipeline: RagPipeline,
    rows: list[Row],
    *,
    provider: str | None = None,
    top_k: int | None = None,
    scorer: RagasScorer | None = None,
    tags: dict[str, str] | None = None,
    progress: Callable[[QuestionResult], None] | None = None,
) -> list[QuestionResult]:
    results = []
    for row in rows:
        r = evaluate_row(pipeline, row, provider=provider, top_k=top_k, scorer=scorer, tags=tags)
        results.append(r)
        if progress:
            progress(r)
    return results
