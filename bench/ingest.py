"""Ingestion benchmark: prints numbers, asserts nothing.

- cold start of the embedded PostgreSQL (initdb + start) and a warm restart;
- the bundled corpus through the whole pipeline (load → chunk → embed → COPY);
- a synthetic corpus of >= 20,000 chunks built from the corpus' own sentences;
- in the same run, the embedding model alone on exactly the texts the pipeline embedded, so
  `pipeline / model` is the share of time spent on the model (target >= 90%).

With `--cli N` instead: N small documents (two short sections each) through the `rag-ingest`
CLI as its own process, on a scratch embedded PostgreSQL:
- a clean run: wall time (process start and model load included), documents/s, the CLI's
  peak RSS, and the model alone on the same texts in this process right after, so
  `model / CLI` is the throughput ratio (target >= 0.9; the model is timed just before and
  just after the run, as the load on a shared machine drifts);
- a resumed run on a fresh database: the CLI is killed with SIGKILL once `--kill-at` of the
  documents are committed, then run again; it prints what the rerun skipped and embedded,
  checks every document is there once with all its chunks, and the ratio over both runs.

Usage: python bench/ingest.py [--chunks 20000] [--docs 200]
       python bench/ingest.py --cli 10000 [--kill-at 0.5]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_corpus(folder: Path, chunks: int, docs: int, seed: int = 7) -> None:
    """Documents of headed sections, one chunk each, from the corpus' sentences with their
    numbers varied (so no two chunks are identical)."""
    rng = random.Random(seed)
    text = " ".join(p.read_text() for p in (ROOT / "rag_service" / "corpus").glob("*.txt"))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if 40 < len(s) < 240]
    per_doc = chunks // docs + 1
    for d in range(docs):
        parts = []
        for s in range(per_doc):
            body = " ".join(
                re.sub(r"\d+", lambda m: str(rng.randint(2, 99)), rng.choice(sentences))
                for _ in range(3)
            )
            parts.append(f"Section {d}.{s} on market signals\n{body}\n")
        (folder / f"synthetic-{d:04d}.md").write_text("\n".join(parts))


def run_pipeline(settings, db, embedder, folder: Path) -> tuple[float, int, list[str]]:
    """Ingest `folder`; return seconds, chunks written and the exact texts embedded."""
    from ingestion.writer import DocumentWriter

    embedded: list[str] = []

    class Recording:
        name, dim = embedder.name, embedder.dim

        def embed(self, texts: list[str]):
            embedded.extend(texts)
            return embedder.embed(texts)

    writer = DocumentWriter(settings, db, Recording())
    t0 = time.perf_counter()
    outcomes = writer.ingest_paths([folder])
    seconds = time.perf_counter() - t0
    assert not [o for o in outcomes if o.status == "failed"], outcomes
    return seconds, sum(o.chunks for o in outcomes), embedded


def small_docs(folder: Path, n: int, seed: int = 16) -> None:
    """`n` short Markdown documents: a titled section of two of the corpus' sentences and a
    second of one, numbers varied so no two are alike (three embedded texts each)."""
    rng = random.Random(seed)
    text = " ".join(p.read_text() for p in (ROOT / "rag_service" / "corpus").glob("*.txt"))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if 40 < len(s) < 200]

    def sentence() -> str:
        return re.sub(r"\d+", lambda m: str(rng.randint(2, 99)), rng.choice(sentences))

    for i in range(n):
        (folder / f"doc-{i:05d}.md").write_text(
            f"# Note {i}\n\n{sentence()} {sentence()}\n\n## Detail\n\n{sentence()}\n"
        )


SUMMARY = re.compile(
    r"(\d+) added, (\d+) replaced, (\d+) unchanged, (\d+) failed; (\d+) texts embedded"
)


def run_cli(
    folder: Path, url: str, kill_at: int | None = None
) -> tuple[float, float, tuple[int, ...] | None]:
    """Run `rag-ingest folder` against `url`: seconds, peak RSS (MB) and the summary counts
    (added, replaced, unchanged, failed, texts embedded); killed with SIGKILL once `kill_at`
    documents are committed (then no summary)."""
    import psycopg

    cli = [str(Path(sys.executable).with_name("rag-ingest")), str(folder)]
    env = {**os.environ, "DATABASE_URL": url}
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cli, env=env, stdout=subprocess.DEVNULL, stderr=err)
        if kill_at is not None:
            with psycopg.connect(url, autocommit=True) as conn:
                while proc.poll() is None:
                    try:
                        n = conn.execute("SELECT count(*) FROM documents").fetchone()[0]  # type: ignore[index]
                    except psycopg.errors.UndefinedTable:  # not migrated yet
                        n = 0
                    if n >= kill_at:
                        proc.send_signal(signal.SIGKILL)
                        break
                    time.sleep(0.05)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t0
        err.seek(0)
        found = SUMMARY.search(" ".join(err.read().split()))
    if kill_at is None and proc.returncode != 0:
        raise SystemExit(f"rag-ingest exited with {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024, tuple(map(int, found.groups())) if found else None


def cli_bench(n_docs: int, kill_fraction: float) -> None:
    """See the module docstring (`--cli`)."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from ingestion.writer import DocumentWriter, files_under
    from rag_service.core.config import Settings
    from rag_service.core.embedded import EmbeddedPostgres
    from rag_service.retrieval.embedder import build_embedder

    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-cli-"))
    folder = tmp / "docs"
    folder.mkdir()
    small_docs(folder, n_docs)
    settings = Settings(RAG_DATA_DIR=tmp)
    parser = DocumentWriter(settings, None, None)  # type: ignore[arg-type]
    docs = {s: parser.parse(s, p.read_bytes(), "-") for s, p in files_under([folder])}
    texts = [t for d in docs.values() for t in d.inputs]
    chunks = sum(len(d.chunks) for d in docs.values())
    print(f"{n_docs:,} documents: {chunks:,} chunks, {len(texts):,} texts to embed")
    server = EmbeddedPostgres(tmp / "pgdata", delete_on_stop=True)
    root = server.start()
    try:
        with psycopg.connect(root, autocommit=True) as conn:
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                conn.execute(f"ALTER SYSTEM SET {setting} = off")  # a scratch server
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CREATE DATABASE clean")
            conn.execute("CREATE DATABASE resumed")
        clean, resumed = (make_conninfo(root, dbname=d) for d in ("clean", "resumed"))
        embedder = build_embedder(settings)
        embedder.embed(texts[:64])  # loaded and warm, as the CLI's is after its first batch

        def model_alone() -> float:
            t0 = time.perf_counter()
            embedder.embed(texts)
            return time.perf_counter() - t0

        # the model alone just before and just after the CLI: on a shared machine the load
        # changes over minutes, and the two bound what the model did during the run
        before = model_alone()
        secs, rss, counts = run_cli(folder, clean)
        after = model_alone()
        model = (before + after) / 2
        print(
            f"clean run: {secs:.1f} s = {n_docs / secs:.1f} documents/s, {len(texts) / secs:.1f}"
            f" texts/s; model alone on the same texts {before:.1f} s before, {after:.1f} s after"
            f" ({len(texts) / model:.1f} texts/s); CLI / model throughput {model / secs:.2f}x"
            f" ({before / secs:.2f}-{after / secs:.2f}x); CLI peak RSS {rss:.0f} MB;"
            f" summary {counts}"
        )
        kill_at = max(1, int(kill_fraction * n_docs))
        first, rss1, _ = run_cli(folder, resumed, kill_at=kill_at)
        with psycopg.connect(resumed) as conn:
            committed = conn.execute("SELECT count(*) FROM documents").fetchone()[0]  # type: ignore[index]
        second, rss2, counts = run_cli(folder, resumed)
        model = model_alone()
        assert counts is not None
        added, _, unchanged, _, embedded = counts
        with psycopg.connect(resumed) as conn:
            n, distinct, n_chunks = conn.execute(
                "SELECT count(*), count(DISTINCT source), (SELECT count(*) FROM chunks)"
                " FROM documents"
            ).fetchone()  # type: ignore[misc]
        complete = n == distinct == n_docs and n_chunks == chunks
        print(
            f"resumed: killed after {first:.1f} s with {committed:,} documents committed; the"
            f" rerun ({second:.1f} s) skipped {unchanged:,} (not re-embedded), added {added:,},"
            f" embedded {embedded:,} of {len(texts):,} texts; resumed = {unchanged == committed};"
            f" every document once with all its chunks = {complete}; both runs"
            f" {first + second:.1f} s, model alone right after {model:.1f} s, CLI / model"
            f" throughput {model / (first + second):.2f}x (the killed run's lost batch included);"
            f" peak RSS {max(rss1, rss2):.0f} MB"
        )
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20_000)
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--cli", type=int, default=0, help="documents through rag-ingest instead")
    ap.add_argument("--kill-at", type=float, default=0.5)
    args = ap.parse_args()
    if args.cli:
        cli_bench(args.cli, args.kill_at)
        return

    from rag_service.core.config import Settings
    from rag_service.core.database import Database
    from rag_service.core.embedded import EmbeddedPostgres
    from rag_service.retrieval.embedder import build_embedder

    with tempfile.TemporaryDirectory() as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "cold", delete_on_stop=False)
        t0 = time.perf_counter()
        pg.start()
        cold = time.perf_counter() - t0
        pg.stop()
        t0 = time.perf_counter()
        pg.start()
        warm = time.perf_counter() - t0
        pg.stop()
    print(f"embedded postgres: cold start (initdb + start) {cold:.2f} s, warm start {warm:.2f} s")

    t0 = time.perf_counter()
    settings = Settings(RAG_DATA_DIR=tempfile.mkdtemp(prefix="bench-ingest-"))
    embedder = build_embedder(settings)
    print(f"model load {time.perf_counter() - t0:.2f} s, RSS {rss_mb():.0f} MB")
    db = Database(settings, embedded_delete_on_stop=True)
    db.open(embedding_model=embedder.name, embedding_dim=embedder.dim)
    try:
        synthetic = Path(tempfile.mkdtemp(prefix="bench-synth-"))
        synthetic_corpus(synthetic, args.chunks, args.docs)
        for label, folder in [
            ("bundled corpus", ROOT / "rag_service" / "corpus"),
            ("synthetic", synthetic),
        ]:
            secs, n_chunks, texts = run_pipeline(settings, db, embedder, folder)
            t0 = time.perf_counter()
            embedder.embed(texts)
            model_secs = time.perf_counter() - t0
            print(
                f"{label}: {n_chunks} chunks ({len(texts)} texts embedded) in {secs:.1f} s = "
                f"{n_chunks / secs:.1f} chunks/s; model alone on the same texts {model_secs:.1f} s "
                f"= {n_chunks / model_secs:.1f} chunks/s; pipeline reaches "
                f"{100 * model_secs / secs:.0f}% of the model's throughput; "
                f"peak RSS {rss_mb():.0f} MB"
            )
    finally:
        db.close()


if __name__ == "__main__":
    main()
