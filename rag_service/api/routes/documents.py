"""GET/POST/DELETE /v1/documents: list, upload (ingested by the same idempotent writer), delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from rag_service.api.deps import ServicesDep, SettingsDep
from rag_service.api.schemas import IngestResponse
from rag_service.core.documents import DocumentInfo, find_document, list_documents
from rag_service.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from rag_service.core.inputs import check_document_key, check_source_name

router = APIRouter(prefix="/v1/documents", tags=["documents"])

READ_CHUNK = 1 << 16

DocumentKey = Annotated[
    str,
    Path(description="A document's numeric id (ASCII digits) or its source name."),
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


@router.get("/{key}", response_model=DocumentInfo)
def get_one(key: DocumentKey, services: ServicesDep) -> DocumentInfo:
    """By numeric id or source name."""
    return _find(services, key)


@router.post(
    "",
    response_model=IngestResponse,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": IngestResponse, "description": "Unchanged: already indexed."}},
)
async def upload(
    file: UploadFile,
    services: ServicesDep,
    settings: SettingsDep,
    request: Request,
    response: Response,
) -> IngestResponse:
    """Upload a .txt, .md, .rst, .html or .pdf file (multipart field `file`, one per request).
    Re-uploading the same bytes changes nothing (200, `unchanged`); new bytes under the same
    name replace the document (201, `replaced`). Names of bundled-corpus files are reserved
    (409): the corpus is refreshed from its folder at start-up."""
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
    outcome = await run_in_threadpool(services.ingestor.ingest_bytes, name, bytes(data))
    chunks = outcome.chunks
    if outcome.status == "unchanged":
        response.status_code = status.HTTP_200_OK
        chunks = (await run_in_threadpool(_find, services, name)).chunks
    return IngestResponse(
        source=outcome.source,
        status=outcome.status,
        document_id=outcome.document_id,
        chunks=chunks,
    )


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT)
def delete(key: DocumentKey, services: ServicesDep) -> None:
    """By numeric id or source name; the document's chunks go with it."""
    doc = _find(services, key)
    if not services.ingestor.delete(doc.source):
        raise NotFound("no such document")
