"""The learned answer-unit selector and the calibrated gate.

`LearnedSelector` scores every answer unit with the probability that it answers the question
(a logistic model over `features.UNIT_FEATURES`); `CalibratedGate` turns question-level
features into the probability that the answer will be right, and abstains below a threshold
chosen by cross-validation (`evals/calibrate.py`), not on any evaluation set. Prompt injection
stays a rule: it is a security boundary, not a matter of evidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag_service.analysis.query import QueryAnalysis
from rag_service.ranking.features import (
    GATE_FEATURES,
    UNIT_FEATURES,
    gate_features,
    has_letters,
    unit_features,
)
from rag_service.ranking.models import FittedModels, LinearModel
from rag_service.retrieval.types import Candidate, Retrieval, UnitHit

_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.?!]{0,60}\b(instructions?|prompts?|rules?|"
    r"guidelines?|context|above|previous|prior)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bact as\b|\bjailbreak|\bdeveloper mode\b"
    r"|\b(reveal|print|show|repeat|output)\b[^.?!]{0,40}\b(prompt|instructions)\b",
    re.IGNORECASE,
)


@dataclass
class Ranking:
    """The selector's output: candidates best first (each scored by its best unit), plus
    what the gate reads (the unit feature matrix and probabilities, in `pairs` order)."""

    candidates: list[Candidate]
    features: np.ndarray
    probs: np.ndarray
    pairs: list[tuple[Candidate, UnitHit]]


@dataclass(frozen=True)
class GateDecision:
    answerable: bool
    reason: str
    score: float  # the gate's probability that the answer is right
    coverage: float  # share of the question's term weight found around the best unit
    unknown_entities: tuple[str, ...] = ()


class LearnedSelector:
    name = "learned"

    def __init__(self, model: LinearModel) -> None:
        self.model = model.check(UNIT_FEATURES)

    def rank(self, analysis: QueryAnalysis, retrieval: Retrieval) -> Ranking:
        x, pairs = unit_features(analysis, retrieval)
        return self.rank_features(retrieval, x, pairs)

    def rank_features(
        self, retrieval: Retrieval, x: np.ndarray, pairs: list[tuple[Candidate, UnitHit]]
    ) -> Ranking:
        """Score units from precomputed features (calibration re-scores cached questions)."""
        probs = self.model.predict_proba(x)
        for (_, u), p in zip(pairs, probs, strict=True):
            # A unit with no words (chart residue, a bare figure) never answers.
            u.score = float(p) if has_letters(u) else 0.0
        for c in retrieval.candidates:
            c.score = max((u.score for u in c.units), default=0.0)
        ranked = sorted(retrieval.candidates, key=lambda c: (-c.score, c.chunk_id))
        return Ranking(ranked, x, np.array([u.score for _, u in pairs]), pairs)


class CalibratedGate:
    def __init__(self, model: LinearModel, threshold: float) -> None:
        self.model = model.check(GATE_FEATURES)
        self.threshold = threshold

    def probability(
        self, analysis: QueryAnalysis, retrieval: Retrieval, ranking: Ranking
    ) -> tuple[float, np.ndarray]:
        g = gate_features(analysis, retrieval, ranking.features, ranking.probs, ranking.pairs)
        return float(self.model.predict_proba(g[None, :])[0]), g

    def decide(
        self, analysis: QueryAnalysis, retrieval: Retrieval, ranking: Ranking
    ) -> GateDecision:
        if _INJECTION.search(analysis.question):
            return GateDecision(False, "prompt_injection", 0.0, 0.0)
        if not ranking.pairs:
            return GateDecision(False, "no_evidence", 0.0, 0.0, analysis.unknown_entities)
        p, g = self.probability(analysis, retrieval, ranking)
        cov = float(g[GATE_FEATURES.index("best_cov")])
        if p >= self.threshold:
            return GateDecision(True, "supported", p, cov)
        reason = "unknown_entity" if analysis.unknown_entities else "low_confidence"
        return GateDecision(False, reason, p, cov, analysis.unknown_entities)


def load_models(path: Path | None = None) -> tuple[LearnedSelector, CalibratedGate]:
    fitted = FittedModels.load(path)
    return LearnedSelector(fitted.selector), CalibratedGate(fitted.gate, fitted.threshold)
