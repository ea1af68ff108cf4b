"""The idempotent index writer: load → chunk → embed → one transaction per document.

Keyed by `source` (the document's name) and the SHA-256 of its bytes:
- same source, same hash: nothing is loaded, embedded or written (`unchanged`);
- same source, new hash: its chunks are replaced in one transaction (`replaced`);
- a failure anywhere before COMMIT leaves the previous version (or nothing) in place.
Embedding happens before the transaction opens, so locks are held only for the COPY.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from ingestion.chunker import Chunk, Unit, chunk_document
from ingestion.loaders import load_document
from rag_service.core.config import Settings
from rag_service.core.database import Database
from rag_service.core.documents import source_key
from rag_service.core.errors import DocumentError, PayloadTooLarge, RagError
from rag_service.core.ports import IngestOutcome
from rag_service.retrieval.embedder import Embedder
from rag_service.retrieval.text import searchable

log = logging.getLogger(__name__)

EMBED_GROUP_TEXTS = 2048
# Bump when chunking, units or embedding inputs change: documents indexed by another version
# are re-indexed even though their bytes did not change.
INDEX_VERSION = 5

# Short units (a list item, "From scratch: 24–36 months.") mean little without their heading.
SHORT_UNIT_CHARS = 100

CHUNK_COLUMNS = (
    "id, document_id, ordinal, heading, text, search_text, start_char, end_char, embedding"
)
CHUNK_TYPES = ["int8", "int8", "int4", "text", "text", "text", "int4", "int4", "vector"]
UNIT_COLUMNS = (
    "chunk_id, ordinal, kind, text, display, search_text, start_char, end_char, embedding"
)
UNIT_TYPES = ["int8", "int4", "text", "text", "text", "text", "int4", "int4", "vector"]


def unit_embedding_input(
    title: str, chunk: Chunk, unit: Unit, *, title_generic: bool = False
) -> str:
    """Short units ("From scratch: 24–36 months.", a skills-gap heading) are embedded with the
    document title and their section path, which say what they are about; a generic title
    ("PowerPoint Presentation") says nothing and is left out."""
    if len(unit.display) >= SHORT_UNIT_CHARS:
        return unit.display
    context = [] if title_generic else [title]
    if chunk.heading and unit.kind != "heading":
        context.append(chunk.heading)
    if not context:
        return unit.display
    return f"{' — '.join(context)}: {unit.display}"


@dataclass
class ParsedDocument:
    source: str
    title: str
    sha256: str
    size: int
    text: str
    chunks: list[Chunk]
    inputs: list[str]  # what gets embedded: one text per unit, in chunk order
    meta: dict  # stored in documents.meta: front matter, title_generic, title_source, format


@dataclass
class PreparedDocument(ParsedDocument):
    chunk_vectors: np.ndarray
    unit_vectors: list[np.ndarray]


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
            source, doc.title, sha, len(data), doc.text, chunks, inputs, _json_safe(doc.meta)
        )

    def embed_documents(self, docs: list[ParsedDocument]) -> list[PreparedDocument]:
        """One embedding call for several documents: full, length-sorted batches keep the
        model (the bottleneck) busy; a chunk's vector is the normalised mean of its units'."""
        vectors = self.embedder.embed([t for d in docs for t in d.inputs])
        prepared, i = [], 0
        for d in docs:
            unit_vectors, chunk_vectors = [], []
            for c in d.chunks:
                vs = vectors[i : i + len(c.units)]
                i += len(c.units)
                unit_vectors.append(vs)
                mean = vs.mean(axis=0)
                chunk_vectors.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            prepared.append(
                PreparedDocument(
                    **vars(d),
                    chunk_vectors=np.asarray(chunk_vectors, dtype=np.float32),
                    unit_vectors=unit_vectors,
                )
            )
        return prepared

    def prepare(self, source: str, data: bytes, sha: str) -> PreparedDocument:
        return self.embed_documents([self.parse(source, data, sha)])[0]

    # -- writes ---------------------------------------------------------------------------
    @property
    def indexed_with(self) -> str:
        """How documents are indexed now; part of what makes a re-ingest a no-op."""
        return f"v{INDEX_VERSION}/chunk{self.settings.chunk_max_chars}"

    def _is_current(self, row: tuple | None, sha: str) -> bool:
        return row is not None and row[1] == sha and row[2] == self.indexed_with

    def _current(self, conn: psycopg.Connection, source: str) -> tuple | None:
        """(document id, sha256, indexed_with) of the indexed version of `source`, if any."""
        return conn.execute(
            "SELECT id, sha256, meta->>'indexed_with' FROM documents WHERE source = %s",
            (source,),
        ).fetchone()

    def _unchanged(self, source: str, sha: str) -> IngestOutcome | None:
        with self.db.connection() as conn:
            row = self._current(conn, source)
        return IngestOutcome(source, "unchanged", row[0]) if self._is_current(row, sha) else None

    def write(self, doc: PreparedDocument) -> IngestOutcome:
        """Replace-or-insert `doc` atomically."""
        with self.db.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (doc.source,))
            row = self._current(conn, doc.source)
            if self._is_current(row, doc.sha256):
                return IngestOutcome(doc.source, "unchanged", row[0], len(doc.chunks))
            meta = Jsonb({**doc.meta, "indexed_with": self.indexed_with})
            if row:
                doc_id, status = row[0], "replaced"
                conn.execute("DELETE FROM chunks WHERE document_id = %s", (doc_id,))
                conn.execute(
                    "UPDATE documents SET title = %s, sha256 = %s, bytes = %s, content = %s,"
                    " meta = meta || %s, updated_at = now() WHERE id = %s",
                    (doc.title, doc.sha256, doc.size, doc.text, meta, doc_id),
                )
            else:
                status = "added"
                doc_id = conn.execute(
                    "INSERT INTO documents (source, title, sha256, bytes, content, meta)"
                    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                    (doc.source, doc.title, doc.sha256, doc.size, doc.text, meta),
                ).fetchone()[0]  # type: ignore[index]
            chunk_ids = [
                r[0]
                for r in conn.execute(
                    "SELECT nextval('chunks_id_seq') FROM generate_series(1, %s)",
                    (len(doc.chunks),),
                )
            ]
            with conn.cursor() as cur:
                with cur.copy(f"COPY chunks ({CHUNK_COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(CHUNK_TYPES)
                    for cid, c, vec in zip(chunk_ids, doc.chunks, doc.chunk_vectors, strict=True):
                        cp.write_row(
                            (
                                cid,
                                doc_id,
                                c.ordinal,
                                c.heading,
                                c.text,
                                c.search_text,
                                c.start,
                                c.end,
                                vec,
                            )
                        )
                with cur.copy(f"COPY units ({UNIT_COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(UNIT_TYPES)
                    for cid, c, vecs in zip(chunk_ids, doc.chunks, doc.unit_vectors, strict=True):
                        for n, (u, vec) in enumerate(zip(c.units, vecs, strict=True)):
                            cp.write_row(
                                (
                                    cid,
                                    n,
                                    u.kind,
                                    doc.text[u.start : u.end],
                                    u.display,
                                    searchable(u.display),
                                    u.start,
                                    u.end,
                                    vec,
                                )
                            )
        return IngestOutcome(doc.source, status, doc_id, len(doc.chunks))  # type: ignore[arg-type]

    def refresh_stats(self) -> None:
        """Nothing to do: the term statistics (lexicon, chunk count) are updated by triggers in
        each document's own transaction, by the rows it wrote (migration 0004), so an upload
        never recomputes anything over the whole index. Kept for callers of the old contract."""

    # -- the Ingestor interface ------------------------------------------------------------
    def ingest_bytes(self, source: str, data: bytes, *, refresh: bool = True) -> IngestOutcome:
        """Ingest one document. Raises RagError subclasses on bad input (the API maps them)."""
        sha = hashlib.sha256(data).hexdigest()
        if unchanged := self._unchanged(source, sha):
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
        background thread (a transaction per document) while the next group embeds.
        """
        outcomes: dict[int, IngestOutcome] = {}
        pending: list[tuple[int, ParsedDocument]] = []

        def done(slot: int, outcome: IngestOutcome) -> None:
            outcomes[slot] = outcome
            if progress:
                progress(outcome)

        def write(slot: int, doc: PreparedDocument) -> None:
            try:
                done(slot, self.write(doc))
            except (RagError, psycopg.Error) as exc:
                reason = exc.message if isinstance(exc, RagError) else f"database error: {exc}"
                done(slot, IngestOutcome(doc.source, "failed", reason=reason.splitlines()[0]))

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
                    for (slot, _), doc in zip(pending, prepared, strict=True):
                        writes.append(pool.submit(write, slot, doc))
                pending.clear()

            for slot, (source, path) in enumerate(files_under(paths)):
                try:
                    size = path.stat().st_size
                    if size > self.settings.max_document_bytes:
                        raise PayloadTooLarge(
                            f"file is {size:,} bytes; the limit is "
                            f"{self.settings.max_document_bytes:,}"
                        )
                    data = path.read_bytes()
                    sha = hashlib.sha256(data).hexdigest()
                    if unchanged := self._unchanged(source, sha):
                        done(slot, unchanged)
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
        with self.db.connection() as conn, conn.transaction():
            deleted = conn.execute("DELETE FROM documents WHERE source = %s", (source,)).rowcount
        if deleted:
            self.refresh_stats()
        return bool(deleted)


def build_ingestor(settings: Settings, db: Database, embedder: Embedder) -> DocumentWriter:
    return DocumentWriter(settings, db, embedder)
