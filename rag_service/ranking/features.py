"""General features of answer units and of whole questions, for the learned selector and gate.

Nothing here knows a corpus: features are similarities, IDF-weighted coverage of the
question's terms and entities, the asked-for kind of value, the unit's shape and position, and
margins against the other candidates. The models that weigh them are fitted on labelled sets
of several corpora (`evals/calibrate.py`) and ship as data (`weights.json`).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from itertools import pairwise

import numpy as np

from rag_service.analysis.query import QueryAnalysis, phrase_tokens
from rag_service.retrieval.types import Candidate, Retrieval, UnitHit

UNIT_FEATURES = (
    "dense",
    "chunk_dense",
    "cov_unit",
    "cov_context",
    "cov_heading",
    "bigram",
    "type_match",
    "type_miss",
    "is_heading",
    "is_item",
    "is_row",
    "log_len",
    "anaphora",
    "fused_rank",
    "first_in_chunk",
    "entity_cov",
    "dense_rank",
    "dense_gap",
    "cov_gap",
    "has_digit",
    "list_intro",
    "question_like",
    "entity_cov_unit",
    "rarest_in_unit",
    "rarest_in_context",
    "count_cov_unit",
    "bigram_context",
    "prev_dense",
    "next_dense",
    "chunk_max_dense_gap",
    "title_cov",
    "number_cov",
    "label_match",
)

GATE_FEATURES = (
    "best_p",
    "margin",
    "second_p",
    "best_cov",
    "best_entity_cov",
    "unknown_share",
    "unknown_entity",
    "best_dense",
    "type_wanted_met",
    "type_wanted_missed",
    "max_cov_top3",
    "log_terms",
    "max_chunk_dense",
    "sides_covered",
    "top_fused_dense",
    "n_entities",
    "n_parts",
    "best_rarest",
    "best_bigram",
    "best_count_cov",
    "best_entity_cov_unit",
    "negated",
    "best_number_cov",
)

_ANAPHOR = re.compile(r"^(this|these|that|those|it|they|such|both|the latter|the former)\b", re.I)
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[A-Za-z]")

HEADING_DISCOUNT = 0.6
PREVIOUS_DISCOUNT = 0.5
CONTEXT_DISCOUNT = 0.3


def coverage(
    terms: dict[str, float],
    unit: frozenset[str],
    heading: frozenset[str] = frozenset(),
    previous: frozenset[str] = frozenset(),
    context: frozenset[str] = frozenset(),
) -> float:
    """IDF-weighted share of the question's terms found in the unit, counting a term found
    only in its heading, the unit before it or elsewhere in its chunk at a discount."""
    total = sum(terms.values())
    if total <= 0:
        return 0.0
    score = 0.0
    for term, idf in terms.items():
        if term in unit:
            score += idf
        elif term in heading:
            score += HEADING_DISCOUNT * idf
        elif term in previous:
            score += PREVIOUS_DISCOUNT * idf
        elif term in context:
            score += CONTEXT_DISCOUNT * idf
    return score / total


def bigram_overlap(question_tokens: tuple[str, ...], text: str) -> float:
    """Share of the question's adjacent word pairs that occur adjacent in `text`:
    tells "status code" from "code status" where bags of words cannot."""
    return _overlap(set(pairwise(question_tokens)), text)


def _overlap(q: set[tuple[str, str]], text: str) -> float:
    """`bigram_overlap` with the question's pairs made once per question, not per unit."""
    if not q:
        return 0.0
    return len(q & _bigrams(text)) / len(q)


@lru_cache(maxsize=65536)
def _bigrams(text: str) -> frozenset[tuple[str, str]]:
    return frozenset(pairwise(phrase_tokens(text)))


def entity_coverage(
    analysis: QueryAnalysis, lexemes: frozenset[str], *, numbers_only: bool = False
) -> float:
    """Share of the question's named things (with lexemes) whose lexemes all appear; with
    `numbers_only`, of its numbers (versions, codes, years): "release 1.20" is not answered
    by the row of release 1.10."""
    return _share(_entity_lexemes(analysis, numbers_only), lexemes)


def _entity_lexemes(analysis: QueryAnalysis, numbers_only: bool) -> list[frozenset[str]]:
    """The named things (or numbers) `entity_coverage` counts: once per question."""
    return [
        lx
        for ent, lx in zip(analysis.entities, analysis.entity_lexemes, strict=True)
        if lx and (not numbers_only or _DIGIT.search(ent))
    ]


