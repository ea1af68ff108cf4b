"""The idempotent index writer: load → chunk → embed → write; a document is whole or absent.

Keyed by `source` (the document's name) and the SHA-256 of its bytes:
- same source, same hash: nothing is loaded, embedded or written (`unchanged`);
- same source, new hash: its chunks are replaced in one transaction (`replaced`);
- a failure anywhere before COMMIT leaves the previous version (or nothing) in place.
Embedding happens before the transaction opens, so locks are held only for the COPY.

Three parts: discovery and parsing here (`files_under`, `DocumentWriter.parse`), embedding in
`ingestion.embedding` (what is embedded, and the vectors of a group of documents), storage in
`ingestion.storage` (`IndexStore`: the transaction that replaces a document's rows). The
writer runs them as a pipeline: the next group embeds while a thread stores the last one.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import psycopg

from ingestion.chunker import chunk_document
from ingestion.embedding import (
    ParsedDocument,
    PreparedDocument,
    embed_documents,
    unit_embedding_input,
)
from ingestion.loaders import load_document
from ingestion.storage import IndexStore
from rag_service.core.config import Settings
from rag_service.core.database import Database
from rag_service.core.documents import source_key
from rag_service.core.errors import DocumentError, PayloadTooLarge, RagError
from rag_service.core.ports import IngestOutcome
from rag_service.retrieval.embedder import Embedder

__all__ = ["DocumentWriter", "ParsedDocument", "PreparedDocument", "files_under"]

log = logging.getLogger(__name__)

EMBED_GROUP_TEXTS = 2048
# Documents per transaction when a folder is ingested: the triggers that keep the term
# statistics run once per statement, so small documents are cheaper written together; a
# kill loses at most the batch in flight (the rest is committed and skipped on the rerun).
WRITE_BATCH = 32
# Bump when chunking, units or embedding inputs change: documents indexed by another version
# are re-indexed even though their bytes did not change.
INDEX_VERSION = 7  # 7: a text line ending on a comma continues; 6: PDF tables by column


def _json_safe(value: object) -> object:
    """Front matter may hold dates and other YAML types: keep what JSON can store."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def files_under(paths: list[Path]) -> list[tuple[str, Path]]:
    """(source name, path) for every file named or found under a named directory.

    A directory's files are keyed by the directory's name and their path relative to it
    (`source_key`: `corpus/report.txt`, wherever the folder lives, and two folders' same-named
    files stay apart); a file named alone by its base name.
    """
    found: list[tuple[str, Path]] = []
    for p in paths:
        if p.is_dir():
            folder = p.resolve()  # `.` and `docs/` have a name to key by
            for f in sorted(folder.rglob("*")):
                if f.is_file() and not f.name.startswith("."):
                    found.append((source_key(folder, f), f))
        else:
            found.append((p.name, p))
    return found


