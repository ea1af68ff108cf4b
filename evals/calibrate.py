"""Fit the answer selector and the gate on labelled sets, validated leave one corpus out.

Every set's questions are retrieved once against an index of that set's corpus alone; the
retrieved units and their features are then re-scored in memory as often as cross-validation
needs. For each held-out corpus H:
  1. inner leave-one-out over the other corpora gives out-of-fold selector scores, so the gate
     is fitted on features like those it will see on unseen documents;
  2. the gate's threshold maximises truthfulness on out-of-fold gate probabilities (inner CV),
     never on H;
  3. the selector and gate fitted on all corpora but H answer H's questions: those are the
     reported figures.
The shipped weights are the same procedure with no corpus held out.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from evals.dataset import Row, cites_source
from evals.metrics import answer_matches, norm, truth
from evals.sets import EvalSet, settings_for
from rag_service.analysis import DomainProfile, QueryAnalysis, analyze, question_shape
from rag_service.core.config import Settings
from rag_service.core.database import Database
from rag_service.core.ports import load_ingestor
from rag_service.generation.extractive import ExtractiveGenerator
from rag_service.pipeline import passages_of, retrieve_for
from rag_service.ranking.features import GATE_FEATURES, UNIT_FEATURES, gate_features, unit_features
from rag_service.ranking.models import FittedModels, LinearModel
from rag_service.ranking.selector import LearnedSelector
from rag_service.retrieval.embedder import Embedder
from rag_service.retrieval.search import HybridRetriever
from rag_service.retrieval.types import Candidate, Retrieval, UnitHit

TOP_K = 5
SELECTOR_C = 0.5
MAX_NEGATIVES = 60
GATE_C = 0.5
_GEN = ExtractiveGenerator()


@dataclass
class Sample:
    set: str
    row: Row
    analysis: QueryAnalysis
    retrieval: Retrieval
    x: np.ndarray
    pairs: list[tuple[Candidate, UnitHit]]
    y: np.ndarray  # per unit: does it hold (part of) the labelled answer


def _flat(text: str) -> str:
    return " ".join(norm(text).split())


def unit_label(text: str, display: str, row: Row) -> bool:
    """A unit answers when it holds every expected fact, or holds a labelled evidence quote
    and at least one expected fact (a two-part answer needs two units)."""
    if not row.answerable:
        return False
    if answer_matches(display, row.expect):
        return True
    flat = _flat(text)
    has_evidence = any(_flat(e) in flat for e in row.evidence if e.strip())
    return has_evidence and any(answer_matches(display, [g]) for g in row.expect)


def collect(
    es: EvalSet,
    settings: Settings,
    embedder: Embedder,
    profile: DomainProfile,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Sample]:
    """Index the set's corpus (idempotent: a second run only hashes files) in its own
    database, then retrieve every question once."""
    from rag_service.services import sync_bundled_corpus

    cfg = settings_for(es, settings)
    db = Database(cfg)
    db.open(embedding_model=embedder.name, embedding_dim=embedder.dim)
    try:
        sync_bundled_corpus(cfg, db, load_ingestor(cfg, db, embedder))
        retriever = HybridRetriever(db, embedder, candidates=cfg.candidates)
        samples = []
        for row in es.rows():
            shape = question_shape(row.question, profile=profile)
            retrieval = retrieve_for(retriever, shape, TOP_K)
            analysis = analyze(
                shape, retrieval.terms, evidence=[c.text for c in retrieval.candidates]
            )
            x, pairs = unit_features(analysis, retrieval)
            y = np.array([unit_label(u.text, u.display, row) for _, u in pairs], dtype=bool)
            samples.append(Sample(es.name, row, analysis, retrieval, x, pairs, y))
            if progress:
                progress(es.name)
        return samples
    finally:
        db.close()


def fit_linear(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float) -> LinearModel:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    if len(set(y.tolist())) < 2:  # degenerate fold: a constant model
        p = float(np.clip(y.mean() if len(y) else 0.5, 1e-3, 1 - 1e-3))
        return LinearModel(
            names, (0.0,) * len(names), float(np.log(p / (1 - p))), tuple(mean), tuple(scale)
        )
    model = LogisticRegression(C=c, max_iter=2000)  # unweighted: probabilities stay calibrated
    model.fit((x - mean) / scale, y)
    return LinearModel(
        names,
        tuple(float(v) for v in model.coef_[0]),
        float(model.intercept_[0]),
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
    )


def fit_selector(samples: list[Sample]) -> LinearModel:
    """A ranking model: logistic regression on differences between a question's answering
    units and its other units (what matters is which unit wins within a question), then a
    one-feature logistic fit turns its scores into probabilities."""
    from sklearn.linear_model import LogisticRegression

    use = [s for s in samples if s.row.answerable and s.y.any() and (~s.y).any()]
    if not use:
        raise ValueError("no answerable labelled question retrieved an answering unit")
    x_all = np.vstack([s.x for s in use])
    mean = x_all.mean(axis=0)
    scale = x_all.std(axis=0)
    scale[scale < 1e-6] = 1.0
    rng = np.random.default_rng(0)
    diffs = []
    for s in use:
        z = (s.x - mean) / scale
        pos, neg = z[s.y], z[~s.y]
        if len(neg) > MAX_NEGATIVES:
            neg = neg[rng.choice(len(neg), MAX_NEGATIVES, replace=False)]
        # every positive against every negative, weighted so each question counts once
        d = (pos[:, None, :] - neg[None, :, :]).reshape(-1, z.shape[1])
        diffs.append((d, 1.0 / len(d)))
    d = np.vstack([x for x, _ in diffs])
    w = np.concatenate([np.full(len(x), wt) for x, wt in diffs])
    ranker = LogisticRegression(C=SELECTOR_C, fit_intercept=False, max_iter=2000)
    ranker.fit(
        np.vstack([d, -d]), np.r_[np.ones(len(d)), np.zeros(len(d))], sample_weight=np.r_[w, w]
    )
    coef = ranker.coef_[0]
    scores = ((np.vstack([s.x for s in use]) - mean) / scale) @ coef
    ys = np.concatenate([s.y for s in use])
    platt = LogisticRegression(C=1e4, max_iter=2000).fit(scores[:, None], ys)
    a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    return LinearModel(
        UNIT_FEATURES,
        tuple(float(v) * a for v in coef),
        b,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
    )


def answer(sample: Sample, selector: LinearModel) -> tuple[bool, np.ndarray, str, list[str]]:
    """Answer one cached question with `selector`: (right, gate features, text, cited docs)."""
    ranking = LearnedSelector(selector).rank_features(sample.retrieval, sample.x, sample.pairs)
    gx = gate_features(sample.analysis, sample.retrieval, sample.x, ranking.probs, sample.pairs)
    draft = _GEN.generate(
        sample.row.question, passages_of(ranking.candidates, TOP_K), analysis=sample.analysis
    )
    if draft.abstained:
        return False, gx, "", []
    by_chunk = {c.chunk_id: c.source for c in sample.retrieval.candidates}
    cited = sorted({by_chunk[c.chunk_id] for c in draft.citations})
    right = (
        sample.row.answerable
        and answer_matches(draft.text, sample.row.expect)
        and cites_source(cited, sample.row.sources)
    )
    return right, gx, draft.text, cited


def truthfulness(answerable: list[bool], answered: list[bool], right: list[bool]) -> float:
    """+1 a right answer or a right abstention, 0 a false abstention, -1 a wrong answer or an
    answer to the unanswerable; averaged over questions."""
    scores = [truth(*q) for q in zip(answerable, answered, right, strict=True)]
    return statistics.fmean(scores) if scores else 0.0


def best_threshold(probs: np.ndarray, right: np.ndarray, answerable: np.ndarray) -> float:
    """The threshold with the best truthfulness on out-of-fold probabilities (the middle of
    the best plateau, so it does not sit on one question)."""
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2)
    scores = [
        truthfulness(list(answerable), list(probs >= t), list(right & (probs >= t))) for t in grid
    ]
    top = max(scores)
    best = [t for t, s in zip(grid, scores, strict=True) if s >= top - 1e-9]
    return float(best[len(best) // 2])


@dataclass
class GateData:
    x: np.ndarray
    right: np.ndarray  # the answer would be right
    answerable: np.ndarray
    sets: list[str]


def gate_data(samples: list[Sample]) -> GateData:
    """Out-of-fold gate features: each corpus' questions answered by a selector fitted
    without it."""
    names = sorted({s.set for s in samples})
    xs, right, answerable, sets = [], [], [], []
    for name in names:
        train = [s for s in samples if s.set != name]
        selector = fit_selector(train)
        for s in samples:
            if s.set != name:
                continue
            ok, gx, _, _ = answer(s, selector)
            xs.append(gx)
            right.append(ok)
            answerable.append(s.row.answerable)
            sets.append(name)
    return GateData(np.vstack(xs), np.array(right), np.array(answerable), sets)


def fit_models(samples: list[Sample]) -> tuple[FittedModels, dict[str, Any]]:
    """Selector on all `samples`; gate on their out-of-fold features; threshold by CV."""
    selector = fit_selector(samples)
    gd = gate_data(samples)
    gate = fit_linear(gd.x, gd.right, GATE_FEATURES, GATE_C)
    oof = np.zeros(len(gd.sets))
    for name in sorted(set(gd.sets)):
        held = np.array([s == name for s in gd.sets])
        model = fit_linear(gd.x[~held], gd.right[~held], GATE_FEATURES, GATE_C)
        oof[held] = model.predict_proba(gd.x[held])
    threshold = best_threshold(oof, gd.right, gd.answerable)
    info = {
        "oof_truthfulness": round(
            truthfulness(
                list(gd.answerable), list(oof >= threshold), list(gd.right & (oof >= threshold))
            ),
            4,
        )
    }
    return FittedModels(selector, gate, threshold), info


@dataclass
class SetReport:
    name: str
    questions: int
    answerable: int
    answer_accuracy: float
    abstention_accuracy: float
    citation_accuracy: float
    truthfulness: float
    ece: float
    threshold: float
    reliability: list[tuple[float, float, int]] = field(default_factory=list)
    misses: list[dict[str, Any]] = field(default_factory=list)


def reliability(
    probs: np.ndarray, right: np.ndarray, bins: int = 5
) -> tuple[float, list[tuple[float, float, int]]]:
    """Expected calibration error and (mean predicted, observed, count) per probability bin."""
    edges = np.linspace(0, 1, bins + 1)
    table: list[tuple[float, float, int]] = []
    ece = 0.0
    for lo, hi in pairwise(edges):
        m = (probs >= lo) & ((probs < hi) | (hi == 1.0))
        if m.any():
            pred, obs = float(probs[m].mean()), float(right[m].mean())
            ece += m.sum() / len(probs) * abs(pred - obs)
            table.append((round(pred, 3), round(obs, 3), int(m.sum())))
    return round(ece, 4), table


def score_set(name: str, samples: list[Sample], models: FittedModels) -> SetReport:
    rows = [s for s in samples if s.set == name]
    answerable, answered, right, probs, cited_ok, misses = [], [], [], [], [], []
    would: list[bool] = []
    for s in rows:
        ok, gx, text, cited = answer(s, models.selector)
        p = float(models.gate.predict_proba(gx[None, :])[0])
        said = p >= models.threshold and bool(text)
        answerable.append(s.row.answerable)
        answered.append(said)
        right.append(ok and said)
        would.append(ok)
        probs.append(p)
        cited_ok.append(cites_source(cited, s.row.sources) if said else False)
        if (said and not ok) or (s.row.answerable and not said):
            misses.append(
                {
                    "id": s.row.id,
                    "question": s.row.question,
                    "answered": said,
                    "p": round(p, 3),
                    "answer": text[:200] if said else "",
                    "would_answer": text[:200] if not said else "",
                    "would_be_right": ok,
                }
            )
    a = np.array(answerable)
    n_ans = int(a.sum())
    ece, table = reliability(np.array(probs), np.array(would))
    said_a = a & np.array(answered)
    return SetReport(
        name=name,
        questions=len(rows),
        answerable=n_ans,
        answer_accuracy=round(float(np.array(right)[a].mean()) if n_ans else 0.0, 4),
        abstention_accuracy=round(
            float((~np.array(answered))[~a].mean()) if (~a).any() else 0.0, 4
        ),
        citation_accuracy=round(
            float(np.array(cited_ok)[said_a].mean()) if said_a.any() else 0.0, 4
        ),
        truthfulness=round(truthfulness(answerable, answered, right), 4),
        ece=ece,
        threshold=models.threshold,
        reliability=table,
        misses=misses,
    )


def _mean(values: np.ndarray, where: np.ndarray) -> float:
    return round(float(values[where].mean()), 4) if where.any() else 0.0


def leave_one_corpus_out(samples: list[Sample]) -> list[SetReport]:
    reports = []
    for name in sorted({s.set for s in samples}):
        models, _ = fit_models([s for s in samples if s.set != name])
        reports.append(score_set(name, samples, models))
    return reports
