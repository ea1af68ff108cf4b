"""The interface through which the API ingests uploads without importing the ingestion package.

`Settings.ingestor` (RAG_INGESTOR) names an entry point of the `rag_service.ingestors` group, a
factory that builds an `Ingestor`; `default` is ingestion's writer, registered in
pyproject.toml like any plug-in. rag_service depends on this protocol only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from rag_service.core import plugins

if TYPE_CHECKING:
    from rag_service.core.config import Settings
    from rag_service.core.database import Database

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


def load_ingestor(settings: Settings, db: Database, embedder: Any) -> Ingestor:
    """The configured ingestor, built by its plug-in's factory. `embedder` is the service's
    (rag_service.retrieval's; typed loosely so that core imports nothing above it)."""
    factory = plugins.load(plugins.INGESTORS, settings.ingestor)
    ingestor: Ingestor = factory(settings, db, embedder)
    return ingestor
