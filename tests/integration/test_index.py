"""The index against the real embedded PostgreSQL + pgvector and the real embedding model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import psutil
import psycopg
import pytest
from typer.testing import CliRunner

from ingestion.writer import DocumentWriter
from rag_service.core.database import migrate, migration_files
from rag_service.core.embedded import EmbeddedPostgres
from rag_service.core.errors import EmbeddingModelMismatch, InvalidInput

ROOT = Path(__file__).resolve().parents[2]


def counts(db) -> tuple[int, int, int]:
    with db.connection() as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks),"
            " (SELECT count(*) FROM units)"
        ).fetchone()
    return tuple(int(x) for x in row)


def test_schema_is_migrated_and_recorded(services) -> None:
    with services.db.connection() as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        meta = conn.execute("SELECT embedding_model, embedding_dim FROM index_meta").fetchone()
        indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname='vector'").fetchone()
    assert versions == [v for v, _ in migration_files()]
    assert meta == (services.embedder.name, 384)
    assert {"chunks_embedding_hnsw", "chunks_tsv_gin"} <= indexes
    assert ext is not None
    # migrating again applies nothing
    with psycopg.connect(services.db.url, autocommit=True) as conn:
        assert migrate(conn, embedding_model=services.embedder.name, embedding_dim=384) == []


def test_a_different_embedding_model_is_refused(services) -> None:
    with (
        psycopg.connect(services.db.url, autocommit=True) as conn,
        pytest.raises(EmbeddingModelMismatch, match="all-MiniLM-L6-v2"),
    ):
        migrate(conn, embedding_model="intfloat/e5-large", embedding_dim=1024)


def test_bundled_corpus_is_indexed_with_exact_offsets(services) -> None:
    with services.db.connection() as conn:
        docs = {r[0] for r in conn.execute("SELECT source FROM documents")}
        bad_chunks = conn.execute(
            "SELECT count(*) FROM chunks c JOIN documents d ON d.id = c.document_id"
            " WHERE substr(d.content, c.start_char + 1, c.end_char - c.start_char) <> c.text"
        ).fetchone()[0]
        bad_units = conn.execute(
            "SELECT count(*) FROM units u JOIN chunks c ON c.id = u.chunk_id"
            " JOIN documents d ON d.id = c.document_id"
            " WHERE substr(d.content, u.start_char + 1, u.end_char - u.start_char) <> u.text"
        ).fetchone()[0]
        n_chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    assert docs == {f"corpus/{p.name}" for p in (ROOT / "rag_service" / "corpus").iterdir()}
    assert n_chunks > 20
    assert bad_chunks == 0
    assert bad_units == 0


def test_reingesting_the_corpus_writes_nothing(services) -> None:
    before = counts(services.db)
    with services.db.connection() as conn:
        stamp = conn.execute(
            "SELECT max(d.updated_at), max(c.id) FROM chunks c"
            " JOIN documents d ON d.id = c.document_id"
        ).fetchone()
    outcomes = services.ingestor.ingest_paths([ROOT / "rag_service" / "corpus"])
    assert {o.status for o in outcomes} == {"unchanged"}
    assert counts(services.db) == before
    with services.db.connection() as conn:
        assert (
            conn.execute(
                "SELECT max(d.updated_at), max(c.id) FROM chunks c"
                " JOIN documents d ON d.id = c.document_id"
            ).fetchone()
            == stamp
        )


def test_changed_file_replaces_its_chunks_and_delete_cascades(services) -> None:
    w = services.ingestor
    first = w.ingest_bytes("replace-me.md", b"# Rates\nThe median day rate is \xc2\xa3111.\n")
    assert first.status == "added"
    again = w.ingest_bytes("replace-me.md", b"# Rates\nThe median day rate is \xc2\xa3111.\n")
    assert again.status == "unchanged"
    second = w.ingest_bytes("replace-me.md", b"# Rates\nThe median day rate is \xc2\xa3222.\n")
    assert second.status == "replaced" and second.document_id == first.document_id
    with services.db.connection() as conn:
        texts = [
            r[0]
            for r in conn.execute(
                "SELECT c.text FROM chunks c WHERE c.document_id = %s", (first.document_id,)
            )
        ]
    assert texts and all("222" in t and "111" not in t for t in texts)
    assert w.delete("replace-me.md")
    with services.db.connection() as conn:
        left = conn.execute(
            "SELECT (SELECT count(*) FROM chunks WHERE document_id = %(d)s),"
            " (SELECT count(*) FROM units u JOIN chunks c ON c.id = u.chunk_id"
            "  WHERE c.document_id = %(d)s)",
            {"d": first.document_id},
        ).fetchone()
    assert left == (0, 0)
    assert not w.delete("replace-me.md")


class PoisonedEmbedder:
    """The real model, except that a text containing POISON gets a NaN vector, which pgvector
    rejects in the middle of the COPY: a crash halfway through writing a document."""

    def __init__(self, real) -> None:
        self.real, self.name, self.dim = real, real.name, real.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self.real.embed(texts)
        for i, t in enumerate(texts):
            if "POISON" in t:
                vectors[i] = np.nan
        return vectors


def test_a_crash_mid_document_leaves_the_previous_version(services, settings) -> None:
    good = "\n\n".join(f"Section {i}\n" + "Plain sentence about rates. " * 30 for i in range(4))
    services.ingestor.ingest_bytes("crash.txt", good.encode())
    before = counts(services.db)
    poisoned = good.replace("Section 3\n", "Section 3\nPOISON here. ")
    writer = DocumentWriter(settings, services.db, PoisonedEmbedder(services.embedder))
    prepared = writer.prepare("crash.txt", poisoned.encode(), "new-sha")
    assert len(prepared.chunks) >= 3  # the failure hits after earlier chunks were sent
    # Postgres refuses the NaN vector mid-COPY; the database layer maps that data error to
    # InvalidInput (never Postgres' own text) and the transaction rolls back.
    with pytest.raises(InvalidInput):
        writer.write(prepared)
    assert counts(services.db) == before
    with services.db.connection() as conn:
        content = conn.execute("SELECT content FROM documents WHERE source='crash.txt'").fetchone()
    assert content[0] == good
    services.ingestor.delete("crash.txt")


def test_cli_reports_bad_files_and_goes_on(services, tmp_path: Path, monkeypatch) -> None:
    from ingestion.cli import app
    from rag_service.core.config import get_settings

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "good.md").write_text("# Tenure\nTypical tenure in the role is 31 months.\n")
    (folder / "empty.txt").write_text("   \n")
    (folder / "garbage.txt").write_bytes(os.urandom(2048))
    (folder / "huge.txt").write_text("word " * 300_000)
    (folder / "picture.png").write_bytes(b"\x89PNG\r\n")
    monkeypatch.setenv("DATABASE_URL", services.db.url)
    monkeypatch.setenv("RAG_MAX_DOCUMENT_BYTES", "1000000")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, [str(folder)])
        assert result.exit_code == 1, result.output
        out = result.output
        assert "good.md" in out and "added" in out
        for name, reason in [
            ("empty.txt", "empty"),
            ("garbage.txt", "binary"),
            ("huge.txt", "limit"),
            ("picture.png", "unsupported"),
        ]:
            line = next(ln for ln in out.splitlines() if name in ln)
            assert "failed" in line and reason in line, line
        again = CliRunner().invoke(app, [str(folder / "good.md")])
        assert again.exit_code == 0 and "unchanged" in again.output
        listed = CliRunner().invoke(app, ["--list"])
        assert "good.md" in listed.output
        deleted = CliRunner().invoke(app, ["--delete", "good.md"])
        assert deleted.exit_code == 0 and "deleted good.md" in deleted.output
        assert CliRunner().invoke(app, ["--delete", "good.md"]).exit_code == 1
    finally:
        get_settings.cache_clear()


def test_stale_server_of_a_killed_process_is_recovered(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    script = textwrap.dedent(f"""
        import os, signal
        from rag_service.core.embedded import EmbeddedPostgres
        EmbeddedPostgres(__import__('pathlib').Path({str(pgdata)!r})).start()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False)
    assert proc.returncode == -signal.SIGKILL
    pid_file = pgdata / "postmaster.pid"
    assert pid_file.exists()  # the orphaned server is still running
    server_pid = int(pid_file.read_text().splitlines()[0])
    pg = EmbeddedPostgres(pgdata)
    url = pg.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    pg.stop()
    assert not pid_file.exists()
    # stopped: gone, or a zombie waiting for a parent that is not us to reap it
    assert not psutil.pid_exists(server_pid) or (
        psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
    )


