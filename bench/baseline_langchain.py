"""The naive pipeline a user would write first, side by side with ours, in one run.

Naive: LangChain's RecursiveCharacterTextSplitter (1000/100) + `langchain_postgres.PGVector`
top-k similarity search with the same packaged embedding model, and the same extractive
generator choosing among the retrieved chunks' sentences by their similarity to the question
(embedded at query time). No full-text search, no fusion, no reranking, no grounding gate.
Ours: the service's pipeline. Both on the same embedded PostgreSQL, over the same labelled
questions, scored by the same rules (evals.metrics). Prints numbers; asserts nothing.

Usage: python bench/baseline_langchain.py [--k 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--k", type=int, default=4)
    args = ap.parse_args()

    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_postgres import PGVector
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from evals.dataset import DEFAULT_DATASETS, cites_source, load_dataset
    from evals.metrics import answer_matches
    from rag_service.core.config import Settings
    from rag_service.generation.base import Passage
    from rag_service.generation.extractive import ExtractiveGenerator
    from rag_service.retrieval.search import UnitHit
    from rag_service.retrieval.text import sentence_spans
    from rag_service.services import open_services

    settings = Settings(RAG_DATA_DIR=tempfile.mkdtemp(prefix="bench-naive-"))
    services = open_services(settings, ingest_bundled=True, embedded_delete_on_stop=True)
    embedder = services.embedder

    class PackagedEmbeddings(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()

    url = services.db.url
    assert url is not None
    sa_url = url.replace("postgresql://postgres:@/", "postgresql+psycopg://postgres@/")
    store = PGVector(
        embeddings=PackagedEmbeddings(),
        collection_name="naive_baseline",
        connection=sa_url,
        use_jsonb=True,
        pre_delete_collection=True,
    )
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=100)
    docs = []
    for path in sorted((ROOT / "rag_service" / "corpus").iterdir()):
        for piece in splitter.split_text(path.read_text()):
            docs.append(Document(page_content=piece, metadata={"source": path.name}))
    t0 = time.perf_counter()
    store.add_documents(docs)
    print(f"naive ingest: {len(docs)} chunks in {time.perf_counter() - t0:.1f} s")

    generator = ExtractiveGenerator()

    def naive_ask(question: str) -> tuple[str, set[str]]:
        hits = store.similarity_search_with_score(question, k=args.k)
        qvec = embedder.embed([question])[0]
        passages = []
        for n, (doc, _distance) in enumerate(hits, 1):
            text = doc.page_content
            spans = sentence_spans(text)
            vecs = embedder.embed([text[s:e] for s, e in spans])
            units = [
                UnitHit(
                    n * 1000 + i,
                    n,
                    i,
                    "sentence",
                    text[s:e],
                    text[s:e],
                    s,
                    e,
                    frozenset(),
                    float(v @ qvec),
                    float(v @ qvec),
                )
                for i, ((s, e), v) in enumerate(zip(spans, vecs, strict=True))
            ]
            passages.append(
                Passage(
                    n,
                    n,
                    doc.metadata["source"],
                    "",
                    text,
                    0,
                    len(text),
                    units[0].score if units else 0.0,
                    units,
                )
            )
        draft = generator.generate(question, passages)
        docs_cited = {
            p.document for p in passages for c in draft.citations if c.chunk_id == p.chunk_id
        }
        return draft.text, docs_cited

    rows = [r for p in DEFAULT_DATASETS for r in load_dataset(p)]
    pipeline = services.pipeline
    assert pipeline is not None
    table = {}
    for label in ("naive LangChain PGVector", "rag_service"):
        lat, ans_ok, abst_ok, cite_ok = [], [], [], []
        for row in rows:
            t0 = time.perf_counter()
            if label == "rag_service":
                result = pipeline.ask(row.question)
                answer, answered = result.answer, result.answerable
                cited = {c.document for c in result.citations}
            else:
                answer, cited = naive_ask(row.question)
                answered = bool(answer)
            lat.append((time.perf_counter() - t0) * 1000)
            if row.answerable:
                ans_ok.append(answered and answer_matches(answer, row.expect))
                cite_ok.append(cites_source(cited, row.sources))
            else:
                abst_ok.append(not answered)
        lat.sort()
        table[label] = (
            statistics.fmean(ans_ok),
            statistics.fmean(abst_ok),
            statistics.fmean(cite_ok),
            statistics.median(lat),
            lat[round(0.95 * (len(lat) - 1))],
            1000 / statistics.fmean(lat),  # sequential requests/s
        )
    print(f"{len(rows)} questions ({sum(r.answerable for r in rows)} answerable)")
    print(
        f"{'pipeline':28} {'answer_acc':>10} {'abstain_acc':>11} {'cite_acc':>8} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'req/s':>7}"
    )
    for label, (a, b, c, p50, p95, rps) in table.items():
        print(f"{label:28} {a:10.2f} {b:11.2f} {c:8.2f} {p50:7.1f} {p95:7.1f} {rps:7.1f} req/s")
    services.close()


if __name__ == "__main__":
    main()
