"""GET/POST/DELETE /v1/documents: list, upload (ingested by the same idempotent writer), delete."""

from __future__ import annotations

from fastapi import APIRouter, UploadFile, status
from fastapi.concurrency import run_in_threadpool

from rag_service.api.deps import ServicesDep
from rag_service.api.schemas import IngestResponse
from rag_service.core.documents import DocumentInfo, find_document, list_documents
from rag_service.core.errors import InvalidInput, NotFound, PayloadTooLarge

router = APIRouter(prefix="/v1/documents", tags=["documents"])

READ_CHUNK = 1 << 16


@router.get("", response_model=list[DocumentInfo])
def list_all(services: ServicesDep) -> list[DocumentInfo]:
    with services.db.connection() as conn:
        return list_documents(conn)


@router.get("/{key}", response_model=DocumentInfo)
def get_one(key: str, services: ServicesDep) -> DocumentInfo:
    """By numeric id or source name."""
    with services.db.connection() as conn:
        doc = find_document(conn, key)
    if doc is None:
        raise NotFound(f"no document {key!r}")
    return doc


@router.post("", response_model=IngestResponse, status_code=status.HTTP_201_CREATED)
async def upload(file: UploadFile, services: ServicesDep) -> IngestResponse:
    """Upload a .txt, .md, .html or .pdf file (multipart field `file`). Re-uploading the same
    bytes changes nothing (`unchanged`); new bytes under the same name replace the document."""
    limit = services.settings.max_document_bytes
    if not file.filename or "/" in file.filename or file.filename.startswith("."):
        raise InvalidInput("the upload needs a plain file name (e.g. report.md)")
    data = bytearray()
    while chunk := await file.read(READ_CHUNK):
        data += chunk
        if len(data) > limit:
            raise PayloadTooLarge(f"upload exceeds the {limit:,}-byte limit")
    outcome = await run_in_threadpool(services.ingestor.ingest_bytes, file.filename, bytes(data))
    return IngestResponse(
        source=outcome.source,
        status=outcome.status,
        document_id=outcome.document_id,
        chunks=outcome.chunks,
    )


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT)
def delete(key: str, services: ServicesDep) -> None:
    """By numeric id or source name; the document's chunks go with it."""
    with services.db.connection() as conn:
        doc = find_document(conn, key)
    if doc is None or not services.ingestor.delete(doc.source):
        raise NotFound(f"no document {key!r}")
