"""The regression gate: compare a run with the committed baseline."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.metrics import LOWER_IS_BETTER, QUALITY_METRICS, QuestionResult

BASELINE = Path(__file__).resolve().parent / "baseline.json"
DIALOGUES = "dialogues"  # the baseline's entry for the multi-turn set (evals.dialogues)

# Allowed drop per metric. Offline runs are deterministic, so these only absorb float noise:
# one flipped question is a regression. Latency is reported, never gated (machines differ).
DEFAULT_TOLERANCES = dict.fromkeys(QUALITY_METRICS, 0.001)


@dataclass
class GateResult:
    passed: bool
    regressions: list[str] = field(default_factory=list)
    flipped: list[str] = field(default_factory=list)  # ok in the baseline, wrong now
    fixed: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = ["PASS: no metric regressed" if self.passed else "FAIL: quality regressed"]
        out += [f"regressed {r}" for r in self.regressions]
        if self.flipped:
            out.append("questions that flipped to wrong: " + ", ".join(self.flipped))
        if self.fixed:
            out.append("questions that flipped to right: " + ", ".join(self.fixed))
        return out


def make_baseline(
    outcome: dict[str, tuple[list[QuestionResult], dict[str, float]]],
    dialogues: tuple[list[Any], dict[str, float]] | None = None,
) -> dict[str, Any]:
    """One entry per labelled set: its metrics and which questions were right; with
    `dialogues` (turn results, `dialogue_metrics`), a `dialogues` entry turn by turn."""
    sets = {
        name: {
            "metrics": {k: summary[k] for k in QUALITY_METRICS},
            "questions": {r.id: r.ok for r in results},
        }
        for name, (results, summary) in outcome.items()
    }
    if dialogues is not None:
        turns, metrics = dialogues
        sets[DIALOGUES] = {"metrics": metrics, "questions": {t.id: t.ok for t in turns}}
    return {"tolerances": DEFAULT_TOLERANCES, "sets": sets}


def merged_baseline(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` over `old`: the entries of the sets this run scored replace theirs, the others
    (sets not run this time) are kept as they were."""
    return {
        "tolerances": {**old.get("tolerances", {}), **new["tolerances"]},
        "sets": {**old.get("sets", {}), **new["sets"]},
    }


def load_baseline(path: Path = BASELINE) -> dict[str, Any]:
    baseline: dict[str, Any] = json.loads(path.read_text())
    return baseline


def compare_set(
    baseline: dict[str, Any], name: str, summary: dict[str, float], results: list[QuestionResult]
) -> GateResult:
    """A set the baseline does not know fails: every set in the run must be gated."""
    entry = baseline.get("sets", {}).get(name)
    if entry is None:
        return GateResult(False, [f"set {name!r} is not in the baseline (--update-baseline)"])
    return compare({"tolerances": baseline.get("tolerances", {}), **entry}, summary, results)


def compare_dialogues(
    baseline: dict[str, Any], metrics: dict[str, float], turns: list[Any], max_gap: float = 0.03
) -> GateResult:
    """The dialogue set turn by turn: no metric below the baseline's, and turn-level answer and
    abstention accuracy in conversation within `max_gap` of the same turns asked alone."""
    from evals.dialogues import gap_failures

    verdict = compare_set(baseline, DIALOGUES, metrics, turns)
    gaps = gap_failures(metrics, max_gap)
    verdict.regressions += gaps
    verdict.passed = verdict.passed and not gaps
    return verdict


def compare(
    baseline: dict[str, Any], summary: dict[str, float], results: list[QuestionResult]
) -> GateResult:
    tolerances = {**DEFAULT_TOLERANCES, **baseline.get("tolerances", {})}
    regressions = []
    for name, base in baseline["metrics"].items():
        now = summary.get(name)
        if now is None:
            regressions.append(f"{name}: missing from this run")
            continue
        tol = tolerances.get(name, 0.001)
        worse = now > base + tol if name in LOWER_IS_BETTER else now < base - tol
        if worse:
            regressions.append(f"{name}: {base:.4f} -> {now:.4f} (tolerance {tol})")
    before = baseline.get("questions", {})
    flipped = [r.id for r in results if before.get(r.id) is True and not r.ok]
    fixed = [r.id for r in results if before.get(r.id) is False and r.ok]
    return GateResult(not regressions, regressions, flipped, fixed)
