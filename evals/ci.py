"""What a CI system reads from an eval run: JUnit XML (one test case per question and per gated
metric, so a CI's test view names the question that flipped) and a short Markdown summary
(GitHub Actions shows `$GITHUB_STEP_SUMMARY` on the run's page).

With a gate, a question fails only when it flipped from right in the baseline to wrong now; a
question wrong in the baseline too is reported as skipped (a known miss, not a regression), so a
red test is always news. Without a gate every wrong answer fails.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.gate import GateResult
from evals.report import SET_COLUMNS

# set name -> (per-question results, summary metrics)
Outcome = Mapping[str, tuple[Sequence[Any], Mapping[str, float]]]


def junit_xml(run: str, outcome: Outcome, verdicts: Mapping[str, GateResult] | None = None) -> str:
    """The run as JUnit XML: a test suite per set; `verdicts` (set -> gate result) when gated."""
    suites = ET.Element("testsuites", name=f"rag-eval {run}")
    totals = dict.fromkeys(("tests", "failures", "skipped"), 0)
    for set_name, (results, summary) in outcome.items():
        suite = _suite(suites, set_name, results, summary, (verdicts or {}).get(set_name))
        for k in totals:
            totals[k] += int(suite.get(k, "0"))
    for k, v in totals.items():
        suites.set(k, str(v))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode")


def _suite(
    parent: ET.Element,
    set_name: str,
    results: Sequence[Any],
    summary: Mapping[str, float],
    verdict: GateResult | None,
) -> ET.Element:
    suite = ET.SubElement(parent, "testsuite", name=set_name)
    props = ET.SubElement(suite, "properties")
    for k, v in summary.items():
        ET.SubElement(props, "property", name=k, value=f"{v:.4g}")
    counts = dict.fromkeys(("tests", "failures", "skipped"), 0)
    seconds = 0.0

    def case(name: str, secs: float = 0.0) -> ET.Element:
        counts["tests"] += 1
        return ET.SubElement(
            suite, "testcase", classname=f"rag-eval.{set_name}", name=name, time=f"{secs:.3f}"
        )

    def fail(tc: ET.Element, kind: str, message: str, text: str = "") -> None:
        counts["failures"] += 1
        ET.SubElement(tc, "failure", type=kind, message=message).text = text or None

    if verdict is not None:
        regressed = {line.split(":", 1)[0]: line for line in verdict.regressions}
        for metric in sorted(set(summary) | set(regressed)):
            if metric.startswith("latency") or metric == "questions":
                continue  # reported, never gated
            tc = case(f"metric {metric}" if metric in summary else metric)
            if metric in regressed:
                fail(tc, "regression", regressed[metric])
    flipped = set(verdict.flipped) if verdict else set()
    for r in results:
        secs = getattr(r, "latency_ms", 0.0) / 1000
        seconds += secs
        tc = case(f"{r.id}: {getattr(r, 'question', '')}"[:200], secs)
        if r.ok:
            continue
        if verdict is None:
            fail(tc, "wrong-answer", "wrong", _detail(r))
        elif r.id in flipped:
            fail(tc, "wrong-answer", "flipped to wrong (right in the baseline)", _detail(r))
        else:
            counts["skipped"] += 1
            ET.SubElement(tc, "skipped", message="wrong in the baseline too").text = _detail(r)
    for k, v in counts.items():
        suite.set(k, str(v))
    suite.set("errors", "0")
    suite.set("time", f"{seconds:.3f}")
    return suite


def _detail(r: Any) -> str:
    said = "answer" if getattr(r, "said_answerable", True) else "abstain"
    lines = [
        f"expected: {getattr(r, 'expected', '')}",
        f"got ({said}, {getattr(r, 'reason', '')}): {getattr(r, 'answer', '')}",
    ]
    if cited := getattr(r, "cited", None):
        lines.append("cited: " + ", ".join(cited))
    return "\n".join(lines)


def summary_markdown(
    run: str,
    outcome: Outcome,
    verdicts: Mapping[str, GateResult] | None = None,
    extra_lines: Sequence[str] = (),
) -> str:
    """A few lines for a CI run's page: pass or fail, one row per set, what regressed."""
    failed = any(not v.passed for v in (verdicts or {}).values())
    state = "no gate" if verdicts is None else ("FAIL" if failed else "PASS")
    cols = [c for c in SET_COLUMNS if c != "latency_p50_ms"]
    lines = [f"## rag-eval `{run}`: {state}", ""]
    lines += ["| set | " + " | ".join(cols) + " | gate |", "|---" * (len(cols) + 2) + "|"]
    for name, (_, summary) in outcome.items():
        verdict = (verdicts or {}).get(name)
        gate = "" if verdict is None else ("pass" if verdict.passed else "**FAIL**")
        cells = " | ".join(f"{summary[c]:.4g}" if c in summary else "–" for c in cols)
        lines.append(f"| {name} | {cells} | {gate} |")
    for name, verdict in (verdicts or {}).items():
        if verdict.regressions or verdict.flipped or verdict.fixed:
            lines += ["", f"**{name}**", ""]
            lines += [f"- regressed {r}" for r in verdict.regressions]
            if verdict.flipped:
                lines.append("- flipped to wrong: " + ", ".join(verdict.flipped))
            if verdict.fixed:
                lines.append("- flipped to right: " + ", ".join(verdict.fixed))
    if extra_lines:
        lines += ["", *extra_lines]
    return "\n".join(lines) + "\n"


def write_summary(text: str, path: Path | None) -> list[Path]:
    """Write the summary to `path` and append it to `$GITHUB_STEP_SUMMARY` when that is set
    (Actions collects what every step appended); returns where it went."""
    written: list[Path] = []
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if step := os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(step, "a", encoding="utf-8") as f:
            f.write(text)
        written.append(Path(step))
    return written
