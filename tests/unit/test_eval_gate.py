"""The eval regression gate's comparison (evals.gate): what counts as a regression."""

from __future__ import annotations

from evals.gate import (
    DEFAULT_TOLERANCES,
    compare,
    compare_set,
    make_baseline,
    merged_baseline,
)
from evals.metrics import QuestionResult


def result(qid: str, ok: bool) -> QuestionResult:
    return QuestionResult(
        id=qid,
        question="q",
        answerable=True,
        said_answerable=ok,
        reason="supported",
        answer="a",
        expected="a",
        ok=ok,
        content_ok=ok,
        cited_ok=ok,
        cited=[],
        recall_at_k=ok,
        reciprocal_rank=1.0,
        latency_ms=1.0,
    )


BASE = {
    "tolerances": {"answer_accuracy": 0.01},
    "metrics": {"answer_accuracy": 0.80, "false_abstention_rate": 0.10},
    "questions": {"q1": True, "q2": False, "q3": True},
}


def test_equal_or_better_passes() -> None:
    verdict = compare(BASE, {"answer_accuracy": 0.85, "false_abstention_rate": 0.05}, [])
    assert verdict.passed and verdict.regressions == []


def test_a_drop_beyond_the_tolerance_fails_and_within_it_passes() -> None:
    assert compare(BASE, {"answer_accuracy": 0.795, "false_abstention_rate": 0.1}, []).passed
    verdict = compare(BASE, {"answer_accuracy": 0.78, "false_abstention_rate": 0.1}, [])
    assert not verdict.passed
    assert verdict.regressions == ["answer_accuracy: 0.8000 -> 0.7800 (tolerance 0.01)"]


def test_lower_is_better_metrics_regress_upwards() -> None:
    tol = DEFAULT_TOLERANCES["false_abstention_rate"]
    assert compare(BASE, {"answer_accuracy": 0.8, "false_abstention_rate": 0.0}, []).passed
    verdict = compare(BASE, {"answer_accuracy": 0.8, "false_abstention_rate": 0.1 + 2 * tol}, [])
    assert not verdict.passed and verdict.regressions[0].startswith("false_abstention_rate")


def test_a_metric_missing_from_the_run_is_a_regression() -> None:
    verdict = compare(BASE, {"answer_accuracy": 0.9}, [])
    assert not verdict.passed
    assert verdict.regressions == ["false_abstention_rate: missing from this run"]


def test_flipped_and_fixed_questions_are_named() -> None:
    runs = [result("q1", False), result("q2", True), result("q3", True), result("new", False)]
    verdict = compare(BASE, {"answer_accuracy": 0.8, "false_abstention_rate": 0.1}, runs)
    assert verdict.flipped == ["q1"] and verdict.fixed == ["q2"]
    assert "questions that flipped to wrong: q1" in verdict.lines()


def test_a_set_the_baseline_does_not_know_fails() -> None:
    baseline = {"tolerances": {}, "sets": {"dev": BASE}}
    summary = {"answer_accuracy": 0.8, "false_abstention_rate": 0.1}
    assert compare_set(baseline, "dev", summary, []).passed
    verdict = compare_set(baseline, "other", {}, [])
    assert not verdict.passed and "not in the baseline" in verdict.regressions[0]


def test_a_baseline_round_trips_and_merging_keeps_sets_not_run() -> None:
    summary = dict.fromkeys(DEFAULT_TOLERANCES, 0.5)
    made = make_baseline({"dev": ([result("q1", True)], summary)})
    assert made["sets"]["dev"]["questions"] == {"q1": True}
    assert compare_set(made, "dev", summary, [result("q1", True)]).passed
    old = {"tolerances": {"mrr": 0.5}, "sets": {"held": {"metrics": {}}, "dev": {}}}
    merged = merged_baseline(old, made)
    assert merged["sets"]["held"] == {"metrics": {}}
    assert merged["sets"]["dev"] == made["sets"]["dev"]
    assert merged["tolerances"]["mrr"] == DEFAULT_TOLERANCES["mrr"]
