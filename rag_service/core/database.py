"""Database access: the server (embedded or external), the connection pool and migrations."""

from __future__ import annotations

import logging
import select
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool, PoolTimeout

from rag_service.core.config import Settings
from rag_service.core.embedded import DataDirInUse, EmbeddedPostgres, attach_uri
from rag_service.core.errors import (
    Conflict,
    DatabaseUnavailable,
    EmbeddingModelMismatch,
    InvalidInput,
    RagError,
)

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process that migrates this database.
MIGRATION_LOCK_KEY = 7_310_411_202

# A pooled connection idle for longer than this is checked with a round trip before it is
# handed out; one used more recently is checked only by looking at its socket (see
# IdleCheck). Long enough that a busy service never pays the round trip, short enough that a
# connection dropped silently (a NAT or firewall timeout sends nothing) is found.
CHECK_IDLE_S = 30.0


class IdleCheck:
    """The pool's check on checkout, without a round trip for a connection in use.

    psycopg_pool's `check_connection` sends an empty query on every checkout: a round trip and
    two context switches per checkout, three per question. This check looks at the socket
    instead: an idle connection has nothing to read, so a readable socket means the server
    sent something unasked (a FATAL before closing it: server restart, terminated backend,
    idle-session timeout) or closed it, and only then, or when the connection has been idle
    for more than `idle_s` (a silent drop), is the round-trip check made. A connection that
    fails anyway is discarded when returned (psycopg marks it broken), and
    `Database.connection` then has the pool check the others in the background."""

    def __init__(self, idle_s: float = CHECK_IDLE_S) -> None:
        self.idle_s = idle_s
        self.round_trips = 0  # checks made with a query (for tests and curiosity)
        self._returned: weakref.WeakKeyDictionary[psycopg.Connection, float] = (
            weakref.WeakKeyDictionary()
        )

    def returned(self, conn: psycopg.Connection) -> None:
        """Note that `conn` was just used (called as it goes back to the pool)."""
        self._returned[conn] = time.monotonic()

    def __call__(self, conn: psycopg.Connection) -> None:
        last = self._returned.get(conn)
        if last is not None and time.monotonic() - last < self.idle_s and not _readable(conn):
            return
        self.round_trips += 1
        ConnectionPool.check_connection(conn)


def _leave_autocommit(conn: psycopg.Connection) -> None:
    """Back to the pool's default (transactions); a connection that cannot be brought back
    to it is closed, so the pool discards it rather than hand it out in autocommit."""
    if conn.closed:
        return
    try:
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            conn.rollback()
        conn.autocommit = False
    except psycopg.Error:
        conn.close()


