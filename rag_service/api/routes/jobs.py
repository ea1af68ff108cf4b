"""GET /v1/jobs/{id}: an upload's progress and outcome."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from rag_service.api.deps import ServicesDep
from rag_service.core.errors import InvalidInput, NotFound
from rag_service.core.inputs import UUID_RE
from rag_service.core.jobs import JobOut, JobStore

router = APIRouter(prefix="/v1/jobs", tags=["documents"])

JobId = Annotated[str, Path(description="The `id` a 202 upload answered with.")]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: JobId, services: ServicesDep) -> JobOut:
    """`queued`, `running`, then `succeeded` (with `outcome`) or `failed` (with `error`, as
    the upload would have been answered). A job whose process died is reported failed."""
    if not UUID_RE.fullmatch(job_id):
        raise InvalidInput("a job id is a UUID")
    job = JobStore(services.db).get(job_id.lower())
    if job is None:
        raise NotFound("no such job")
    return job
