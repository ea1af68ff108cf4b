"""The full-text side's work is bounded whatever the index size (issue 16): above
FTS_BOUNDED_ABOVE chunks it keeps only the question's rarest lexemes within FTS_ROW_BUDGET
matching rows, and at the bundled corpus' size the statement answers exactly as before.

Counted, not timed: the rows the full-text scan of `chunks` returns, from EXPLAIN (ANALYZE)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector

from rag_service.retrieval.search import (
    _HYBRID_SQL,
    _QT_CTE,
    FTS_BOUNDED_ABOVE,
    FTS_PARAMS,
    FTS_ROW_BUDGET,
    RRF_K,
)
from rag_service.retrieval.text import searchable

COMMON = FTS_ROW_BUDGET + 2_000  # chunks holding "kestrel": over the budget, under MAX_DF
RARE = 40  # chunks holding "quokka"
FILLER = FTS_BOUNDED_ABOVE + 5_000  # synthetic chunks: the index is above the bounded size
QUESTION = "kestrel quokka"
UNBOUNDED = {**FTS_PARAMS, "fts_above": 2**62}  # every lexeme under MAX_DF, as before the budget
# The statement as it was before the budget (its full-text terms), to compare answers with.
_BEFORE_QT = """
qt AS (
    SELECT string_agg(quote_literal(q.lexeme), ' | ')::tsquery AS tq
    FROM unnest(to_tsvector('english', %(qtext)s)) AS q
    LEFT JOIN lexicon l ON l.word = q.lexeme
    WHERE coalesce(l.ndoc, 0) <= %(max_df)s * (SELECT n_chunks FROM corpus_stats)
)"""
BEFORE_SQL = _HYBRID_SQL.replace(_QT_CTE, _BEFORE_QT)


@pytest.fixture()
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url) as c:
        register_vector(c)
        yield c


def grow(conn: psycopg.Connection) -> None:
    """FILLER chunks with their own words; COMMON of them hold a frequent word, RARE a rare one.
    The HNSW index is dropped first (this database is the test's own copy): maintaining it row
    by row would take most of the test's time, and the vector side is not what is counted."""
    conn.execute("DROP INDEX chunks_embedding_hnsw")
    doc = conn.execute(
        "INSERT INTO documents (source, title, sha256, bytes, content)"
        " VALUES ('synthetic', 'synthetic', 'x', 1, 'x') RETURNING id"
    ).fetchone()[0]  # type: ignore[index]
    conn.execute(
        "INSERT INTO chunks (document_id, ordinal, text, search_text, start_char, end_char,"
        " embedding)"
        " SELECT %(doc)s, g, 'filler', 'filler term' || g"
        "   || CASE WHEN g %% 3 = 0 AND g / 3 <= %(common)s THEN ' kestrel' ELSE '' END"
        "   || CASE WHEN g %% 5 = 1 AND g / 5 < %(rare)s THEN ' quokka' ELSE '' END, 0, 6,"
        "  (SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE g > 0)::vector"
        " FROM generate_series(1, %(n)s) g",
        {"doc": doc, "n": FILLER, "common": COMMON, "rare": RARE},
    )
    conn.execute("ANALYZE chunks")
    conn.commit()


def fts_rows(conn: psycopg.Connection, params: dict[str, Any]) -> int:
    """Rows the full-text scan of `chunks` returned in one run of the hybrid statement."""
    plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + _HYBRID_SQL, params).fetchone()[0]  # type: ignore[index]
    conn.rollback()
    found: list[int] = []

    def walk(node: dict[str, Any]) -> None:
        cond = " ".join(str(node.get(k, "")) for k in ("Recheck Cond", "Filter", "Index Cond"))
        if node.get("Relation Name") == "chunks" and "@@" in cond:
            found.append(int(node["Actual Rows"]) * int(node.get("Actual Loops", 1)))
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan[0]["Plan"])
    assert len(found) == 1, plan  # exactly one full-text scan of chunks
    return found[0]


def hybrid(
    conn: psycopg.Connection, params: dict[str, Any], sql: str = _HYBRID_SQL
) -> list[tuple[Any, ...]]:
    rows = conn.execute(sql, params).fetchall()
    conn.rollback()
    return rows


def params(embedder: Any, question: str, fts: dict[str, Any], n: int = 20) -> dict[str, Any]:
    return {
        "qtext": searchable(question),
        "qvec": np.asarray(embedder.embed([question])[0]),
        "n": n,
        "k": 2 * n,  # every fused candidate
        "rrf_k": RRF_K,
        **fts,
    }


def test_full_text_reads_at_most_the_budget_above_the_bounded_size(conn, embedder) -> None:
    grow(conn)
    n_chunks, common, rare = conn.execute(
        "SELECT (SELECT n_chunks FROM corpus_stats),"
        " (SELECT ndoc FROM lexicon WHERE word = 'kestrel'),"
        " (SELECT ndoc FROM lexicon WHERE word = 'quokka')"
    ).fetchone()  # type: ignore[misc]
    assert n_chunks > FTS_BOUNDED_ABOVE
    assert FTS_ROW_BUDGET < common < FTS_PARAMS["max_df"] * n_chunks and rare == RARE
    conn.commit()

    before = params(embedder, QUESTION, UNBOUNDED, n=RARE)
    bounded = params(embedder, QUESTION, FTS_PARAMS, n=RARE)
    assert fts_rows(conn, before) >= common  # what the statement read before the budget
    assert fts_rows(conn, bounded) <= FTS_ROW_BUDGET
    assert fts_rows(conn, bounded) == RARE  # the rare word is kept, the common one dropped
    tq = conn.execute("WITH" + _QT_CTE + " SELECT tq::text FROM qt", bounded).fetchone()[0]  # type: ignore[index]
    assert "'quokka'" in tq and "'kestrel'" not in tq
    # every full-text candidate holds the rare word: the bounded side still finds it
    found = [r for r in hybrid(conn, bounded) if r[9] is not None]
    assert len(found) == RARE
    assert all("quokka" in r[5] or "quokka" in r[12] for r in found)


def test_a_small_index_answers_exactly_as_before(conn, embedder, dev_rows) -> None:
    n_chunks = conn.execute("SELECT n_chunks FROM corpus_stats").fetchone()[0]  # type: ignore[index]
    assert n_chunks <= FTS_BOUNDED_ABOVE
    matched = 0
    for row in dev_rows[:15]:
        question = row["question"]
        before = hybrid(conn, params(embedder, question, FTS_PARAMS), BEFORE_SQL)
        assert hybrid(conn, params(embedder, question, FTS_PARAMS)) == before
        matched += sum(r[9] is not None for r in before)
    # the questions' words do reach the full-text side (the comparison is not of two empties)
    assert matched > 0
    # and on the small index a tiny budget would change the answers: the size threshold, not
    # the budget, is what keeps the statement as before
    tiny = {**FTS_PARAMS, "fts_budget": 1, "fts_above": 0}
    changed = [
        hybrid(conn, params(embedder, r["question"], tiny))
        != hybrid(conn, params(embedder, r["question"], FTS_PARAMS))
        for r in dev_rows[:15]
    ]
    assert any(changed)
