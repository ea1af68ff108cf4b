"""Hybrid retrieval: HNSW vector search and PostgreSQL full-text search, fused with RRF.

One SQL statement does both searches and the fusion; a second fetches the answer units of the
winning chunks with their cosine similarity to the question (computed in the database from
vectors stored at ingest, so nothing but the question is embedded per request).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from rag_service.core.database import Database
from rag_service.retrieval.embedder import Embedder
from rag_service.retrieval.text import searchable

RRF_K = 60
MAX_DF = 0.4  # full-text search ignores lexemes found in more than this share of chunks
IDF_CAP = 2.0

_HYBRID_SQL = """
WITH qt AS (
    -- OR of the question's lexemes, minus those in most chunks: ts_rank_cd has no IDF, so
    -- "ai" and "engineer" would otherwise outrank the one rare word that matters.
    SELECT string_agg(quote_literal(q.lexeme), ' | ')::tsquery AS tq
    FROM unnest(to_tsvector('english', %(qtext)s)) AS q
    LEFT JOIN lexicon l ON l.word = q.lexeme
    WHERE coalesce(l.ndoc, 0) <= %(max_df)s * (SELECT count(*) FROM chunks)
), vec AS (
    SELECT id, row_number() OVER () AS r FROM (
        SELECT id FROM chunks ORDER BY embedding <=> %(qvec)s LIMIT %(n)s
    ) s
), fts AS (
    SELECT id, row_number() OVER () AS r FROM (
        SELECT c.id FROM chunks c, qt WHERE c.tsv @@ qt.tq
        ORDER BY ts_rank_cd(c.tsv, qt.tq) DESC, c.id LIMIT %(n)s
    ) s
), fused AS (
    SELECT coalesce(vec.id, fts.id) AS id, vec.r AS vr, fts.r AS fr,
           coalesce(1.0 / (%(rrf_k)s + vec.r), 0) + coalesce(1.0 / (%(rrf_k)s + fts.r), 0) AS rrf
    FROM vec FULL JOIN fts ON vec.id = fts.id
)
SELECT c.id, c.document_id, d.source, d.title, c.heading, c.text, c.start_char, c.end_char,
       f.vr, f.fr, f.rrf::float8, (1 - (c.embedding <=> %(qvec)s))::float8 AS dense,
       tsvector_to_array(c.tsv), tsvector_to_array(to_tsvector('english', c.heading))
FROM fused f JOIN chunks c ON c.id = f.id JOIN documents d ON d.id = c.document_id
ORDER BY f.rrf DESC, c.id
LIMIT %(k)s
"""

_UNITS_SQL = """
SELECT chunk_id, id, ordinal, kind, text, display, start_char, end_char, lexemes,
       (1 - (embedding <=> %s))::float8
FROM units WHERE chunk_id = ANY(%s) ORDER BY chunk_id, ordinal
"""

# Word by word, so the gate can tell which surface words (capitalised names, years) the corpus
# never mentions.
_QUESTION_SQL = """
SELECT w.word, lx.lexeme, coalesce(l.ndoc, 0), (SELECT count(*) FROM chunks)
FROM unnest(regexp_split_to_array(%s, '\\s+')) WITH ORDINALITY AS w(word, pos)
CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('english', w.word))) AS lx(lexeme)
LEFT JOIN lexicon l ON l.word = lx.lexeme
ORDER BY w.pos
"""


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


class HybridRetriever:
    def __init__(self, db: Database, embedder: Embedder, *, candidates: int = 20) -> None:
        self.db = db
        self.embedder = embedder
        self.n_candidates = candidates

    def retrieve(self, question: str, k: int) -> Retrieval:
        qtext = searchable(question)
        t0 = time.perf_counter()
        qvec = self.embedder.embed([question])[0]
        t1 = time.perf_counter()
        n = max(k, self.n_candidates)
        with self.db.connection() as conn:
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(40, n)),))
            rows = conn.execute(
                _HYBRID_SQL,
                {"qtext": qtext, "qvec": qvec, "n": n, "k": k, "rrf_k": RRF_K, "max_df": MAX_DF},
            ).fetchall()
            cands = [
                Candidate(
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6],
                    r[7],
                    r[8],
                    r[9],
                    r[10],
                    r[11],
                    frozenset(r[12]),
                    frozenset(r[13]),
                )
                for r in rows
            ]
            by_id = {c.chunk_id: c for c in cands}
            if cands:
                for u in conn.execute(_UNITS_SQL, (qvec, list(by_id))):
                    by_id[u[0]].units.append(
                        UnitHit(
                            u[1], u[0], u[2], u[3], u[4], u[5], u[6], u[7], frozenset(u[8]), u[9]
                        )
                    )
            terms = self._terms(conn, qtext)
            conn.commit()
        timings = {"embed": (t1 - t0) * 1000, "search": (time.perf_counter() - t1) * 1000}
        return Retrieval(question, qvec, terms, cands, timings)

    @staticmethod
    def _terms(conn, qtext: str) -> QueryTerms:
        rows = conn.execute(_QUESTION_SQL, (qtext,)).fetchall()
        n = (
            int(rows[0][3])
            if rows
            else int(conn.execute("SELECT count(*) FROM chunks").fetchone()[0])
        )
        idf: dict[str, float] = {}
        surface: dict[str, str] = {}
        unknown = set()
        for word, lexeme, df, _ in rows:
            # Capped: in a small index one stray occurrence would make a word dominate.
            idf[lexeme] = min(IDF_CAP, math.log((n + 1) / (df + 0.5)))
            surface.setdefault(lexeme, word)
            if df == 0:
                unknown.add(lexeme)
        return QueryTerms(idf=idf, unknown=frozenset(unknown), n_chunks=n, surface=surface)
