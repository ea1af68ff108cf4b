"""Shared dataclasses of the ask path: what retrieval finds and later stages read and score."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class UnitHit:
    id: int
    chunk_id: int
    ordinal: int
    kind: str
    text: str
    display: str
    start: int
    end: int
    lexemes: frozenset[str]
    dense: float
    score: float = 0.0


@dataclass
class Candidate:
    chunk_id: int
    document_id: int
    source: str
    title: str
    heading: str
    text: str
    start: int
    end: int
    vector_rank: int | None
    text_rank: int | None
    fused: float
    dense: float
    lexemes: frozenset[str]
    heading_lexemes: frozenset[str]
    units: list[UnitHit] = field(default_factory=list)
    score: float = 0.0
    title_lexemes: frozenset[str] = frozenset()  # empty when the title is generic


@dataclass
class QueryTerms:
    """The question's lexemes with their inverse document frequency over chunks."""

    idf: dict[str, float]
    unknown: frozenset[str]  # lexemes the index never contains
    n_chunks: int
    surface: dict[str, str] = field(default_factory=dict)  # lexeme -> the word it came from

    def weight(self, lexemes: set[str] | frozenset[str]) -> float:
        return sum(w for t, w in self.idf.items() if t in lexemes)

    @property
    def total(self) -> float:
        return sum(self.idf.values())


@dataclass
class Retrieval:
    question: str
    vector: np.ndarray
    terms: QueryTerms
    candidates: list[Candidate]
    timings_ms: dict[str, float] = field(default_factory=dict)
