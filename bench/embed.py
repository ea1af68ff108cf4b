"""The embedding model's own throughput, per runtime: the packaged model on ONNX Runtime (the
default) and on sentence-transformers (torch), over the bundled corpus' unit inputs (what
ingestion embeds) and over single questions (what a request embeds). Prints numbers only.

Usage: python bench/embed.py [--repeat 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args()
    from ingestion.writer import DocumentWriter, files_under
    from rag_service.core.config import Settings
    from rag_service.retrieval.embedder import build_embedder

    settings = Settings()
    writer = DocumentWriter(settings, None, None)  # type: ignore[arg-type]
    inputs = [
        t
        for source, path in files_under([settings.corpus_dir])
        for t in writer.parse(source, path.read_bytes(), "sha").inputs
    ] * args.repeat
    questions = [
        json.loads(line)["question"]
        for line in (ROOT / "evals" / "datasets" / "dev.jsonl").read_text().splitlines()
        if line.strip()
    ]
    for runtime in ("onnx", "torch"):
        emb = build_embedder(settings.model_copy(update={"embedding_runtime": runtime}))
        emb.embed(inputs[:64])
        t0 = time.perf_counter()
        emb.embed(inputs)
        batch = len(inputs) / (time.perf_counter() - t0)
        if hasattr(emb, "_cache_size"):
            emb._cache_size = 0  # measure the model, not the cache
        t0 = time.perf_counter()
        for q in questions:
            emb.embed([q])
        single = (time.perf_counter() - t0) / len(questions) * 1000
        print(
            f"{runtime:5} ({type(emb).__name__}): {batch:.0f} texts/s batched"
            f" ({len(inputs)} unit inputs), {single:.1f} ms per single question"
        )


if __name__ == "__main__":
    main()
