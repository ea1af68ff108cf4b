"""The evaluation suite: determinism, the regression gate, the CLI and its reports."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from evals.dataset import DEFAULT_DATASETS, load_dataset
from evals.gate import compare_set, load_baseline
from evals.metrics import QUALITY_METRICS, summarize
from evals.ragas_metrics import RagasScorer
from evals.runner import evaluate
from rag_service.retrieval.search import HybridRetriever, Retrieval


def rows():
    return [r for p in DEFAULT_DATASETS for r in load_dataset(p)]


def test_offline_runs_are_deterministic(services) -> None:
    scorer = RagasScorer()
    first = evaluate(services.pipeline, rows(), scorer=scorer)
    second = evaluate(services.pipeline, rows(), scorer=scorer)
    strip = lambda rs: [{**r.to_dict(), "latency_ms": 0} for r in rs]  # noqa: E731
    assert strip(first) == strip(second)
    a, b = summarize(first), summarize(second)
    assert {k: v for k, v in a.items() if "latency" not in k} == {
        k: v for k, v in b.items() if "latency" not in k
    }


def test_the_committed_baseline_passes_the_gate(services) -> None:
    results = evaluate(services.pipeline, rows())
    verdict = compare_set(load_baseline(), "bundled", summarize(results), results)
    assert verdict.passed, verdict.lines()
    assert set(load_baseline()["sets"]["bundled"]["metrics"]) == set(QUALITY_METRICS)


def test_every_labelled_set_is_in_the_committed_baseline() -> None:
    from evals.sets import discover

    sets = {s.name for s in discover()}
    assert {"bundled", "rfc", "rst", "markdown", "html", "pdf"} <= sets
    assert sets | {"dialogues"} == set(load_baseline()["sets"])  # + the multi-turn set


class ScrambledRetriever(HybridRetriever):
    """A deliberately broken retriever: searches for the question's words in reverse order
    with the last word dropped, so the evidence it returns no longer fits the question."""

    def retrieve(self, question: str, k: int, search_text=None, parts=()) -> Retrieval:
        broken = " ".join(reversed(question.split()[:-1])) or question
        retrieval = super().retrieve(broken, k)
        retrieval.candidates = retrieval.candidates[::-1]
        retrieval.question = question
        return retrieval


def test_a_broken_retriever_fails_the_gate(services, settings) -> None:
    from rag_service.services import build_pipeline

    broken = build_pipeline(
        settings,
        services.db,
        services.embedder,
        retriever=ScrambledRetriever(services.db, services.embedder, candidates=3),
    )
    results = evaluate(broken, rows())
    verdict = compare_set(load_baseline(), "bundled", summarize(results), results)
    assert not verdict.passed
    text = "\n".join(verdict.lines())
    assert "answer_accuracy" in text
    assert verdict.flipped and "questions that flipped to wrong" in text


def test_cli_prints_writes_reports_and_gates(services, tmp_path: Path, monkeypatch) -> None:
    from evals.cli import app
    from rag_service.core.config import get_settings

    monkeypatch.setenv("DATABASE_URL", services.db.url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "reports"
        dev = Path(DEFAULT_DATASETS[0])
        baseline = tmp_path / "baseline.json"
        made = CliRunner().invoke(
            app,
            [
                "run",
                "-d",
                str(dev),
                "--out",
                str(out),
                "--update-baseline",
                "--baseline",
                str(baseline),
                "--run-name",
                "t1",
            ],
        )
        assert made.exit_code == 0, made.output
        assert "answer_accuracy" in made.output and "ragas_nonllm_context_recall" in made.output
        gated = CliRunner().invoke(
            app, ["run", "-d", str(dev), "--out", str(out), "--gate", "--baseline", str(baseline)]
        )
        assert gated.exit_code == 0, gated.output
        assert "PASS" in gated.output
        report = json.loads((out / "report.json").read_text())["sets"]["dev"]
        assert report["summary"]["answer_accuracy"] >= 0.6
        assert "truthfulness" in report["summary"]
        assert len(report["results"]) == len(load_dataset(dev))
        md = (out / "report.md").read_text()
        assert "## Misses" in md and "## Gate" in md
        # a stricter baseline than reality: the gate names the metric and exits 1
        body = json.loads(baseline.read_text())
        entry = body["sets"]["dev"]
        entry["metrics"]["answer_accuracy"] = 1.0
        entry["questions"] = {k: True for k in entry["questions"]}
        baseline.write_text(json.dumps(body))
        failed = CliRunner().invoke(
            app, ["run", "-d", str(dev), "--out", str(out), "--gate", "--baseline", str(baseline)]
        )
        assert failed.exit_code == 1
        assert "regressed answer_accuracy" in failed.output
        assert "flipped to wrong" in failed.output
    finally:
        get_settings.cache_clear()