def _readable(conn: psycopg.Connection) -> bool:
    """Whether the server sent anything on an idle connection (or closed it)."""
    try:
        ready, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):  # closed: fileno() fails
        return True
    return bool(ready)


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) of every migration shipped with the package, in order."""
    folder = resources.files("rag_service.core") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


def migrate(conn: psycopg.Connection, *, embedding_model: str, embedding_dim: int) -> list[str]:
    """Apply pending migrations and record the embedding model; return the versions applied.

    Runs in one transaction under an advisory lock, so replicas starting together migrate once.
    Refuses (EmbeddingModelMismatch) an index built with another embedding model or dimension.
    """
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            conn.execute(sql.replace("{dim}", str(int(embedding_dim))))
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied_now.append(version)
        row = conn.execute("SELECT embedding_model, embedding_dim FROM index_meta").fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO index_meta (embedding_model, embedding_dim) VALUES (%s, %s)",
                (embedding_model, embedding_dim),
            )
        elif (row[0], row[1]) != (embedding_model, embedding_dim):
            raise EmbeddingModelMismatch(
                f"the index was built with embedding model {row[0]!r} ({row[1]} dimensions), "
                f"but the service is configured with {embedding_model!r} ({embedding_dim}); "
                "use the same model, or re-index into an empty database"
            )
    if applied_now:
        log.info("applied migrations %s", applied_now)
    return applied_now


def database_error(exc: psycopg.Error) -> RagError | None:
    """The service's error for a PostgreSQL failure, chosen by its class; None for a failure
    that is our bug (a 500). PostgreSQL's own text never reaches the client: it can quote the
    input back, and it names tables, columns and settings. `Database.connection()` raises
    what this returns; the API maps any psycopg error met outside it the same way."""
    state = exc.sqlstate or ""
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable("the database is busy or unreachable; retry shortly")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return DatabaseUnavailable("the database took too long to answer; retry shortly")
    if (
        state.startswith(("22", "54"))  # data exception, program limit
        or (not state and isinstance(exc, psycopg.DataError))  # refused by psycopg (NUL)
    ):
        return InvalidInput("the input cannot be stored: a value is too long or malformed")
    if state.startswith("23"):  # integrity: a concurrent change won a race
        return Conflict("the change conflicts with a concurrent one; retry")
    if state.startswith(("40", "53", "55", "57", "08")) or (
        not state and isinstance(exc, psycopg.OperationalError)
    ):  # rolled back, out of resources, lock, shutting down, connection lost
        return DatabaseUnavailable("the database is unavailable; retry shortly")
    return None


class Database:
    """Owns the server process (when embedded) and the pool. `open()` once, `close()` once.

    An embedded server is supervised: a thread checks the postmaster every
    SUPERVISE_INTERVAL_S; when it has died, requests are refused at once with 503 +
    Retry-After (not after a pool timeout), the server is started again (crash recovery keeps
    every committed transaction) and a fresh pool replaces the one whose connections died.
    With `attach=True` (tools such as `rag-ingest`) a data directory owned by a running service
    is used as a guest: connected to, never supervised or stopped."""

    SUPERVISE_INTERVAL_S = 0.5

    def __init__(
        self, settings: Settings, *, embedded_delete_on_stop: bool = False, attach: bool = False
    ) -> None:
        self.settings = settings
        self._embedded: EmbeddedPostgres | None = None
        self._delete_on_stop = embedded_delete_on_stop
        self._attach = attach
        self._pool: ConnectionPool | None = None
        self.url: str | None = None
        self._down = threading.Event()
        self._closing = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.restarts = 0
        self.check = IdleCheck()
        self._sweeping = threading.Lock()

    def open(self, *, embedding_model: str, embedding_dim: int) -> None:
        if self.settings.database_url:
            self.url = self.settings.database_url
        else:
            embedded = EmbeddedPostgres(self.settings.pgdata, delete_on_stop=self._delete_on_stop)
            try:
                self.url = embedded.start()
                self._embedded = embedded
            except DataDirInUse:
                if not self._attach:
                    raise
                self.url = attach_uri(self.settings.pgdata)
                log.info("embedded postgres: attached to the server of a running service")
        try:
            with psycopg.connect(
                self.url, autocommit=True, connect_timeout=self.settings.db_connect_timeout_s
            ) as conn:
                migrate(conn, embedding_model=embedding_model, embedding_dim=embedding_dim)
        except psycopg.OperationalError as exc:
            self.close()
            # start-up, to the operator: PostgreSQL's reason, less any password in it
            reason = str(exc).replace(self.url or "", "<DATABASE_URL>").splitlines()[0]
            raise DatabaseUnavailable(f"cannot reach PostgreSQL: {reason}") from exc
        except Exception:
            self.close()
            raise
        self._pool = self._new_pool()
        if self._embedded is not None:
            with psycopg.connect(self.url, autocommit=True) as conn:
                # after a crash, one syncfs instead of an fsync per file: seconds sooner back
                conn.execute("ALTER SYSTEM SET recovery_init_sync_method = 'syncfs'")
                conn.execute("SELECT pg_reload_conf()")
            self._supervisor = threading.Thread(
                target=self._supervise, name="postgres-supervisor", daemon=True
            )
            self._supervisor.start()

    def serve_embedded(self) -> str:
        """Start and supervise the embedded server only (no migrations, no pool): for a parent
        process whose workers connect to the URI returned, as to an external server."""
        self._embedded = EmbeddedPostgres(self.settings.pgdata)
        self.url = self._embedded.start()
        self._supervisor = threading.Thread(
            target=self._supervise, name="postgres-supervisor", daemon=True
        )
        self._supervisor.start()
        return self.url

    def _new_pool(self) -> ConnectionPool:
        statement_ms = int(self.settings.db_statement_timeout_s * 1000)
        check = self.check

        def configure(conn: psycopg.Connection) -> None:
            register_vector(conn)
            # per session rather than a startup option, which PgBouncer refuses
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(statement_ms),))
            conn.commit()
            check.returned(conn)  # it just answered: no need to check it before first use

        if self.url is None:
            raise DatabaseUnavailable("database is not open")
        return ConnectionPool(
            self.url,
            min_size=1,
            max_size=self.settings.pool_max_size,
            kwargs={
                "prepare_threshold": self.settings.db_prepare_threshold,
                "connect_timeout": self.settings.db_connect_timeout_s,
            },
            configure=configure,
            # a connection broken by a server restart is found and replaced, not handed out
            check=self.check,
            open=True,
            name="rag",
        )

    def _supervise(self) -> None:
        embedded = self._embedded
        assert embedded is not None
        while not self._closing.wait(self.SUPERVISE_INTERVAL_S):
            try:
                if embedded.running():
                    continue
            except Exception:
                log.exception("embedded postgres: cannot tell whether the server runs")
                continue
            if self._closing.is_set():
                return
            self._down.set()
            log.error("embedded postgres: the server died; restarting it")
            while not self._closing.is_set():
                try:
                    self.url = embedded.restart()
                    self._replace_pool()
                    break
                except Exception as exc:  # e.g. its orphaned backends still hold the memory
                    log.warning("embedded postgres: restart failed (%s); retrying", exc)
                    self._closing.wait(self.SUPERVISE_INTERVAL_S)
            self.restarts += 1
            self._down.clear()
            log.warning("embedded postgres: restarted (%d restarts)", self.restarts)

    def _replace_pool(self) -> None:
        if self._pool is None:  # serve_embedded: nothing to replace
            return
        fresh = self._new_pool()
        fresh.wait(timeout=self.settings.db_connect_timeout_s)
        old, self._pool = self._pool, fresh
        if old is not None:
            # connections still in use are closed when returned; don't wait for them here
            threading.Thread(target=old.close, kwargs={"timeout": 1.0}, daemon=True).start()

    def close(self) -> None:
        self._closing.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=30)
            self._supervisor = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None

    @contextmanager
    def connection(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        """A pooled connection for the block: in a transaction that commits at its end (or
        rolls back on an error), or with `autocommit=True` without one.

        Autocommit is for the request path: psycopg opens a transaction with a BEGIN of its
        own round trip and closes it with another, so a single statement costs three round
        trips in a transaction and one without; a block that needs a transaction then writes
        BEGIN ... COMMIT itself, inside a pipeline, so that it costs one. A transaction such a
        block leaves open is rolled back before the connection goes back to the pool."""
        pool = self._pool
        if pool is None:
            raise DatabaseUnavailable("database is not open")
        if self._down.is_set():
            raise DatabaseUnavailable("the database is restarting; retry shortly")
        try:
            with pool.connection(timeout=self.settings.db_pool_timeout_s) as conn:
                if autocommit:
                    conn.autocommit = True
                try:
                    yield conn
                finally:
                    self.check.returned(conn)
                    if autocommit:
                        _leave_autocommit(conn)
        except psycopg.Error as exc:
            if isinstance(exc, psycopg.OperationalError):
                self._sweep(pool)
            mapped = database_error(exc)
            if mapped is None:
                raise
            log.warning("database error %s (sqlstate %s)", type(exc).__name__, exc.sqlstate)
            raise mapped from exc

    def _sweep(self, pool: ConnectionPool) -> None:
        """After a connection failed: check the pool's idle connections in the background (the
        broken one is already discarded), so the next requests are not handed their dead
        siblings. One sweep at a time."""
        if not self._sweeping.acquire(blocking=False):
            return

        def sweep() -> None:
            try:
                pool.check()
            except Exception as exc:  # a closed pool (restart, shutdown): nothing to sweep
                log.debug("pool check after a connection error failed: %s", exc)
            finally:
                self._sweeping.release()

        threading.Thread(target=sweep, name="pool-sweep", daemon=True).start()
