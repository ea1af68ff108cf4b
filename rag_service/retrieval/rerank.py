"""Alternative rerankers that reorder the answer units a generator reads.

The default ranking is the learned selector (`rag_service.ranking`); these are for comparison
(`FusionReranker`, the plain RRF order) and for users who have a cross-encoder
(`CrossEncoderReranker`, any sentence-transformers CrossEncoder by name or local path). The
calibrated gate always reads the learned selector's scores.
"""

from __future__ import annotations

from typing import Protocol

from rag_service.retrieval.types import Candidate, Retrieval


class Reranker(Protocol):
    name: str

    def rerank(self, retrieval: Retrieval) -> list[Candidate]:
        """Set `score` on every candidate and unit; return candidates best first."""
        ...


def _finish(cands: list[Candidate]) -> list[Candidate]:
    for c in cands:
        c.score = max((u.score for u in c.units), default=0.0)
    return sorted(cands, key=lambda c: -c.score)


class FusionReranker:
    """Plain RRF order (the baseline): units by bi-encoder similarity alone."""

    name = "fusion"

    def rerank(self, retrieval: Retrieval) -> list[Candidate]:
        for c in retrieval.candidates:
            for u in c.units:
                u.score = u.dense
        _finish(retrieval.candidates)
        return sorted(retrieval.candidates, key=lambda c: -c.fused)


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder (by name or local path) scoring question–unit pairs."""

    name = "cross-encoder"

    def __init__(self, model: str) -> None:
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(model, device="cpu")

    def rerank(self, retrieval: Retrieval) -> list[Candidate]:
        units = [u for c in retrieval.candidates for u in c.units]
        if units:
            scores = self._model.predict([(retrieval.question, u.display) for u in units])
            for u, s in zip(units, scores, strict=True):
                u.score = float(s)
        return _finish(retrieval.candidates)


def build_reranker(kind: str, cross_encoder_model: str | None = None) -> Reranker:
    if kind == "cross-encoder":
        if not cross_encoder_model:
            raise ValueError("RAG_RERANKER=cross-encoder needs RAG_CROSS_ENCODER_MODEL")
        return CrossEncoderReranker(cross_encoder_model)
    if kind == "fusion":
        return FusionReranker()
    raise ValueError(f"unknown reranker {kind!r}; the default is the learned selector")
