"""Read side of the document store (listing, lookup); writes live in `ingestion.writer`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from pydantic import BaseModel

from rag_service.core.inputs import document_id


class DocumentInfo(BaseModel):
    id: int
    source: str
    title: str
    sha256: str
    bytes: int
    chunks: int
    updated_at: datetime


_SELECT = (
    "SELECT d.id, d.source, d.title, d.sha256, d.bytes,"
    " (SELECT count(*) FROM chunks c WHERE c.document_id = d.id), d.updated_at FROM documents d"
)


def _info(row: tuple[Any, ...]) -> DocumentInfo:
    keys = ("id", "source", "title", "sha256", "bytes", "chunks", "updated_at")
    return DocumentInfo(**dict(zip(keys, row, strict=True)))


def source_key(folder: Path, path: Path) -> str:
    """The document key of `path` found under the source folder `folder`: the folder's name,
    then the path relative to it (`reports/2026/q1.md`). Two folders ingested together keep
    their same-named files apart, and the key does not depend on where the folder lives."""
    return f"{folder.name}/{path.relative_to(folder).as_posix()}"


def list_documents(conn: psycopg.Connection) -> list[DocumentInfo]:
    return [_info(r) for r in conn.execute(_SELECT + " ORDER BY d.source")]


def find_document(conn: psycopg.Connection, key: str) -> DocumentInfo | None:
    """By numeric id (ASCII digits) or by source name."""
    if (doc_id := document_id(key)) is not None:
        row = conn.execute(_SELECT + " WHERE d.id = %s", (doc_id,)).fetchone()
    else:
        row = conn.execute(_SELECT + " WHERE d.source = %s", (key,)).fetchone()
    return _info(row) if row else None


def index_counts(conn: psycopg.Connection) -> tuple[int, int]:
    row = conn.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)")
    docs, chunks = row.fetchone()  # type: ignore[misc]
    return int(docs), int(chunks)
