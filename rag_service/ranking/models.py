"""Fitted models as data: a standardised logistic regression applied with NumPy alone.

Fitting (scikit-learn, leave one corpus out) lives in `evals/calibrate.py`; the service only
applies the weights, so it needs neither scikit-learn nor the labelled sets at run time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).resolve().parent / "weights.json"


@dataclass(frozen=True)
class LinearModel:
    """p = sigmoid(((x - mean) / scale) · coef + intercept); features named, in order."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if x.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = z @ np.asarray(self.coef) + self.intercept
        probs: np.ndarray = 1.0 / (1.0 + np.exp(-logits))
        return probs

    def check(self, expected: tuple[str, ...]) -> LinearModel:
        if tuple(self.features) != tuple(expected):
            raise ValueError(
                "fitted weights do not match this version's features; rerun `rag-eval calibrate`"
            )
        return self


@dataclass(frozen=True)
class FittedModels:
    selector: LinearModel
    gate: LinearModel
    threshold: float  # answer when the gate's probability of a right answer reaches this
    meta: dict[str, Any] = field(default_factory=dict)  # what they were fitted on, and scores

    @classmethod
    def load(cls, path: Path | None = None) -> FittedModels:
        raw = json.loads((path or WEIGHTS).read_text(encoding="utf-8"))
        return cls(
            selector=_model(raw["selector"]),
            gate=_model(raw["gate"]),
            threshold=float(raw["threshold"]),
            meta=raw.get("meta", {}),
        )

    def save(self, path: Path | None = None) -> None:
        body = {
            "selector": asdict(self.selector),
            "gate": asdict(self.gate),
            "threshold": self.threshold,
            "meta": self.meta,
        }
        (path or WEIGHTS).write_text(json.dumps(body, indent=1) + "\n", encoding="utf-8")


def _model(raw: dict[str, Any]) -> LinearModel:
    return LinearModel(
        features=tuple(raw["features"]),
        coef=tuple(float(v) for v in raw["coef"]),
        intercept=float(raw["intercept"]),
        mean=tuple(float(v) for v in raw["mean"]),
        scale=tuple(float(v) for v in raw["scale"]),
    )
