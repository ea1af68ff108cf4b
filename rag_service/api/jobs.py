"""Uploads indexed off the request path, as jobs (`GET /v1/jobs/{id}`).

At most RAG_INGEST_WORKERS documents are parsed and embedded at once, on threads of their own
(a long upload holds no request thread while it waits); at most RAG_MAX_PENDING_UPLOADS wait or
run, beyond which an upload is refused at once with 503 + Retry-After. Every job is recorded in
`ingest_jobs` with its outcome or its error; while this process holds jobs it keeps their
heartbeat fresh, so those of a process that died are reported failed (see core.jobs).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import psycopg

from rag_service.core.database import database_error
from rag_service.core.errors import Overloaded, RagError
from rag_service.core.jobs import INTERRUPTED, JobStore
from rag_service.core.ports import IngestOutcome
from rag_service.services import Services

log = logging.getLogger(__name__)
HEARTBEAT_S = 10.0
INTERNAL = {
    "code": "internal_error",
    "message": "internal error; see the server log",
    "status": 500,
}


def outcome_body(outcome: IngestOutcome) -> dict[str, Any]:
    return {
        "source": outcome.source,
        "status": outcome.status,
        "document_id": outcome.document_id,
        "chunks": outcome.chunks,
    }


class IngestJobs:
    def __init__(self, services: Services, *, workers: int, max_pending: int) -> None:
        self.store = JobStore(services.db)
        self.ingestor = services.ingestor
        self.max_pending = max_pending
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ingest-job")
        self._pending: dict[str, Future[IngestOutcome]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True)
        self._beat.start()

    def submit(self, source: str, data: bytes) -> tuple[str, Future[IngestOutcome]]:
        """Record a job and queue it; Overloaded when too many are pending (blocking: a DB
        write, call it off the event loop)."""
        with self._lock:
            if len(self._pending) >= self.max_pending:
                raise Overloaded(
                    f"{self.max_pending} uploads are being indexed; retry shortly", 5.0
                )
            job_id = self.store.create(source)
            future = self._pool.submit(self._run, job_id, source, data)
            self._pending[job_id] = future
        future.add_done_callback(lambda _: self._forget(job_id))
        return job_id, future

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._pending.pop(job_id, None)

    def _run(self, job_id: str, source: str, data: bytes) -> IngestOutcome:
        self.store.start(job_id)
        try:
            outcome = self.ingestor.ingest_bytes(source, data)
        except (RagError, psycopg.Error) as exc:
            mapped = exc if isinstance(exc, RagError) else database_error(exc)
            if mapped is None:
                log.exception("ingest job %s failed", job_id)
                self._record_failure(job_id, INTERNAL)
                raise
            error = {"code": mapped.code, "message": mapped.message, "status": mapped.status}
            self._record_failure(job_id, error)
            if mapped is not exc:
                raise mapped from exc
            raise
        except Exception:
            log.exception("ingest job %s failed", job_id)
            self._record_failure(job_id, INTERNAL)
            raise
        self.store.succeed(job_id, outcome_body(outcome))
        return outcome

    def _record_failure(self, job_id: str, error: dict[str, Any]) -> None:
        try:
            self.store.fail(job_id, error)
        except RagError:  # the database is down: the stale heartbeat will report it failed
            log.warning("ingest job %s: could not record its failure", job_id)

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                ids = list(self._pending)
            with contextlib.suppress(RagError):  # restarting: the next beat is due soon
                self.store.heartbeat(ids)

    def close(self) -> None:
        """Let the running job finish; queued ones are recorded as interrupted."""
        self._stop.set()
        with self._lock:
            queued = [j for j, f in self._pending.items() if f.cancel()]
        for job_id in queued:
            self._record_failure(job_id, INTERRUPTED)
        self._pool.shutdown(wait=True)
