"""JUnit XML and the Markdown summary of an eval run (evals/ci.py): what a CI shows."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from evals.ci import junit_xml, summary_markdown, write_summary
from evals.gate import compare
from evals.metrics import QuestionResult


def result(qid: str, ok: bool) -> QuestionResult:
    return QuestionResult(
        id=qid,
        question=f"question {qid}?",
        answerable=True,
        said_answerable=True,
        reason="supported",
        answer="The rate is 5." if ok else "The rate is 9.",
        expected="5",
        ok=ok,
        content_ok=ok,
        cited_ok=ok,
        cited=["corpus/a.txt"],
        recall_at_k=True,
        reciprocal_rank=1.0,
        latency_ms=12.0,
    )


RESULTS = [result("q1", True), result("q2", False), result("q3", False)]
SUMMARY = {
    "questions": 3,
    "answer_accuracy": 1 / 3,
    "citation_accuracy": 1 / 3,
    "latency_p50_ms": 12.0,
}
# q2 was right before (flipped: a regression), q3 was wrong before too (a known miss)
BASELINE = {
    "metrics": {"answer_accuracy": 2 / 3, "citation_accuracy": 1 / 3},
    "questions": {"q1": True, "q2": True, "q3": False},
}


def cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {tc.get("name"): tc for tc in root.iter("testcase")}


def test_gated_junit_fails_the_flipped_question_and_the_regressed_metric_only() -> None:
    verdict = compare(BASELINE, SUMMARY, RESULTS)
    xml = junit_xml("run-1", {"dev": (RESULTS, SUMMARY)}, {"dev": verdict})
    root = ET.fromstring(xml)
    by_name = cases(xml)
    assert by_name["q1: question q1?"].find("failure") is None
    failure = by_name["q2: question q2?"].find("failure")
    assert failure is not None and "flipped" in failure.get("message")
    assert "The rate is 9." in failure.text
    assert by_name["q3: question q3?"].find("skipped") is not None
    assert by_name["metric answer_accuracy"].find("failure") is not None
    assert by_name["metric citation_accuracy"].find("failure") is None
    assert "metric latency_p50_ms" not in by_name  # reported, never gated
    assert "metric questions" not in by_name
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("5", "2", "1")
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("5", "2", "1")


def test_ungated_junit_fails_every_wrong_answer() -> None:
    xml = junit_xml("run-1", {"dev": (RESULTS, SUMMARY)})
    failed = [n for n, tc in cases(xml).items() if tc.find("failure") is not None]
    assert failed == ["q2: question q2?", "q3: question q3?"]


def test_a_set_missing_from_the_baseline_is_a_failing_case() -> None:
    from evals.gate import compare_set

    verdict = compare_set({"sets": {}}, "mine", SUMMARY, RESULTS)
    xml = junit_xml("run-1", {"mine": (RESULTS, SUMMARY)}, {"mine": verdict})
    assert any(
        "not in the baseline" in n for n, tc in cases(xml).items() if tc.find("failure") is not None
    )


def test_summary_says_pass_or_fail_and_names_what_regressed(tmp_path, monkeypatch) -> None:
    bad = compare(BASELINE, SUMMARY, RESULTS)
    good = compare({**BASELINE, "metrics": {}, "questions": {}}, SUMMARY, RESULTS)
    text = summary_markdown("run-1", {"dev": (RESULTS, SUMMARY)}, {"dev": bad})
    assert text.startswith("## rag-eval `run-1`: FAIL")
    assert "| dev | 3 | 0.3333 |" in text and "**FAIL**" in text
    assert "flipped to wrong: q2" in text and "regressed answer_accuracy" in text
    passing = summary_markdown("run-1", {"dev": (RESULTS, SUMMARY)}, {"dev": good})
    assert passing.startswith("## rag-eval `run-1`: PASS")

    step = tmp_path / "step-summary.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    written = write_summary(text, tmp_path / "out" / "summary.md")
    assert written == [tmp_path / "out" / "summary.md", step]
    assert (tmp_path / "out" / "summary.md").read_text() == text
    assert step.read_text() == "earlier step\n" + text  # appended, as Actions expects
