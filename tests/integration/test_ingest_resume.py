"""`rag-ingest` resumes after a kill (issue 16): the CLI, run as its own process on a folder of
many small documents, is killed with SIGKILL while it writes; the rerun leaves every document
indexed exactly once with all its chunks and units, keeps the rows the first run committed
(same ids and timestamps), and embeds only the documents the first run did not commit."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from ingestion.writer import DocumentWriter, files_under

N_DOCS = 240
KILL_AT = N_DOCS // 4  # documents committed when the first run is killed
SUMMARY = re.compile(
    r"(\d+) added, (\d+) replaced, (\d+) unchanged, (\d+) failed; (\d+) texts embedded"
)
TOPICS = ["hiring", "salaries", "training", "tooling", "remote work", "certification"]
FACTS = [
    "Hiring for applied roles rose by {n} percent this year.",
    "Most offers named Python and cloud skills as required.",
    "Teams with {n} engineers reported the longest searches.",
    "The median time to fill a post was {n} days.",
    "About {n} percent of postings asked for a degree.",
    "Contract roles paid a day rate near {n} pounds above the median.",
]


def small_docs(folder: Path, n: int) -> None:
    """`n` short Markdown notes (two sections, three embedded units each), all different."""
    rng = random.Random(16)
    for i in range(n):
        facts = [f.format(n=rng.randint(2, 99)) for f in rng.sample(FACTS, 3)]
        (folder / f"note-{i:04d}.md").write_text(
            f"# Note {i} on {rng.choice(TOPICS)}\n\n{facts[0]} {facts[1]}\n\n"
            f"## Detail\n\n{facts[2]}\n"
        )


def rows_by_source(url: str) -> dict[str, tuple[int, object, object, int, int]]:
    """source -> (id, created_at, updated_at, chunks, units) of the notes indexed."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT d.source, d.id, d.created_at, d.updated_at,"
            " (SELECT count(*) FROM chunks c WHERE c.document_id = d.id),"
            " (SELECT count(*) FROM units u JOIN chunks c ON c.id = u.chunk_id"
            "  WHERE c.document_id = d.id)"
            " FROM documents d WHERE d.source LIKE 'notes/%'"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}  # type: ignore[misc]


def test_a_killed_ingest_resumes_without_redoing_committed_documents(
    settings, database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    small_docs(folder, N_DOCS)
    # what each document is: its chunks and the texts embedded for it (parsed, not embedded)
    parser = DocumentWriter(settings, None, None)  # type: ignore[arg-type]
    expected = {
        source: parser.parse(source, path.read_bytes(), "-")
        for source, path in files_under([folder])
    }
    assert len(expected) == N_DOCS
    cli = [str(Path(sys.executable).with_name("rag-ingest")), str(folder)]
    env = {**os.environ, "DATABASE_URL": database_url}

    first = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                n = conn.execute(
                    "SELECT count(*) FROM documents WHERE source LIKE 'notes/%'"
                ).fetchone()[0]  # type: ignore[index]
                if n >= KILL_AT:
                    first.send_signal(signal.SIGKILL)
                    break
                assert first.poll() is None, "the first run ended before it was killed"
                time.sleep(0.005)
    finally:
        if first.poll() is None:
            first.kill()
        first.wait()
    assert first.returncode == -signal.SIGKILL
    committed = rows_by_source(database_url)
    assert KILL_AT <= len(committed) < N_DOCS, len(committed)  # killed part-way
    for source, row in committed.items():  # what was committed is whole
        assert row[3:] == (len(expected[source].chunks), len(expected[source].inputs))

    second = subprocess.run(cli, check=False, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    found = SUMMARY.search(" ".join(second.stderr.split()))
    assert found, second.stderr[-2000:]
    added, replaced, unchanged, failed, embedded = map(int, found.groups())
    assert (added, replaced, unchanged, failed) == (N_DOCS - len(committed), 0, len(committed), 0)
    # only the documents the first run did not commit were embedded again
    assert embedded == sum(len(d.inputs) for s, d in expected.items() if s not in committed)

    final = rows_by_source(database_url)
    assert sorted(final) == sorted(expected)  # every document, once (sources are unique)
    for source, doc in expected.items():
        assert final[source][3:] == (len(doc.chunks), len(doc.inputs)), source
    for source, row in committed.items():  # the first run's rows kept, not rewritten
        assert final[source][:3] == row[:3], source
    with psycopg.connect(database_url) as conn:
        exact, counted = conn.execute(
            "SELECT (SELECT count(*) FROM chunks), (SELECT n_chunks FROM corpus_stats)"
        ).fetchone()  # type: ignore[misc]
    assert exact == counted  # the statistics followed only the committed rows


def test_a_batch_with_a_bad_document_writes_the_others(services, settings, tmp_path) -> None:
    """Documents are written WRITE_BATCH to a transaction; when one makes the database refuse
    the batch, the batch is written again a document at a time: that one fails alone."""

    batches: list[int] = []

    class Refusing(DocumentWriter):
        def write_many(self, docs):  # type: ignore[no-untyped-def]
            batches.append(len(docs))
            if any(d.source.endswith("note-0003.md") for d in docs):
                raise psycopg.errors.DataError("invalid byte sequence")
            return super().write_many(docs)

    folder = tmp_path / "notes"
    folder.mkdir()
    small_docs(folder, 6)
    writer = Refusing(settings, services.db, services.embedder)
    outcomes = writer.ingest_paths([folder])
    assert batches[0] == 6  # one transaction was tried for the whole batch
    assert [o.status for o in outcomes] == ["added"] * 3 + ["failed"] + ["added"] * 2
    assert "invalid byte sequence" in (outcomes[3].reason or "")
    assert set(rows_by_source(services.db.url)) == {
        o.source for o in outcomes if o.status == "added"
    }
