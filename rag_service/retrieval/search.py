"""Hybrid retrieval: HNSW vector search and PostgreSQL full-text search, fused with RRF.

One SQL statement does both searches and the fusion; a second fetches the answer units of the
winning chunks with their cosine similarity to the question (computed in the database from
vectors stored at ingest, so nothing but the question is embedded per request).

Two round trips per question: the scan settings, every search (the question's and each part's)
and the term statistics go out together in one pipeline; the units of the winners follow in
one statement for all the question's vectors. Nothing counts the chunks per query: the chunk
count and the lexicon are kept current by triggers (migration 0004). psycopg prepares each
statement after RAG_DB_PREPARE_THRESHOLD executions, so the plans are made once per connection.
"""

from __future__ import annotations

import math
import time
from typing import Any, cast

import numpy as np
import psycopg

from rag_service.core.database import Database
from rag_service.retrieval.embedder import Embedder
from rag_service.retrieval.text import searchable
from rag_service.retrieval.types import Candidate, QueryTerms, Retrieval, UnitHit

RRF_K = 60
MAX_DF = 0.4  # full-text search ignores lexemes found in more than this share of chunks

# Full-text work bounded at any index size: above FTS_BOUNDED_ABOVE chunks the full-text side
# keeps only the question's rarest lexemes, as many as keep the rows they can match (the sum
# of their chunk counts, from the lexicon) within FTS_ROW_BUDGET; ts_rank_cd then ranks at
# most that many rows instead of a third of the index (bench/scale.py: 349k rows at 1M
# chunks, 3-4 s). A word in more chunks than the budget is common at that size and left to
# the vector side. At or below FTS_BOUNDED_ABOVE chunks every lexeme under MAX_DF is kept,
# the statement is the same as before, and so are the evaluations and the fitted weights.
FTS_BOUNDED_ABOVE = 20_000
FTS_ROW_BUDGET = 5_000
_QT_CTE = """
qt AS (
    -- OR of the question's lexemes, minus those in most chunks: ts_rank_cd has no IDF, so
    -- the corpus' common words would otherwise outrank the one rare word that matters.
    SELECT string_agg(quote_literal(t.lexeme), ' | ' ORDER BY t.pos)::tsquery AS tq
    FROM (
        SELECT q.lexeme, q.pos, s.n_chunks,
               sum(coalesce(l.ndoc, 0)) OVER (ORDER BY coalesce(l.ndoc, 0), q.lexeme) AS reach
        FROM unnest(tsvector_to_array(to_tsvector('english', %(qtext)s)))
             WITH ORDINALITY AS q(lexeme, pos)
        CROSS JOIN corpus_stats s
        LEFT JOIN lexicon l ON l.word = q.lexeme
        WHERE coalesce(l.ndoc, 0) <= %(max_df)s * s.n_chunks
    ) t
    WHERE t.n_chunks <= %(fts_above)s OR t.reach <= %(fts_budget)s
)"""
FTS_PARAMS = {"max_df": MAX_DF, "fts_above": FTS_BOUNDED_ABOVE, "fts_budget": FTS_ROW_BUDGET}
_HYBRID_SQL = (
    "WITH"
    + _QT_CTE
    + """, vec AS (
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
       tsvector_to_array(c.tsv), tsvector_to_array(to_tsvector('english', c.heading)),
       CASE WHEN coalesce((d.meta->>'title_generic')::boolean, false) THEN '{}'::text[]
            ELSE tsvector_to_array(to_tsvector('english', d.title)) END
FROM fused f JOIN chunks c ON c.id = f.id JOIN documents d ON d.id = c.document_id
ORDER BY f.rrf DESC, c.id
LIMIT %(k)s
"""
)

# HNSW is approximate, and its graph depends on the order rows were inserted: two indexes of
# the same documents can disagree on a near tie. Below this many chunks an exact scan costs
# under a millisecond, so small indexes (and every evaluation) answer the same way wherever
# they were built; above it the HNSW index serves, with ef_search HNSW_EF_SEARCH.
EXACT_BELOW = 20_000
# hnsw.ef_search above EXACT_BELOW: bench/scale.py measured recall@10 0.98 at 400 on 100k
# synthetic chunks for ~6 ms (0.78 at 40, pgvector's default), and at 1M 0.93 at 400 but 0.97
# at 800 for ~1-2 ms more (hybrid p50 9.9 ms); see the README's sizing table.
HNSW_EF_SEARCH = 800
_SCAN_SQL = """
SELECT set_config('hnsw.ef_search', %(ef)s, true),
       set_config('enable_indexscan',
                  CASE WHEN (SELECT n_chunks FROM corpus_stats) > %(exact_below)s THEN 'on'
                       ELSE 'off' END, true)
"""

# A unit's similarity is its best against any of the question's vectors (the whole question
# and each of its parts).
_UNITS_SQL = """
SELECT u.chunk_id, u.id, u.ordinal, u.kind, u.text, u.display, u.start_char, u.end_char,
       u.lexemes, (SELECT max((1 - (u.embedding <=> q.v))::float8) FROM unnest(%s::vector[]) q(v))
FROM units u WHERE u.chunk_id = ANY(%s) ORDER BY u.chunk_id, u.ordinal
"""

