"""The alternative rerankers on hand-built retrievals: plain fusion order and a cross-encoder
(a stand-in model whose scores the test chooses, so a wrong order fails)."""

from __future__ import annotations

import numpy as np
import pytest

from rag_service.retrieval.rerank import CrossEncoderReranker, FusionReranker, build_reranker
from rag_service.retrieval.types import Candidate, QueryTerms, Retrieval, UnitHit


def unit(uid: int, chunk: int, text: str, dense: float) -> UnitHit:
    return UnitHit(uid, chunk, uid, "sentence", text, text, 0, len(text), frozenset(), dense)


def candidate(chunk: int, fused: float, units: list[UnitHit]) -> Candidate:
    return Candidate(
        chunk, chunk, f"doc{chunk}.md", "", "", "", 0, 100, chunk, chunk, fused, 0.0,
        frozenset(), frozenset(), units,
    )  # fmt: skip


def retrieval() -> Retrieval:
    """Fusion order: chunk 1, 2, 3. Dense similarity of their best units: 2 > 3 > 1."""
    cands = [
        candidate(1, 0.09, [unit(10, 1, "alpha one", 0.2), unit(11, 1, "alpha two", 0.1)]),
        candidate(2, 0.08, [unit(20, 2, "beta one", 0.9)]),
        candidate(3, 0.07, [unit(30, 3, "gamma one", 0.5), unit(31, 3, "gamma two", 0.6)]),
    ]
    terms = QueryTerms(idf={}, unknown=frozenset(), n_chunks=3)
    return Retrieval("which one?", np.zeros(3, dtype=np.float32), terms, cands)


class ScoresByText:
    """A CrossEncoder stand-in: each (question, text) pair gets the score the table says."""

    def __init__(self, table: dict[str, float]) -> None:
        self.table = table
        self.pairs: list[tuple[str, str]] = []

    def predict(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        self.pairs += pairs
        return np.array([self.table[text] for _, text in pairs], dtype=np.float32)


def cross_encoder(table: dict[str, float]) -> tuple[CrossEncoderReranker, ScoresByText]:
    reranker = CrossEncoderReranker.__new__(CrossEncoderReranker)
    model = ScoresByText(table)
    reranker._model = model
    return reranker, model


def test_fusion_keeps_the_fused_order_and_scores_units_by_similarity() -> None:
    ranked = FusionReranker().rerank(retrieval())
    assert [c.chunk_id for c in ranked] == [1, 2, 3]
    assert [c.score for c in ranked] == pytest.approx([0.2, 0.9, 0.6])
    assert [u.score for u in ranked[2].units] == pytest.approx([0.5, 0.6])


@pytest.mark.parametrize(
    ("table", "order"),
    [
        (
            {"alpha one": 3, "alpha two": 0, "beta one": 1, "gamma one": 2, "gamma two": 0},
            [1, 3, 2],
        ),
        (
            {"alpha one": 0, "alpha two": 1, "beta one": 3, "gamma one": 0, "gamma two": 2},
            [2, 3, 1],
        ),
    ],
)
def test_cross_encoder_orders_chunks_by_their_best_unit(table, order) -> None:
    reranker, model = cross_encoder(table)
    ranked = reranker.rerank(retrieval())
    assert [c.chunk_id for c in ranked] == order
    assert ranked[0].score == max(table.values())
    for c in ranked:
        assert c.score == max(table[u.display] for u in c.units)
        assert [u.score for u in c.units] == [table[u.display] for u in c.units]
    # every unit scored once, against the question
    assert sorted(model.pairs) == sorted(("which one?", t) for t in table)


def test_cross_encoder_without_units_scores_nothing() -> None:
    reranker, model = cross_encoder({})
    empty = retrieval()
    for c in empty.candidates:
        c.units = []
    assert [c.score for c in reranker.rerank(empty)] == [0.0, 0.0, 0.0]
    assert model.pairs == []


def test_build_reranker_by_name() -> None:
    assert isinstance(build_reranker("fusion"), FusionReranker)
    with pytest.raises(ValueError, match="RAG_CROSS_ENCODER_MODEL"):
        build_reranker("cross-encoder")
    with pytest.raises(ValueError, match="unknown reranker"):
        build_reranker("learned")
