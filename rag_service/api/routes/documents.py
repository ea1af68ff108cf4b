"""GET/POST/DELETE /v1/documents: list, upload (ingested by the same idempotent writer), delete."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from rag_service.api.deps import ServicesDep, SettingsDep
from rag_service.api.jobs import IngestJobs
from rag_service.api.schemas import IngestResponse
from rag_service.core.documents import DocumentInfo, find_document, list_documents
from rag_service.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from rag_service.core.inputs import check_document_key, check_source_name
from rag_service.core.jobs import JobOut

router = APIRouter(prefix="/v1/documents", tags=["documents"])

READ_CHUNK = 1 << 16

DocumentKey = Annotated[
    str,
    Path(
        description="A document's numeric id (ASCII digits) or its key, which may hold `/`"
        " (`corpus/report.txt`: a folder's name, then the path in it)."
    ),
]


@router.get("", response_model=list[DocumentInfo])
def list_all(services: ServicesDep) -> list[DocumentInfo]:
    with services.db.connection() as conn:
        return list_documents(conn)


def _find(services: ServicesDep, key: str) -> DocumentInfo:
    check_document_key(key)
    with services.db.connection() as conn:
        doc = find_document(conn, key)
    if doc is None:
        raise NotFound("no such document")
    return doc


@router.get("/{key:path}", response_model=DocumentInfo)
def get_one(key: DocumentKey, services: ServicesDep) -> DocumentInfo:
    """By numeric id or source name."""
    return _find(services, key)


@router.post(
    "",
    response_model=IngestResponse,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": IngestResponse, "description": "Unchanged: already indexed."},
        202: {
            "model": JobOut,
            "description": "With `Prefer: respond-async`: queued as a job; follow Location.",
        },
    },
)
async def upload(
    file: UploadFile,
    services: ServicesDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
    prefer: Annotated[
        str | None,
        Header(
            description="`respond-async`: answer 202 at once with a job to follow"
            " (`GET /v1/jobs/{id}`) instead of waiting for the document to be indexed."
        ),
    ] = None,
) -> Any:
    """Upload a .txt, .md, .rst, .html or .pdf file (multipart field `file`, one per request).
    Re-uploading the same bytes changes nothing (200, `unchanged`); new bytes under the same
    name replace the document (201, `replaced`). Names of bundled-corpus files are reserved
    (409): the corpus is refreshed from its folder at start-up. Every upload is indexed as a
    job; with `Prefer: respond-async` the answer is the job (202), otherwise the outcome once
    the job is done."""
    form = await request.form()  # parsed once by FastAPI already: this is the same object
    if len(form.getlist("file")) != 1:
        raise InvalidInput("send exactly one file part named `file`")
    name = check_source_name(file.filename or "")
    folder = settings.corpus_dir
    if (folder / name).is_file():
        raise Conflict(f"{name!r} is the name of a bundled-corpus document; rename the file")
    limit = settings.max_document_bytes
    data = bytearray()
    while chunk := await file.read(READ_CHUNK):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"upload exceeds the {limit:,}-byte limit")
    jobs: IngestJobs = request.app.state.jobs
    job_id, future = await run_in_threadpool(jobs.submit, name, bytes(data))
    if prefer and "respond-async" in prefer.lower():
        job = await run_in_threadpool(jobs.store.get, job_id)
        return JSONResponse(
            job.model_dump(mode="json") if job else {"id": job_id},
            status_code=status.HTTP_202_ACCEPTED,
            headers={"Location": f"/v1/jobs/{job_id}", "Preference-Applied": "respond-async"},
        )
    outcome = await asyncio.wrap_future(future)  # no request thread held while it runs
    chunks = outcome.chunks
    if outcome.status == "unchanged":
        response.status_code = status.HTTP_200_OK
        chunks = (await run_in_threadpool(_find, services, name)).chunks
    return IngestResponse(
        source=outcome.source,
        status=outcome.status,
        document_id=outcome.document_id,
        chunks=chunks,
        job_id=job_id,
    )


@router.delete("/{key:path}", status_code=status.HTTP_204_NO_CONTENT)
def delete(key: DocumentKey, services: ServicesDep) -> None:
    """By numeric id or source name; the document's chunks go with it."""
    doc = _find(services, key)
    if not services.ingestor.delete(doc.source):
        raise NotFound("no such document")
