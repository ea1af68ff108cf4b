"""Storage of prepared documents: one transaction per document replaces its rows.

Keyed by `source` and the SHA-256 of its bytes plus how it was indexed (`indexed_with`), so an
unchanged document is never written twice. The term statistics follow the rows by triggers in
the same transaction (migration 0004): nothing is refreshed after a write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard

import psycopg
from psycopg.types.json import Jsonb

from ingestion.embedding import PreparedDocument
from rag_service.core.database import Database
from rag_service.core.ports import IngestOutcome
from rag_service.retrieval.text import searchable

CHUNK_COLUMNS = (
    "id, document_id, ordinal, heading, text, search_text, start_char, end_char, embedding"
)
CHUNK_TYPES = ["int8", "int8", "int4", "text", "text", "text", "int4", "int4", "vector"]
UNIT_COLUMNS = (
    "chunk_id, ordinal, kind, text, display, search_text, start_char, end_char, embedding"
)
UNIT_TYPES = ["int8", "int4", "text", "text", "text", "text", "int4", "int4", "vector"]


class IndexStore:
    """`indexed_with` is asked at each write (the writer's settings and INDEX_VERSION)."""

    def __init__(self, db: Database, indexed_with: Callable[[], str]) -> None:
        self.db = db
        self._indexed_with = indexed_with

    @property
    def indexed_with(self) -> str:
        return self._indexed_with()

    def is_current(self, row: tuple[Any, ...] | None, sha: str) -> TypeGuard[tuple[Any, ...]]:
        return row is not None and row[1] == sha and row[2] == self.indexed_with

    def current(self, conn: psycopg.Connection, source: str) -> tuple[Any, ...] | None:
        """(document id, sha256, indexed_with) of the indexed version of `source`, if any."""
        return conn.execute(
            "SELECT id, sha256, meta->>'indexed_with' FROM documents WHERE source = %s",
            (source,),
        ).fetchone()

    def current_many(self, sources: list[str]) -> dict[str, tuple[Any, ...]]:
        """`current` for many sources at once: source -> (id, sha256, indexed_with)."""
        found: dict[str, tuple[Any, ...]] = {}
        with self.db.connection() as conn:
            for i in range(0, len(sources), 5000):
                for row in conn.execute(
                    "SELECT source, id, sha256, meta->>'indexed_with' FROM documents"
                    " WHERE source = ANY(%s)",
                    (sources[i : i + 5000],),
                ):
                    found[row[0]] = row[1:]
        return found

    def unchanged(self, source: str, sha: str) -> IngestOutcome | None:
        with self.db.connection() as conn:
            row = self.current(conn, source)
        return IngestOutcome(source, "unchanged", row[0]) if self.is_current(row, sha) else None

    def write(self, doc: PreparedDocument) -> IngestOutcome:
        """Replace-or-insert `doc` atomically."""
        return self.write_many([doc])[0]

    def write_many(self, docs: list[PreparedDocument]) -> list[IngestOutcome]:
        """Replace-or-insert `docs` in one transaction: all of them are committed or none.

        One COPY of chunks and one of units for the whole batch, so the statement triggers
        that keep the term statistics run once per batch rather than once per document (most
        of the database's work for small documents). Every source is locked first, in one
        order, so two writers sharing documents cannot deadlock. Outcomes follow `docs`."""
        outcomes: dict[int, IngestOutcome] = {}
        staged: list[tuple[int, PreparedDocument]] = []  # (document id, doc) to copy rows for
        with self.db.connection() as conn, conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(s))"
                " FROM (SELECT DISTINCT unnest(%s::text[]) AS s ORDER BY 1) t",
                ([d.source for d in docs],),
            )
            current = {
                r[0]: r[1:]
                for r in conn.execute(
                    "SELECT source, id, sha256, meta->>'indexed_with' FROM documents"
                    " WHERE source = ANY(%s)",
                    ([d.source for d in docs],),
                )
            }
            # in the given order, so ids follow it as they did a document at a time
            for i, doc in enumerate(docs):
                row = current.get(doc.source)
                if self.is_current(row, doc.sha256):
                    outcomes[i] = IngestOutcome(doc.source, "unchanged", row[0], len(doc.chunks))
                    continue
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
                outcomes[i] = IngestOutcome(doc.source, status, doc_id, len(doc.chunks))  # type: ignore[arg-type]
                staged.append((doc_id, doc))
            if staged:
                self._copy_rows(conn, staged)
        return [outcomes[i] for i in range(len(docs))]

    @staticmethod
    def _copy_rows(conn: psycopg.Connection, staged: list[tuple[int, PreparedDocument]]) -> None:
        """The chunks and units of every staged document, one COPY each."""
        ids = iter(
            r[0]
            for r in conn.execute(
                "SELECT nextval('chunks_id_seq') FROM generate_series(1, %s)",
                (sum(len(doc.chunks) for _, doc in staged),),
            )
        )
        chunk_ids = [[next(ids) for _ in doc.chunks] for _, doc in staged]
        with conn.cursor() as cur:
            with cur.copy(f"COPY chunks ({CHUNK_COLUMNS}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(CHUNK_TYPES)
                for (doc_id, doc), cids in zip(staged, chunk_ids, strict=True):
                    for cid, c, vec in zip(cids, doc.chunks, doc.chunk_vectors, strict=True):
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
                for (_, doc), cids in zip(staged, chunk_ids, strict=True):
                    for cid, c, vecs in zip(cids, doc.chunks, doc.unit_vectors, strict=True):
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

    def delete(self, source: str) -> bool:
        with self.db.connection() as conn, conn.transaction():
            deleted = conn.execute("DELETE FROM documents WHERE source = %s", (source,)).rowcount
        return bool(deleted)
