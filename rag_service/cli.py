"""`rag-serve`: run the API (embedded database and bundled corpus by default)."""

from __future__ import annotations

import logging
import os
from typing import Any

import uvicorn

from rag_service.core.config import Settings, get_settings
from rag_service.core.database import Database
from rag_service.core.logging import configure_logging

log = logging.getLogger("rag_service.serve")


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options that bound what a client can make the server hold: h11 refuses a
    request whose headers exceed RAG_MAX_HEADER_BYTES (431 in one step, not a parse that
    restarts with every packet), idle connections are closed, and the access log stays off
    (the API's own log line leaves out query strings)."""
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "timeout_keep_alive": 5,
        "access_log": False,
        "log_config": None,
        "timeout_graceful_shutdown": 10,
    }


WORKER_MB = 300  # one worker's RSS serving the packaged model on ONNX Runtime, with headroom


def worker_count(settings: Settings) -> int:
    """RAG_WORKERS, else one per CPU this process may use, capped by the memory budget: the
    answer path is CPU-bound and holds the GIL for parts of each request, so processes (not
    threads) are what use a second core; each loads its own model, hence the budget."""
    if settings.workers:
        return settings.workers
    import psutil

    from rag_service.retrieval.embedder import cpu_count

    budget = settings.memory_budget_mb or psutil.virtual_memory().total // 2**20 // 2
    return max(1, min(cpu_count(), budget // WORKER_MB))


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    # Said at start: the index lives here (per user unless RAG_DATA_DIR says otherwise).
    where = (
        "external database" if settings.database_url else f"data directory {settings.pgdata.parent}"
    )
    log.info("rag-serve: %s; bundled corpus %s", where, settings.corpus_dir)
    workers = worker_count(settings)
    parent_db = None
    if workers > 1 and not settings.database_url:
        # One process may own the embedded server: this one starts and supervises it, and the
        # workers connect to it as to an external server.
        parent_db = Database(settings)
        os.environ["DATABASE_URL"] = parent_db.serve_embedded()
    try:
        uvicorn.run(
            "rag_service.api.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            **server_options(settings),
        )
    finally:
        if parent_db is not None:
            parent_db.close()


if __name__ == "__main__":
    main()
