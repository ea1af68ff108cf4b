"""The interface through which the API ingests uploads without importing the ingestion package.

`Settings.ingestor` names a factory (`module:function`) that builds an `Ingestor`; the default is
`ingestion.writer:build_ingestor`. rag_service depends on this protocol only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from rag_service.core.config import Settings
    from rag_service.core.database import Database
    from rag_service.retrieval.embedder import Embedder

IngestStatus = Literal["added", "unchanged", "replaced", "failed"]


@dataclass(frozen=True)
class IngestOutcome:
    source: str
    status: IngestStatus
    document_id: int | None = None
    chunks: int = 0
    reason: str | None = None


class Ingestor(Protocol):
    def ingest_bytes(self, source: str, data: bytes) -> IngestOutcome:
        """One document; raises RagError subclasses (mapped to HTTP statuses) on bad input."""
        ...

    def ingest_paths(
        self, paths: list[Path], progress: Callable[[IngestOutcome], None] | None = None
    ) -> list[IngestOutcome]:
        """Files and folders; a bad file is reported as `failed` and the rest go on."""
        ...

    def delete(self, source: str) -> bool: ...


def load_ingestor(settings: Settings, db: Database, embedder: Embedder) -> Ingestor:
    module_name, _, attr = settings.ingestor.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(settings, db, embedder)
