"""Our own metrics, per question and overall. Matching follows the shared scorer exactly."""

from __future__ import annotations

import statistics
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

# Deterministic in offline mode: compared with the baseline by the gate.
QUALITY_METRICS = (
    "answer_accuracy",
    "abstention_accuracy",
    "false_abstention_rate",
    "citation_accuracy",
    "context_recall_at_k",
    "mrr",
    "truthfulness",
)
LOWER_IS_BETTER = frozenset({"false_abstention_rate", "latency_p50_ms", "latency_p95_ms"})


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    for dash in "\u2013\u2014\u2212":
        text = text.replace(dash, "-")
    return text.replace(" %", "%").replace("\u00a0", " ")


def answer_matches(answer: str, expect: list[list[str]]) -> bool:
    got = norm(answer)
    return all(any(norm(alt) in got for alt in group) for group in expect)


def supports(chunk_text: str, evidence: list[str]) -> bool:
    flat = " ".join(chunk_text.split())
    return any(" ".join(e.split()) in flat for e in evidence)


@dataclass
class QuestionResult:
    id: str
    question: str
    answerable: bool
    said_answerable: bool
    reason: str
    answer: str
    expected: str
    ok: bool
    content_ok: bool | None
    cited_ok: bool | None
    cited: list[str]
    recall_at_k: bool | None
    reciprocal_rank: float | None
    latency_ms: float
    ragas: dict[str, float] = field(default_factory=dict)
    trace_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: list[float]) -> float:
    return round(statistics.fmean(values), 4) if values else 0.0


def truth(answerable: bool, answered: bool, right: bool) -> float:
    """+1 a right answer or a right abstention, 0 a false abstention, -1 a wrong answer or an
    answer to the unanswerable: a wrong answer costs a user more than "the documents don't say".
    `right`: the answer given was right (ignored when abstaining)."""
    if answered:
        return 1.0 if right else -1.0
    return 0.0 if answerable else 1.0


def truth_score(r: QuestionResult) -> float:
    return truth(r.answerable, r.said_answerable, r.ok)


def summarize(results: list[QuestionResult]) -> dict[str, float]:
    ans = [r for r in results if r.answerable]
    una = [r for r in results if not r.answerable]
    lat = sorted(r.latency_ms for r in results)
    summary = {
        "questions": float(len(results)),
        "answer_accuracy": _mean([float(r.ok) for r in ans]),
        "abstention_accuracy": _mean([float(r.ok) for r in una]),
        "false_abstention_rate": _mean([float(not r.said_answerable) for r in ans]),
        "citation_accuracy": _mean([float(bool(r.cited_ok)) for r in ans]),
        "context_recall_at_k": _mean([float(bool(r.recall_at_k)) for r in ans]),
        "mrr": _mean([r.reciprocal_rank or 0.0 for r in ans]),
        "truthfulness": _mean([truth_score(r) for r in results]),
        "latency_p50_ms": round(statistics.median(lat), 1) if lat else 0.0,
        "latency_p95_ms": round(lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))], 1)
        if lat
        else 0.0,
    }
    ragas_names = sorted({k for r in ans for k in r.ragas})
    for name in ragas_names:
        summary[f"ragas_{name}"] = _mean([r.ragas[name] for r in ans if name in r.ragas])
    return summary