class DocumentWriter:
    def __init__(self, settings: Settings, db: Database, embedder: Embedder) -> None:
        self.settings = settings
        self.db = db
        self.embedder = embedder
        self.store = IndexStore(db, lambda: self.indexed_with)
        # texts sent to the model by this writer: what a resumed run did not redo shows here
        self.embedded_texts = 0

    # -- preparation (no database writes) -------------------------------------------------
    def parse(self, source: str, data: bytes, sha: str) -> ParsedDocument:
        doc = load_document(source, data, max_bytes=self.settings.max_document_bytes)
        chunks = chunk_document(doc, doc.title, self.settings.chunk_max_chars)
        if not chunks:
            raise DocumentError("document has no indexable text")
        generic = bool(doc.meta.get("title_generic"))
        inputs = [
            unit_embedding_input(doc.title, c, u, title_generic=generic)
            for c in chunks
            for u in c.units
        ]
        return ParsedDocument(
            source,
            doc.title,
            sha,
            len(data),
            doc.text,
            chunks,
            inputs,
            cast(dict[str, Any], _json_safe(doc.meta)),
        )

    def embed_documents(self, docs: list[ParsedDocument]) -> list[PreparedDocument]:
        prepared = embed_documents(self.embedder, docs)
        self.embedded_texts += sum(len(d.inputs) for d in docs)
        return prepared

    def prepare(self, source: str, data: bytes, sha: str) -> PreparedDocument:
        return self.embed_documents([self.parse(source, data, sha)])[0]

    # -- writes ---------------------------------------------------------------------------
    @property
    def indexed_with(self) -> str:
        """How documents are indexed now; part of what makes a re-ingest a no-op."""
        return f"v{INDEX_VERSION}/chunk{self.settings.chunk_max_chars}"

    def write(self, doc: PreparedDocument) -> IngestOutcome:
        """Replace-or-insert `doc` atomically (see `IndexStore.write`)."""
        return self.store.write(doc)

    def write_many(self, docs: list[PreparedDocument]) -> list[IngestOutcome]:
        """Replace-or-insert `docs` in one transaction (see `IndexStore.write_many`)."""
        return self.store.write_many(docs)

    def refresh_stats(self) -> None:
        """Nothing to do: the term statistics (lexicon, chunk count) are updated by triggers in
        each document's own transaction, by the rows it wrote (migration 0004), so an upload
        never recomputes anything over the whole index. Kept for callers of the old contract."""

    # -- the Ingestor interface ------------------------------------------------------------
    def ingest_bytes(self, source: str, data: bytes, *, refresh: bool = True) -> IngestOutcome:
        """Ingest one document. Raises RagError subclasses on bad input (the API maps them)."""
        sha = hashlib.sha256(data).hexdigest()
        if unchanged := self.store.unchanged(source, sha):
            return unchanged
        outcome = self.write(self.prepare(source, data, sha))
        if refresh and outcome.status != "unchanged":
            self.refresh_stats()
        log.info("ingested %s: %s (%d chunks)", source, outcome.status, outcome.chunks)
        return outcome

    def ingest_paths(
        self,
        paths: list[Path],
        progress: Callable[[IngestOutcome], None] | None = None,
    ) -> list[IngestOutcome]:
        """Ingest files and directories; one bad file is reported and the rest go on.

        Documents are embedded in groups of about EMBED_GROUP_TEXTS texts, and written by one
        background thread (a transaction per WRITE_BATCH documents; a batch that fails is
        written again a document at a time, so one bad document fails alone) while the next
        group embeds; a group
        waits for the one before it to be written, so at most two are held in memory however
        many files there are. Each batch is committed as it is written, so a run that is killed
        keeps what it wrote, and the next run skips those documents (same source and bytes)
        before reading them further: it embeds only what the first did not commit.
        """
        outcomes: dict[int, IngestOutcome] = {}
        pending: list[tuple[int, ParsedDocument]] = []
        found = files_under(paths)
        # what is indexed already, in one query rather than a round trip per file
        known = self.store.current_many([source for source, _ in found])

        def done(slot: int, outcome: IngestOutcome) -> None:
            outcomes[slot] = outcome
            if progress:
                progress(outcome)

        def write(batch: list[tuple[int, PreparedDocument]]) -> None:
            try:
                written = self.write_many([d for _, d in batch])
            except (RagError, psycopg.Error) as exc:
                if len(batch) > 1:  # one bad document fails alone: the rest go one by one
                    for one in batch:
                        write([one])
                    return
                reason = exc.message if isinstance(exc, RagError) else f"database error: {exc}"
                done(
                    batch[0][0],
                    IngestOutcome(batch[0][1].source, "failed", reason=reason.splitlines()[0]),
                )
                return
            for (slot, _), outcome in zip(batch, written, strict=True):
                done(slot, outcome)

        writes: list[Future[None]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="index-writer") as pool:

            def flush() -> None:
                if not pending:
                    return
                try:
                    prepared = self.embed_documents([d for _, d in pending])
                except RagError as exc:
                    for slot, d in pending:
                        done(slot, IngestOutcome(d.source, "failed", reason=exc.message))
                else:
                    for f in writes:  # the last group's writes, done while this one embedded
                        f.result()
                    writes.clear()
                    slots = [(slot, doc) for (slot, _), doc in zip(pending, prepared, strict=True)]
                    for i in range(0, len(slots), WRITE_BATCH):
                        writes.append(pool.submit(write, slots[i : i + WRITE_BATCH]))
                pending.clear()

            for slot, (source, path) in enumerate(found):
                try:
                    size = path.stat().st_size
                    if size > self.settings.max_document_bytes:
                        raise PayloadTooLarge(
                            f"file is {size:,} bytes; the limit is "
                            f"{self.settings.max_document_bytes:,}"
                        )
                    data = path.read_bytes()
                    sha = hashlib.sha256(data).hexdigest()
                    row = known.get(source)
                    if self.store.is_current(row, sha):
                        done(slot, IngestOutcome(source, "unchanged", row[0]))
                        continue
                    pending.append((slot, self.parse(source, data, sha)))
                except RagError as exc:
                    done(slot, IngestOutcome(source, "failed", reason=exc.message))
                except OSError as exc:
                    done(slot, IngestOutcome(source, "failed", reason=f"cannot read file: {exc}"))
                if sum(len(d.inputs) for _, d in pending) >= EMBED_GROUP_TEXTS:
                    flush()
            flush()
        for f in writes:
            f.result()  # an unexpected error in the writer thread is raised here, not lost
        result = [outcomes[i] for i in sorted(outcomes)]
        if any(o.status in ("added", "replaced") for o in result):
            self.refresh_stats()
        return result

    def delete(self, source: str) -> bool:
        return self.store.delete(source)


def build_ingestor(settings: Settings, db: Database, embedder: Embedder) -> DocumentWriter:
    return DocumentWriter(settings, db, embedder)
