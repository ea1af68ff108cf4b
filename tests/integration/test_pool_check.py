"""The pool's checkout check (core.database.IdleCheck): no round trip for a connection in
use, yet a connection the server has dropped is never handed out, and one idle for long is
checked with a query. The turn written by every ask commits without waiting for the WAL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from rag_service.core.database import Database


@pytest.fixture()
def db(settings) -> Iterator[Database]:
    database = Database(settings.model_copy(update={"pool_max_size": 1}))
    database.open(embedding_model=settings.embedding_model, embedding_dim=384)
    yield database
    database.close()


def backend_pid(db: Database) -> int:
    with db.connection() as conn:
        return int(conn.info.backend_pid)


def test_a_connection_in_use_is_not_checked_with_a_query(db: Database) -> None:
    first = backend_pid(db)
    before = db.check.round_trips
    for _ in range(20):
        assert backend_pid(db) == first  # the pool's one connection, reused
    assert db.check.round_trips == before


def test_a_connection_the_server_dropped_is_not_handed_out(db: Database, settings) -> None:
    dropped = backend_pid(db)
    with psycopg.connect(settings.database_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (dropped,)).fetchone() == (True,)
        deadline = time.monotonic() + 5
        while admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (dropped,)
        ).fetchone() != (0,):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    before = db.check.round_trips
    with db.connection() as conn:  # no error: the dead one was found and replaced
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.backend_pid != dropped
    assert db.check.round_trips > before  # its socket said so; then the query check


def test_a_connection_idle_for_long_is_checked_with_a_query(db: Database) -> None:
    backend_pid(db)
    db.check.idle_s = 0.05
    time.sleep(0.1)
    before = db.check.round_trips
    backend_pid(db)
    assert db.check.round_trips == before + 1


def test_a_failed_connection_starts_a_sweep_of_the_pool(db: Database, settings) -> None:
    """A connection that fails in use (here: terminated while checked out) is discarded,
    the request gets a 503-class error, and the next request gets a working connection."""
    from rag_service.core.errors import DatabaseUnavailable

    with pytest.raises(DatabaseUnavailable), db.connection() as conn:
        with psycopg.connect(settings.database_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        conn.execute("SELECT 1")
    with db.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_turn_commits_without_waiting_for_the_wal_and_is_seen_at_once(services) -> None:
    from rag_service.conversations import Conversation, ConversationStore

    store = ConversationStore(services.db)
    conv = Conversation("6f1d3c1e-6c1b-4d55-9a55-1f0f3c2b9a01")
    body = {"answer": "a", "answerable": True, "reason": "supported", "citations": []}
    store.add_turn(conv, "", "first question?", body)
    with services.db.connection() as conn:
        # the setting was local to the turn's transaction: the pooled session keeps the default
        assert conn.execute(
            "SELECT setting = reset_val FROM pg_settings WHERE name = 'synchronous_commit'"
        ).fetchone() == (True,)
    again = store.open(conv.id, "")
    assert again.previous == ["first question?"]
    store.add_turn(again, "", "second question?", body)
    assert [t["question"] for t in store.get(conv.id, "")["turns"]] == [
        "first question?",
        "second question?",
    ]


def test_an_autocommit_block_gives_the_connection_back_in_transaction_mode(db: Database) -> None:
    """`connection(autocommit=True)`: no transaction of psycopg's own; whatever the block
    leaves (an open transaction, an aborted one), the pool gets the connection back idle and
    in transaction mode."""
    from rag_service.core.errors import InvalidInput

    with db.connection(autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (x int)")  # a temp table lives for the session
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (1)")  # left open: rolled back
    with db.connection() as conn:
        assert conn.autocommit is False
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
    with pytest.raises(InvalidInput), db.connection(autocommit=True) as conn:  # 22012
        conn.execute("BEGIN")
        conn.execute("SELECT 1 / 0")
    with db.connection() as conn:
        assert conn.autocommit is False
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        conn.execute("INSERT INTO t VALUES (2)")
        conn.rollback()  # still a transaction of psycopg's: it rolls back
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)


def test_a_failed_turn_leaves_nothing_behind(services) -> None:
    """The turn's pipeline is one transaction: the conversation row written before a
    failing statement is rolled back with it."""
    from rag_service.conversations import Conversation, ConversationStore
    from rag_service.core.errors import InvalidInput

    store = ConversationStore(services.db)
    conv = Conversation("0b6c9d9e-3d5e-4c1a-8f0e-2a7d1c9b5e10")
    bad = {"answer": "NUL \x00 refused", "answerable": True, "reason": "x", "citations": []}
    with pytest.raises(InvalidInput):
        store.add_turn(conv, "", "question?", bad)
    with services.db.connection() as conn:
        assert conn.execute(
            "SELECT count(*) FROM conversations WHERE id = %s", (conv.id,)
        ).fetchone() == (0,)
