"""unit_features makes what depends only on the question or the chunk once (word pairs, named
things, numbers, label words; heading and title coverage): its columns must equal the public
per-unit functions applied unit by unit, as they were computed before."""

from __future__ import annotations

import numpy as np

from rag_service.analysis import analyze, question_shape
from rag_service.ranking.features import (
    UNIT_FEATURES,
    bigram_overlap,
    coverage,
    entity_coverage,
    label_match,
    unit_features,
)
from rag_service.retrieval.types import Candidate, QueryTerms, Retrieval, UnitHit


def _candidate(cid: int, heading: str, title: set[str], units: list[UnitHit]) -> Candidate:
    return Candidate(
        cid,
        cid,
        f"doc{cid}.txt",
        "Doc",
        heading,
        "...",
        0,
        100,
        cid,
        cid,
        0.03 / cid,
        0.5,
        frozenset().union(*(u.lexemes for u in units)),
        frozenset(heading.lower().split()),
        units,
        title_lexemes=frozenset(title),
    )


def _unit(i: int, cid: int, kind: str, display: str, lexemes: set[str], dense: float) -> UnitHit:
    return UnitHit(i, cid, i, kind, display, display, 0, 5, frozenset(lexemes), dense)


def test_columns_equal_the_per_unit_functions() -> None:
    question = "What is the Kubernetes release 1.20 day rate in London?"
    cands = [
        _candidate(
            1,
            "day rates",
            {"rate"},
            [
                _unit(
                    1,
                    1,
                    "row",
                    "London — Kubernetes 1.20: £650 day rate",
                    {"london", "kubernet", "1.20", "650", "day", "rate"},
                    0.7,
                ),
                _unit(2, 1, "item", "Release 1.10: £500", {"releas", "1.10", "500"}, 0.5),
                _unit(
                    3,
                    1,
                    "sentence",
                    "This rate applies to London.",
                    {"rate", "appli", "london"},
                    0.4,
                ),
            ],
        ),
        _candidate(
            2,
            "release notes",
            set(),
            [_unit(4, 2, "heading", "Release 1.20", {"releas", "1.20"}, 0.3)],
        ),
    ]
    terms = QueryTerms(
        idf={"kubernet": 2.0, "releas": 1.0, "1.20": 2.5, "day": 0.5, "rate": 0.7, "london": 1.2},
        unknown=frozenset(),
        n_chunks=10,
        surface={"kubernet": "Kubernetes", "london": "London", "1.20": "1.20"},
    )
    retrieval = Retrieval(question, None, terms, cands, {})  # type: ignore[arg-type]
    analysis = analyze(question_shape(question), terms, evidence=[c.text for c in cands])
    # the named-thing columns are exercised: names and a number, each with its lexemes
    assert analysis.entity_lexemes == (
        frozenset({"kubernet"}),
        frozenset({"1.20"}),
        frozenset({"london"}),
    )
    x, pairs = unit_features(analysis, retrieval)
    col = {n: i for i, n in enumerate(UNIT_FEATURES)}
    for row, (cand, u) in zip(x, pairs, strict=True):
        previous = frozenset()
        for other in cand.units:
            if other.ordinal < u.ordinal:
                previous = other.lexemes
        context = u.lexemes | cand.heading_lexemes | previous
        expect = {
            "cov_heading": coverage(analysis.terms, cand.heading_lexemes),
            "title_cov": coverage(analysis.terms, cand.title_lexemes),
            "bigram": bigram_overlap(analysis.tokens, u.display),
            "bigram_context": bigram_overlap(analysis.tokens, f"{cand.heading} {u.display}"),
            "entity_cov": entity_coverage(analysis, context),
            "entity_cov_unit": entity_coverage(analysis, u.lexemes),
            "number_cov": entity_coverage(analysis, context, numbers_only=True),
            "label_match": label_match(analysis, u),
        }
        for name, value in expect.items():
            assert row[col[name]] == np.float32(value), name
