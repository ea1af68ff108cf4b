"""Eval runs as Langfuse dataset runs: each labelled set is a Langfuse dataset (`rag-eval/<set>`,
one item per question, upserted by a stable id), and each `rag-eval run` is one run on it, named
after the run, with every question's scores and the set's metrics as run-level scores. Runs of
the same set then line up in Langfuse's dataset view, question by question.

The run goes through the SDK's own experiment runner (`run_experiment` on the dataset's items),
so Langfuse links items, traces and scores the way its UI expects. The questions were already
answered by the pipeline; the experiment's task hands back each recorded answer, it does not ask
again (a second pass could differ from the gated one).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from evals.dataset import Row
from evals.metrics import QuestionResult
from rag_service.core.config import Settings

log = logging.getLogger(__name__)

DATASET_PREFIX = "rag-eval/"


def langfuse_configured(settings: Settings) -> bool:
    """The same switch as tracing: both keys set and tracing not turned off."""
    return bool(
        settings.langfuse_public_key
        and settings.langfuse_secret_key
        and settings.langfuse_tracing_enabled
    )


def item_id(dataset: str, row_id: str) -> str:
    """Langfuse item ids are global across datasets: the dataset's name goes in."""
    return f"{dataset}:{row_id}"


def _question_scores(r: QuestionResult) -> list[tuple[str, float]]:
    scores = [("correct", float(r.ok)), ("latency_ms", r.latency_ms)]
    if r.cited_ok is not None:
        scores.append(("cited_ok", float(r.cited_ok)))
    if r.reciprocal_rank is not None:
        scores.append(("reciprocal_rank", r.reciprocal_rank))
    if r.recall_at_k is not None:
        scores.append(("recall_at_k", float(r.recall_at_k)))
    scores += [(f"ragas_{k}", v) for k, v in r.ragas.items()]
    return scores


def record_dataset_runs(
    settings: Settings,
    run_name: str,
    sets: Mapping[str, tuple[Sequence[Row], Sequence[QuestionResult], Mapping[str, float]]],
    *,
    description: str = "",
) -> dict[str, str]:
    """Record each set's results as a run on its dataset; returns set -> experiment (run) id.
    Raises what the SDK raises (the caller decides whether a failed upload fails the run)."""
    from langfuse import Evaluation, Langfuse

    assert settings.langfuse_public_key and settings.langfuse_secret_key
    client = Langfuse(
        public_key=settings.langfuse_public_key,
        secret_key=settings.langfuse_secret_key.get_secret_value(),
        base_url=settings.langfuse_base_url,
        timeout=settings.langfuse_timeout_s,
        environment=settings.langfuse_environment,
    )
    run_ids: dict[str, str] = {}
    for set_name, (rows, results, summary) in sets.items():
        dataset = DATASET_PREFIX + set_name
        client.create_dataset(name=dataset, description=f"rag-eval labelled set {set_name!r}")
        for row in rows:
            client.create_dataset_item(
                dataset_name=dataset,
                id=item_id(dataset, row.id),
                input={"question": row.question},
                expected_output={
                    "answerable": row.answerable,
                    "reference": row.reference,
                    "expect": row.expect,
                    "sources": row.sources,
                },
                metadata={"row_id": row.id, "type": row.type},
            )
        by_id = {r.id: r for r in results}
        items = [
            item
            for item in client.get_dataset(dataset).items
            if isinstance(item.metadata, dict) and item.metadata.get("row_id") in by_id
        ]

        def answer(
            *, item: Any, _by_id: dict[str, QuestionResult] = by_id, **_: Any
        ) -> dict[str, Any]:
            r = _by_id[item.metadata["row_id"]]
            return {
                "answer": r.answer,
                "answerable": r.said_answerable,
                "reason": r.reason,
                "cited": r.cited,
                "trace_id": r.trace_id,
            }

        def question_scores(
            *, metadata: Any = None, _by_id: dict[str, QuestionResult] = by_id, **_: Any
        ) -> list[Evaluation]:
            r = _by_id[metadata["row_id"]]
            return [Evaluation(name=k, value=v) for k, v in _question_scores(r)]

        def set_scores(*, _summary: Mapping[str, float] = summary, **_: Any) -> list[Evaluation]:
            return [Evaluation(name=k, value=float(v)) for k, v in _summary.items()]

        result = client.run_experiment(
            name=f"rag-eval {set_name}",
            run_name=run_name,
            description=description or None,
            data=items,
            task=answer,
            evaluators=[question_scores],
            run_evaluators=[set_scores],
            max_concurrency=8,
            metadata={"set": set_name, "run": run_name},
        )
        run_ids[set_name] = result.experiment_id
        log.info("langfuse: %s recorded as run %s of %s", set_name, run_name, dataset)
    client.flush()
    return run_ids