def _share(ents: list[frozenset[str]], lexemes: frozenset[str]) -> float:
    if not ents:
        return 1.0
    return sum(1 for lx in ents if lx <= lexemes) / len(ents)


_LABEL = re.compile(r"^(?P<label>[^:—–]{1,60}?)\s*(?::|\s[—–]\s)")
_LABEL_WORD = re.compile(r"[\w.]+")


def label_match(analysis: QueryAnalysis, unit: UnitHit) -> float:
    """Share of the question's names and numbers that a table row's label or a list item's
    lead-in ("4 — Target hours: …", "GKE: …") holds: the row about the thing asked for."""
    return _label_match(_label_words(analysis), unit)


def _label_words(analysis: QueryAnalysis) -> list[set[str]]:
    """Each of the question's named things as the words `label_match` compares: once per
    question."""
    return [{w.strip(".") for w in _LABEL_WORD.findall(e.lower())} for e in analysis.entities]


def _label_match(entities: list[set[str]], unit: UnitHit) -> float:
    if unit.kind not in ("row", "item") or not entities:
        return 0.0
    m = _LABEL.match(unit.display)
    if not m:
        return 0.0
    label = {w.strip(".") for w in _LABEL_WORD.findall(m["label"].lower())}
    return sum(1 for words in entities if words & label) / len(entities)


def is_bare_heading(unit: UnitHit) -> bool:
    """A heading that states no figure names a topic; it does not answer anything itself."""
    return unit.kind == "heading" and not _DIGIT.search(unit.display)


def unit_features(
    analysis: QueryAnalysis, retrieval: Retrieval
) -> tuple[np.ndarray, list[tuple[Candidate, UnitHit]]]:
    """One row of UNIT_FEATURES per answer unit of every candidate chunk.

    What depends only on the question (its word pairs, named things, numbers) is made once,
    and what depends only on the chunk (heading and title coverage) once per chunk: the same
    values as computing them for every unit, at a fraction of the Python."""
    # Fusion order and reading order, whatever order a previous ranking left them in.
    cands = sorted(retrieval.candidates, key=lambda c: (-c.fused, c.chunk_id))
    for c in cands:
        c.units.sort(key=lambda u: u.ordinal)
    pairs: list[tuple[Candidate, UnitHit]] = [(c, u) for c in cands for u in c.units]
    if not pairs:
        return np.zeros((0, len(UNIT_FEATURES)), dtype=np.float32), pairs
    terms = analysis.terms
    rarest = max(terms, key=lambda t: (terms[t], t)) if terms else None
    n_terms = len(terms) or 1
    denses = np.array([u.dense for _, u in pairs], dtype=np.float32)
    order = np.argsort(-denses, kind="stable")
    dense_rank = np.empty(len(pairs), dtype=np.float32)
    dense_rank[order] = np.arange(len(pairs), dtype=np.float32)
    rows = []
    cov_ctx: list[float] = []
    q_pairs = set(pairwise(analysis.tokens))
    ents, numbers = _entity_lexemes(analysis, False), _entity_lexemes(analysis, True)
    label_words = _label_words(analysis)
    wanted = analysis.value is not None
    for rank, cand in enumerate(cands):
        previous: frozenset[str] = frozenset()
        ds = [u.dense for u in cand.units]
        top = max(ds, default=0.0)
        cov_heading = coverage(terms, cand.heading_lexemes)
        cov_title = coverage(terms, cand.title_lexemes)
        for j, u in enumerate(cand.units):
            context_lex = u.lexemes | cand.heading_lexemes | previous
            cc = coverage(terms, u.lexemes, cand.heading_lexemes, previous, cand.lexemes)
            cov_ctx.append(cc)
            met = wanted and bool(analysis.value.search(u.display))  # type: ignore[union-attr]
            rows.append(
                [
                    u.dense,
                    cand.dense,
                    coverage(terms, u.lexemes),
                    cc,
                    cov_heading,
                    _overlap(q_pairs, u.display),
                    float(met),
                    float(wanted and not met),
                    float(u.kind == "heading"),
                    float(u.kind == "item"),
                    float(u.kind == "row"),
                    math.log1p(len(u.display)) / 6.0,
                    float(bool(_ANAPHOR.match(u.display))),
                    1.0 / (1.0 + rank),
                    float(u.ordinal == cand.units[0].ordinal),
                    _share(ents, context_lex),
                    0.0,  # dense_rank, below
                    0.0,  # dense_gap
                    0.0,  # cov_gap
                    float(bool(_DIGIT.search(u.display))),
                    float(u.display.rstrip().endswith(":")),
                    float(u.display.rstrip().endswith("?")),
                    _share(ents, u.lexemes),
                    float(rarest is not None and rarest in u.lexemes),
                    float(rarest is not None and rarest in context_lex),
                    sum(1 for t in terms if t in u.lexemes) / n_terms,
                    _overlap(q_pairs, f"{cand.heading} {u.display}"),
                    ds[j - 1] if j > 0 else 0.0,
                    ds[j + 1] if j + 1 < len(ds) else 0.0,
                    u.dense - top,
                    cov_title,
                    _share(numbers, context_lex),
                    _label_match(label_words, u),
                ]
            )
            previous = u.lexemes
    x = np.asarray(rows, dtype=np.float32)
    x[:, UNIT_FEATURES.index("dense_rank")] = 1.0 / (1.0 + dense_rank)
    x[:, UNIT_FEATURES.index("dense_gap")] = denses - denses.max()
    cc_arr = np.asarray(cov_ctx, dtype=np.float32)
    x[:, UNIT_FEATURES.index("cov_gap")] = cc_arr - cc_arr.max()
    return x, pairs


