"""Ingestion benchmark: prints numbers, asserts nothing.

- cold start of the embedded PostgreSQL (initdb + start) and a warm restart;
- the bundled corpus through the whole pipeline (load → chunk → embed → COPY);
- a synthetic corpus of >= 20,000 chunks built from the corpus' own sentences;
- in the same run, the embedding model alone on exactly the texts the pipeline embedded, so
  `pipeline / model` is the share of time spent on the model (target >= 90%).

Usage: python bench/ingest.py [--chunks 20000] [--docs 200]
"""

from __future__ import annotations

import argparse
import random
import re
import resource
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20_000)
    ap.add_argument("--docs", type=int, default=200)
    args = ap.parse_args()

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
