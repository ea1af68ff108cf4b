"""An upload's cost does not grow with the index (issue 16): the same document uploaded into
the bundled index and into one many times larger reads and writes the same number of rows.

Counted, not timed: PostgreSQL's counters (rows read by sequential scans, entries read by index
scans, rows inserted, updated, deleted) over every table, before and after one upload. Recomputing
the lexicon over every chunk, or counting the chunks, would read rows in proportion to the
index and fail this."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

DOC = (
    b"# Quarterly allowance\n\nThe quarterly learning allowance is 1,234 pounds per engineer.\n\n"
    b"## Eligibility\n\nEvery engineer on a permanent contract may claim it after probation.\n"
)
GROWTH = 4000  # synthetic chunks added between the two uploads (the bundled index has ~200)

_COUNTERS = """
SELECT coalesce(sum(seq_tup_read), 0)::bigint
       + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes)::bigint,
       coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)::bigint,
       coalesce(sum(n_tup_ins) FILTER (WHERE relname = 'chunks'), 0)::bigint
FROM pg_stat_user_tables
"""


def counters(db) -> tuple[int, int]:
    """(rows read, rows written) so far. Read on the pool's only connection, the one the
    upload ran on: it sends its own counters first, so nothing is still on its way."""
    with db.connection() as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(_COUNTERS).fetchone()
        conn.commit()
    assert row is not None
    return int(row[0]), int(row[1])


def upload_cost(own, source: str) -> tuple[int, int]:
    """Rows read and written by one upload of DOC under `source`."""
    read0, written0 = counters(own.db)
    outcome = own.ingestor.ingest_bytes(source, DOC)
    assert outcome.status == "added"
    read1, written1 = counters(own.db)
    return read1 - read0, written1 - written0


def grow(url: str, n: int) -> None:
    """`n` synthetic chunks with their own words and vectors, through the same triggers."""
    with psycopg.connect(url, autocommit=True) as conn:
        doc = conn.execute(
            "INSERT INTO documents (source, title, sha256, bytes, content)"
            " VALUES ('synthetic', 'synthetic', 'x', 1, 'x') RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO chunks (document_id, ordinal, text, search_text, start_char, end_char,"
            " embedding)"
            " SELECT %s, g, 'filler', 'filler term' || g || ' zeta' || (g %% 97), 0, 6,"
            "  (SELECT array_agg(random() - 0.5) FROM generate_series(1, 384) WHERE g > 0)::vector"
            " FROM generate_series(1, %s) g",
            (doc, n),
        )


@pytest.fixture()
def own(settings) -> Iterator:
    """Services on a one-connection pool, so every statement of an upload runs on the
    connection that then reads the counters."""
    from rag_service.services import open_services

    svc = open_services(settings.model_copy(update={"pool_max_size": 1}))
    yield svc
    svc.close()


def test_upload_reads_and_writes_the_same_rows_whatever_the_index_size(own, database_url) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in ("documents", "chunks", "units", "lexicon", "corpus_stats"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
        small = conn.execute("SELECT n_chunks FROM corpus_stats").fetchone()[0]  # type: ignore[index]
    upload_cost(own, "warm-up.md")  # first statements on a connection read the catalogues
    read_small, written_small = upload_cost(own, "allowance-a.md")
    grow(database_url, GROWTH)
    time.sleep(1)  # the growing session's counters arrive as it exits, not when it closes
    read_large, written_large = upload_cost(own, "allowance-b.md")
    with psycopg.connect(database_url) as conn:
        large, exact = conn.execute(
            "SELECT (SELECT n_chunks FROM corpus_stats), (SELECT count(*) FROM chunks)"
        ).fetchone()  # type: ignore[misc]
    assert large == exact and large >= small + GROWTH
    assert written_small > 0
    assert written_large == written_small
    # lookups by key may walk a slightly deeper index; nothing proportional to the index
    assert read_large <= read_small + 20, (read_small, read_large, small, large)


_LEXICON_VS_TS_STAT = """
SELECT (SELECT count(*) FROM (SELECT word, ndoc FROM lexicon
                              EXCEPT SELECT word, ndoc FROM ts_stat('SELECT tsv FROM chunks')) a),
       (SELECT count(*) FROM (SELECT word, ndoc FROM ts_stat('SELECT tsv FROM chunks')
                              EXCEPT SELECT word, ndoc FROM lexicon) b),
       (SELECT n_chunks FROM corpus_stats) - (SELECT count(*) FROM chunks)
"""


def test_triggers_keep_the_statistics_equal_to_a_full_recount(services) -> None:
    """What the materialised view computed, kept by the writes: after an add, a replace and a
    delete the lexicon equals ts_stat over every chunk and the count equals count(*)."""
    w = services.ingestor
    w.ingest_bytes("stats.md", b"# Stats\nZebrafish and quokka numbers rose.\n")
    w.ingest_bytes("stats.md", b"# Stats\nNarwhal and axolotl numbers fell.\n")
    w.ingest_bytes("other.md", b"# Other\nNarwhal sightings are rare.\n")
    with services.db.connection() as conn:
        first = conn.execute("SELECT source FROM documents ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
    assert w.delete(first)
    with services.db.connection() as conn:
        assert conn.execute(_LEXICON_VS_TS_STAT).fetchone() == (0, 0, 0)
        assert conn.execute("SELECT ndoc FROM lexicon WHERE word = 'narwhal'").fetchone() == (2,)
        assert conn.execute("SELECT 1 FROM lexicon WHERE word = 'zebrafish'").fetchone() is None
