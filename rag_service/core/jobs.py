"""Ingestion jobs in PostgreSQL: what `GET /v1/jobs/{id}` reads and the runner writes.

A job is `queued`, `running`, then `succeeded` (with the ingest outcome) or `failed` (with the
error as the API would have answered it). While a process holds a job it refreshes the job's
heartbeat; a pending job whose heartbeat is older than STALE_AFTER_S belonged to a process
that died, and is reported failed when read (and at start-up), so a job is never lost silently.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from rag_service.core.database import Database

JobStatus = Literal["queued", "running", "succeeded", "failed"]
STALE_AFTER_S = 60.0
INTERRUPTED = {
    "code": "interrupted",
    "message": "the service stopped before this upload was indexed; upload it again",
    "status": 503,
}
_COLUMNS = "id, source, status, outcome, error, created_at, updated_at"


class JobOut(BaseModel):
    id: str
    source: str
    status: JobStatus
    outcome: dict[str, Any] | None = Field(
        None, description="When succeeded: source, status (added/unchanged/replaced), chunks."
    )
    error: dict[str, Any] | None = Field(
        None, description="When failed: code, message and the HTTP status it stands for."
    )
    created_at: datetime
    updated_at: datetime


def _out(row: tuple[Any, ...]) -> JobOut:
    keys = ("id", "source", "status", "outcome", "error", "created_at", "updated_at")
    data = dict(zip(keys, row, strict=True))
    data["id"] = str(data["id"])
    return JobOut(**data)


class JobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, source: str) -> str:
        job_id = str(uuid.uuid4())
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO ingest_jobs (id, source, status) VALUES (%s, %s, 'queued')",
                (job_id, source),
            )
            conn.commit()
        return job_id

    def start(self, job_id: str) -> None:
        self._set(job_id, "running")

    def succeed(self, job_id: str, outcome: dict[str, Any]) -> None:
        self._set(job_id, "succeeded", outcome=outcome)

    def fail(self, job_id: str, error: dict[str, Any]) -> None:
        self._set(job_id, "failed", error=error)

    def _set(self, job_id: str, status: JobStatus, **fields: dict[str, Any]) -> None:
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET status = %s, outcome = %s, error = %s,"
                " updated_at = now(), heartbeat_at = now() WHERE id = %s",
                (
                    status,
                    Jsonb(fields["outcome"]) if "outcome" in fields else None,
                    Jsonb(fields["error"]) if "error" in fields else None,
                    job_id,
                ),
            )
            conn.commit()

    def heartbeat(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE ingest_jobs SET heartbeat_at = now() WHERE id = ANY(%s::uuid[])",
                (job_ids,),
            )
            conn.commit()

    def fail_abandoned(self) -> int:
        """Pending jobs whose process stopped beating: failed, with the reason. Their count."""
        with self.db.connection() as conn:
            n = conn.execute(
                "UPDATE ingest_jobs SET status = 'failed', error = %s, updated_at = now()"
                " WHERE status IN ('queued', 'running')"
                " AND heartbeat_at < now() - make_interval(secs => %s)",
                (Jsonb(INTERRUPTED), STALE_AFTER_S),
            ).rowcount
            conn.commit()
        return n

    def get(self, job_id: str) -> JobOut | None:
        self.fail_abandoned()
        with self.db.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM ingest_jobs WHERE id = %s", (job_id,)
            ).fetchone()
        return _out(row) if row else None
