"""Shared fixtures: one real embedded PostgreSQL + pgvector server and the real packaged
embedding model per process, the bundled corpus ingested once into a template database, a
database of its own for every test, and a live HTTP server.

Tests under tests/unit are marked `unit` (no database, no server: `make test-unit`); every
other test is marked `integration`."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

# The suite runs on a fresh embedded server, or on the server RAG_TEST_DATABASE_URL names
# (tests/test_external_postgres.py runs it so against a separate TCP server).
EXTERNAL_DATABASE_URL = os.environ.get("RAG_TEST_DATABASE_URL") or None
os.environ.setdefault("LANGFUSE_TRACING_ENABLED", "false")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
for var in (
    "DATABASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "LANGFUSE_PUBLIC_KEY",
    "LANGFUSE_SECRET_KEY",
    "RAG_PROVIDER",
):
    os.environ.pop(var, None)

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT / "evals" / "datasets" / "dev.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ragdata")


@pytest.fixture(scope="session")
def base_settings(data_dir: Path):
    """The settings every test starts from; `settings` adds the test's own database."""
    from rag_service.core.config import Settings

    return Settings(RAG_DATA_DIR=data_dir, RAG_INGEST_ON_START=True, DATABASE_URL=None)


@pytest.fixture(scope="session")
def embedder(base_settings):
    """The real packaged embedding model, loaded once per process."""
    from rag_service.retrieval.embedder import build_embedder

    return build_embedder(base_settings)


def with_dbname(url: str, dbname: str) -> str:
    import psycopg.conninfo

    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


@contextmanager
def template_lock(url: str) -> Iterator[None]:
    """One process at a time builds or copies the template of `url` (a database being copied
    must have no other connection)."""
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"rag-test-template-{key}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="session")
def template_url(base_settings, embedder) -> Iterator[str]:
    """A database migrated and holding the bundled corpus, built once per process (per xdist
    worker): every test's database is created from it (`CREATE DATABASE ... TEMPLATE`).

    The server is a fresh embedded one in this process' data directory, or the external one
    RAG_TEST_DATABASE_URL names; on the latter the template is the database the URL names, so
    that server ends up migrated and populated as a deployment's would be."""
    import psycopg

    from rag_service.core.embedded import EmbeddedPostgres
    from rag_service.services import open_services

    server = None
    if EXTERNAL_DATABASE_URL:
        url = EXTERNAL_DATABASE_URL
    else:
        server = EmbeddedPostgres(base_settings.pgdata, delete_on_stop=True)
        root = server.start()
        url = with_dbname(root, "rag_template")
        with psycopg.connect(with_dbname(root, "template1"), autocommit=True) as conn:
            # a throw-away server: durability only costs time (a database copy is ~10x faster)
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = off")
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CREATE DATABASE rag_template")
    try:
        with template_lock(url):  # xdist workers sharing an external server build it in turn
            built = open_services(
                base_settings.model_copy(update={"database_url": url}),
                load_pipeline=False,
                ingest_bundled=True,
                embedder=embedder,
            )
            built.close()  # a template must have no connections while it is copied
        yield url
    finally:
        if server is not None:
            server.stop()


@pytest.fixture()
def database_url(template_url: str) -> Iterator[str]:
    """This test's own database, a copy of the template: tests neither see each other's
    writes nor wait for each other, so they can run in parallel (pytest-xdist)."""
    import psycopg
    import psycopg.conninfo

    template = psycopg.conninfo.conninfo_to_dict(template_url)["dbname"]
    name = f"rag_test_{uuid.uuid4().hex[:12]}"
    admin = with_dbname(template_url, "template1")
    with template_lock(template_url), psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE {name} TEMPLATE "{template}"')
    yield with_dbname(template_url, name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture()
def settings(base_settings, database_url: str):
    return base_settings.model_copy(update={"database_url": database_url})


@pytest.fixture()
def services(settings, embedder) -> Iterator:
    from rag_service.services import open_services

    svc = open_services(settings, embedder=embedder)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def dev_rows() -> list[dict]:
    return [json.loads(line) for line in DEV_SET.read_text().splitlines() if line.strip()]


class LiveServer:
    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("live server did not start")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, *, wait: bool = True) -> None:
        """Ask the server to exit; `wait=False` does not wait the ~0.2 s uvicorn takes to
        notice and close (the next test sets up meanwhile)."""
        self.server.should_exit = True
        if wait:
            self.thread.join(timeout=10)


@pytest.fixture()
def live_url(settings, services) -> Iterator[str]:
    """The real app served over real HTTP on loopback, sharing the session's services."""
    from rag_service.api.app import create_app

    server = LiveServer(create_app(settings, services)).__enter__()
    yield server.url
    server.stop(wait=False)


@pytest.fixture()
def http(live_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_url, timeout=60) as client:
        yield client


UNIT_DIR = Path(__file__).resolve().parent / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark by directory: tests/unit is `unit`, everything else `integration`. A unit test
    that asks for the database is refused at collection (`make test-unit` needs no server)."""
    for item in items:
        unit = UNIT_DIR in Path(str(item.path)).parents
        item.add_marker(pytest.mark.unit if unit else pytest.mark.integration)
        if unit and "template_url" in getattr(item, "fixturenames", ()):
            raise pytest.UsageError(f"{item.nodeid}: a unit test uses the database")