def test_a_new_index_version_reindexes_unchanged_bytes(services, monkeypatch) -> None:
    from ingestion import writer

    w = services.ingestor
    data = b"# Notice\nThe notice period is typically 3 months.\n"
    assert w.ingest_bytes("versioned.md", data).status == "added"
    assert w.ingest_bytes("versioned.md", data).status == "unchanged"
    monkeypatch.setattr(writer, "INDEX_VERSION", writer.INDEX_VERSION + 1)
    assert w.ingest_bytes("versioned.md", data).status == "replaced"
    assert w.ingest_bytes("versioned.md", data).status == "unchanged"
    assert w.delete("versioned.md")


def test_start_up_refreshes_indexed_bundled_files_only(services, settings, tmp_path) -> None:
    from rag_service.services import sync_bundled_corpus

    (tmp_path / "sync-a.md").write_text("# A\nAlpha rate is 1.\n")
    (tmp_path / "sync-b.md").write_text("# B\nBeta rate is 2.\n")
    w = services.ingestor
    w.ingest_paths([tmp_path / "sync-a.md"])
    (tmp_path / "sync-a.md").write_text("# A\nAlpha rate is 10.\n")
    try:
        sync_bundled_corpus(settings.model_copy(update={"corpus_dir": tmp_path}), services.db, w)
        with services.db.connection() as conn:
            rows = dict(
                conn.execute(
                    "SELECT source, content FROM documents WHERE source LIKE '%sync-%'"
                ).fetchall()
            )
        # indexed under its old key (the name alone), renamed to the folder's key, refreshed;
        # b not added
        assert rows == {f"{tmp_path.name}/sync-a.md": "# A\nAlpha rate is 10.\n"}
    finally:
        w.delete(f"{tmp_path.name}/sync-a.md")


def test_an_unexpected_writer_error_is_raised_not_lost(services, settings, tmp_path) -> None:
    class Broken(DocumentWriter):
        def write_many(self, docs):
            raise RuntimeError(f"bug while writing {docs[0].source}")

    (tmp_path / "lost.md").write_text("# Lost\nA document that must not vanish silently.\n")
    writer = Broken(settings, services.db, services.embedder)
    with pytest.raises(RuntimeError, match=r"lost\.md"):
        writer.ingest_paths([tmp_path])