def has_letters(unit: UnitHit) -> bool:
    return bool(_LETTER.search(unit.display))


def gate_features(
    analysis: QueryAnalysis,
    retrieval: Retrieval,
    x: np.ndarray,
    probs: np.ndarray,
    pairs: list[tuple[Candidate, UnitHit]],
) -> np.ndarray:
    """One row of GATE_FEATURES for the question, from its units' features and probabilities."""
    f = dict.fromkeys(GATE_FEATURES, 0.0)
    f["unknown_share"] = analysis.unknown_share
    f["unknown_entity"] = float(bool(analysis.unknown_entities))
    f["log_terms"] = math.log1p(len(analysis.terms))
    f["n_entities"] = float(len(analysis.entities))
    f["n_parts"] = float(len(analysis.sides or analysis.parts))
    f["negated"] = float(analysis.negated)
    if len(pairs):
        order = np.argsort(-probs, kind="stable")
        b = order[0]
        col = {n: i for i, n in enumerate(UNIT_FEATURES)}
        f["best_p"] = float(probs[b])
        f["second_p"] = float(probs[order[1]]) if len(order) > 1 else 0.0
        f["margin"] = f["best_p"] - f["second_p"]
        f["best_cov"] = float(x[b, col["cov_context"]])
        f["best_entity_cov"] = float(x[b, col["entity_cov"]])
        f["best_dense"] = float(x[b, col["dense"]])
        f["type_wanted_met"] = float(x[b, col["type_match"]])
        f["type_wanted_missed"] = float(x[b, col["type_miss"]])
        top3 = order[:3]
        f["max_cov_top3"] = float(x[top3, col["cov_context"]].max())
        f["max_chunk_dense"] = float(x[:, col["chunk_dense"]].max())
        f["best_number_cov"] = float(x[b, col["number_cov"]])
        f["best_rarest"] = float(x[b, col["rarest_in_context"]])
        f["best_bigram"] = float(x[b, col["bigram_context"]])
        f["best_count_cov"] = float(x[b, col["count_cov_unit"]])
        f["best_entity_cov_unit"] = float(x[b, col["entity_cov_unit"]])
        f["top_fused_dense"] = float(retrieval.candidates[0].dense) if retrieval.candidates else 0
        sides = analysis.side_terms()
        if sides:
            top = order[:5]
            lex = [pairs[i][1].lexemes | pairs[i][0].heading_lexemes for i in top]
            covered = [max(coverage(side, lx) for lx in lex) >= 0.5 for side in sides if side]
            f["sides_covered"] = sum(covered) / len(covered) if covered else 1.0
        else:
            f["sides_covered"] = 1.0
    return np.asarray([f[n] for n in GATE_FEATURES], dtype=np.float32)
