"""Shared fixtures: one real embedded PostgreSQL + pgvector and the real packaged embedding
model for the whole session, the bundled corpus ingested once, and a live HTTP server."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

# The suite runs on a fresh embedded server, or on the server RAG_TEST_DATABASE_URL names
# (tests/test_external_postgres.py runs it so against a separate TCP server).
EXTERNAL_DATABASE_URL = os.environ.pop("RAG_TEST_DATABASE_URL", None)
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
def settings(data_dir: Path):
    from rag_service.core.config import Settings

    return Settings(
        RAG_DATA_DIR=data_dir, RAG_INGEST_ON_START=True, DATABASE_URL=EXTERNAL_DATABASE_URL
    )


@pytest.fixture(scope="session")
def services(settings):
    from rag_service.services import open_services

    svc = open_services(settings, ingest_bundled=True, embedded_delete_on_stop=True)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def embedder(services):
    return services.embedder


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
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_url(settings, services) -> Iterator[str]:
    """The real app served over real HTTP on loopback, sharing the session's services."""
    from rag_service.api.app import create_app

    with LiveServer(create_app(settings, services)) as server:
        yield server.url


@pytest.fixture()
def http(live_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_url, timeout=60) as client:
        yield client
