"""Fitting the selector and the gate: a planted signal is learned, thresholds sit on a plateau,
truthfulness and calibration error are what they claim (no DB, no model)."""

from __future__ import annotations

import numpy as np
import pytest

from evals import calibrate as cal
from evals.dataset import Row
from rag_service.ranking.features import UNIT_FEATURES


def _row(answerable: bool = True) -> Row:
    return Row("q", "What?", answerable, "", [["42"]] if answerable else [], ["a.txt"], [], "")


def test_unit_label_needs_every_fact_or_evidence_plus_one_fact() -> None:
    row = Row("q", "?", True, "", [["42"], ["blue"]], ["a.txt"], ["the sky is blue"], "")
    assert cal.unit_label("It is 42 and blue.", "It is 42 and blue.", row)
    assert not cal.unit_label("It is 42.", "It is 42.", row)
    assert cal.unit_label("Above, the sky is  blue.", "Above, the sky is blue.", row)
    assert not cal.unit_label("Anything 42 blue", "Anything 42 blue", _row(False))


def test_fit_selector_learns_a_planted_feature() -> None:
    rng = np.random.default_rng(1)
    col = UNIT_FEATURES.index("cov_unit")
    samples = []
    for i in range(40):
        x = rng.normal(size=(12, len(UNIT_FEATURES))).astype(np.float32)
        y = np.zeros(12, dtype=bool)
        y[i % 12] = True
        x[y, col] += 3.0  # the answering unit covers the question
        samples.append(cal.Sample("s", _row(), None, None, x, [None] * 12, y))  # type: ignore[arg-type]
    model = cal.fit_selector(samples)
    assert model.features == UNIT_FEATURES
    assert max(range(len(model.coef)), key=lambda j: abs(model.coef[j])) == col
    hits = sum(int(np.argmax(model.predict_proba(s.x))) == int(np.argmax(s.y)) for s in samples)
    assert hits >= 36


def test_truthfulness_scores_each_outcome() -> None:
    # right answer, wrong answer, false abstention, right abstention, answered the unanswerable
    answerable = [True, True, True, False, False]
    answered = [True, True, False, False, True]
    right = [True, False, False, False, False]
    assert cal.truthfulness(answerable, answered, right) == pytest.approx((1 - 1 + 0 + 1 - 1) / 5)


def test_threshold_is_the_middle_of_the_best_plateau() -> None:
    probs = np.array([0.9, 0.8, 0.3, 0.2])
    right = np.array([True, True, False, False])
    answerable = np.array([True, True, True, False])
    t = cal.best_threshold(probs, right, answerable)
    assert 0.3 < t <= 0.8  # answers the two right ones, abstains on the rest
    assert abs(t - 0.55) < 0.06


def test_reliability_and_ece() -> None:
    probs = np.array([0.1, 0.1, 0.9, 0.9])
    right = np.array([False, False, True, True])
    ece, table = cal.reliability(probs, right)
    assert ece == pytest.approx(0.1)
    assert [n for _, _, n in table] == [2, 2]