# Word by word, so the gate can tell which surface words (capitalised names, years) the corpus
# never mentions.
_QUESTION_SQL = """
SELECT w.word, lx.lexeme, coalesce(l.ndoc, 0), (SELECT n_chunks FROM corpus_stats)
FROM unnest(regexp_split_to_array(%s, '\\s+')) WITH ORDINALITY AS w(word, pos)
CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('english', w.word))) AS lx(lexeme)
LEFT JOIN lexicon l ON l.word = lx.lexeme
ORDER BY w.pos
"""


class HybridRetriever:
    def __init__(self, db: Database, embedder: Embedder, *, candidates: int = 20) -> None:
        self.db = db
        self.embedder = embedder
        self.n_candidates = candidates

    def retrieve(
        self,
        question: str,
        k: int,
        search_text: str | None = None,
        parts: tuple[str, ...] = (),
    ) -> Retrieval:
        """Embed `question`; match full text (and weigh terms) on `search_text` when given
        (the question plus a profile's synonyms). Each of `parts` (the sides of a comparison,
        the sub-questions of a two-part question) also searches on its own, so each part's
        evidence is among the candidates even when the whole question favours one side; a
        unit's similarity is then its best against the question or any part."""
        qtext = searchable(search_text or question)
        t0 = time.perf_counter()
        vectors = self.embedder.embed([question, *parts])
        qvec = vectors[0]
        t1 = time.perf_counter()
        n = max(k, self.n_candidates)
        # Autocommit, the transaction written out: BEGIN goes in the first pipeline and
        # COMMIT with the units' statement, two round trips in all (psycopg's own BEGIN and
        # COMMIT would be two more). The scan settings are local to the transaction.
        with self.db.connection(autocommit=True) as conn:
            with conn.pipeline():
                conn.execute("BEGIN")
                ef = str(max(HNSW_EF_SEARCH, n))
                conn.execute(_SCAN_SQL, {"ef": ef, "exact_below": EXACT_BELOW})
                main = self._search(conn, qtext, qvec, n, k)
                per_part = max(3, k // 2)
                others = [
                    self._search(conn, searchable(part), pvec, n, per_part)
                    for part, pvec in zip(parts, vectors[1:], strict=True)
                ]
                terms_cur = conn.execute(_QUESTION_SQL, (qtext,))
            cands = self._candidates(main)
            by_id = {c.chunk_id: c for c in cands}
            for cur in others:
                for c in self._candidates(cur):
                    if c.chunk_id not in by_id:
                        by_id[c.chunk_id] = c
                        cands.append(c)
            with conn.pipeline():
                units = conn.execute(_UNITS_SQL, (list(vectors), list(by_id))) if cands else None
                conn.execute("COMMIT")
            for u in units or ():
                by_id[u[0]].units.append(
                    UnitHit(u[1], u[0], u[2], u[3], u[4], u[5], u[6], u[7], frozenset(u[8]), u[9])
                )
            terms = self._terms(conn, terms_cur.fetchall())
        timings = {"embed": (t1 - t0) * 1000, "search": (time.perf_counter() - t1) * 1000}
        return Retrieval(question, qvec, terms, cands, timings)

    @staticmethod
    def _search(
        conn: psycopg.Connection, qtext: str, qvec: np.ndarray, n: int, k: int
    ) -> psycopg.Cursor[tuple[Any, ...]]:
        """Send one hybrid search (in the caller's pipeline); the cursor is read later."""
        return conn.execute(
            _HYBRID_SQL,
            {"qtext": qtext, "qvec": qvec, "n": n, "k": k, "rrf_k": RRF_K, **FTS_PARAMS},
        )

    @staticmethod
    def _candidates(cur: psycopg.Cursor[tuple[Any, ...]]) -> list[Candidate]:
        rows = cur.fetchall()
        return [
            # the twelve plain fields one by one: mypy cannot count a starred slice
            Candidate(
                *(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11]),
                frozenset(r[12]),
                frozenset(r[13]),
                title_lexemes=frozenset(r[14]),
            )
            for r in rows
        ]

    @staticmethod
    def _terms(conn: psycopg.Connection, rows: list[tuple[Any, ...]]) -> QueryTerms:
        n = (
            int(rows[0][3])
            if rows
            # corpus_stats always holds its one row (a missing row fails here, as before)
            else int(
                cast(tuple[Any, ...], conn.execute("SELECT n_chunks FROM corpus_stats").fetchone())[
                    0
                ]
            )
        )
        idf: dict[str, float] = {}
        surface: dict[str, str] = {}
        unknown = set()
        for word, lexeme, df, _ in rows:
            # Smoothed, uncapped: a cap ties every rare word, and the rarest is the one that
            # tells passages apart (the learned models weigh coverage, not raw IDF).
            idf[lexeme] = math.log((n + 1) / (df + 1)) + 0.1
            surface.setdefault(lexeme, word)
            if df == 0:
                unknown.add(lexeme)
        return QueryTerms(idf=idf, unknown=frozenset(unknown), n_chunks=n, surface=surface)
