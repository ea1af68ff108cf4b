"""Reranker ablation and grounding-gate calibration curve. Prints numbers; asserts nothing.

1. Rerankers on the answerable questions: recall@1 (the top answer unit holds the expected
   answer) and MRR over answer units, for plain fusion, dense-only, lexical-only and the
   default evidence reranker.
2. The gate's minimum-score threshold swept over all labelled questions: share of answerable
   questions answered (and answered correctly), share of unanswerable ones abstained, and the
   precision of abstaining.

Usage: python bench/calibrate.py [--dataset PATH ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", action="append", type=Path)
    args = ap.parse_args()

    from evals.dataset import DEFAULT_DATASETS, load_dataset
    from evals.metrics import answer_matches, norm
    from rag_service.core.config import Settings
    from rag_service.generation.base import Passage
    from rag_service.generation.extractive import ExtractiveGenerator
    from rag_service.generation.grounding import GroundingGate
    from rag_service.retrieval.rerank import (
        EvidenceReranker,
        EvidenceWeights,
        FusionReranker,
        content_terms,
    )
    from rag_service.services import open_services

    rows = [r for p in (args.dataset or DEFAULT_DATASETS) for r in load_dataset(p)]
    settings = Settings(RAG_DATA_DIR=tempfile.mkdtemp(prefix="bench-cal-"))
    services = open_services(settings, ingest_bundled=True, embedded_delete_on_stop=True)
    retriever = services.pipeline.retriever
    base = EvidenceWeights()
    rerankers = {
        "fusion (RRF order, units by dense)": FusionReranker(),
        "dense only": EvidenceReranker(replace(base, lexical=0, phrase=0, answer_type=0)),
        "lexical only": EvidenceReranker(replace(base, dense=0, chunk_dense=0)),
        "evidence (default)": EvidenceReranker(),
    }
    answerable = [r for r in rows if r.answerable]
    print(f"{len(rows)} questions, {len(answerable)} answerable")
    print(f"{'reranker':36} {'recall@1':>8} {'MRR':>6}")
    for label, reranker in rerankers.items():
        hits, rr = 0, 0.0
        for row in answerable:
            ranked = reranker.rerank(retriever.retrieve(row.question, settings.candidates))
            units = sorted((u for c in ranked for u in c.units), key=lambda u: -u.score)
            ok = [
                i
                for i, u in enumerate(units)
                if norm(row.expect[0][0]) in norm(u.display)
                or any(norm(a) in norm(u.display) for a in row.expect[0])
            ]
            hits += bool(ok and ok[0] == 0)
            rr += 1 / (ok[0] + 1) if ok else 0.0
        print(f"{label:36} {hits / len(answerable):8.2f} {rr / len(answerable):6.3f}")

    reranker = EvidenceReranker()
    generator = ExtractiveGenerator()
    cached = []
    for row in rows:
        retrieval = retriever.retrieve(row.question, settings.candidates)
        ranked = reranker.rerank(retrieval)
        passages = [
            Passage(
                i + 1, c.chunk_id, c.source, c.heading, c.text, c.start, c.end, c.score, c.units
            )
            for i, c in enumerate(ranked[: settings.top_k])
        ]
        draft = generator.generate(
            row.question, passages, term_weights=content_terms(retrieval.terms)
        )
        correct = row.answerable and answer_matches(draft.text, row.expect)
        cached.append((row, retrieval, ranked, correct))
    n_una = len(rows) - len(answerable)
    header = ("min score", "answered", "correct", "abstained", "abst. precision")
    print("\n{:>9} {:>9} {:>8} {:>10} {:>16}".format(*header))
    for t in [0.30, 0.35, 0.40, 0.435, 0.45, 0.50, 0.55, 0.60, 0.70, 0.80]:
        gate = GroundingGate(min_score=t)
        answered = correct = abst_ok = abst_all = 0
        for row, retrieval, ranked, ok in cached:
            said = gate.decide(retrieval, ranked).answerable
            if row.answerable:
                answered += said
                correct += said and ok
            else:
                abst_ok += not said
            abst_all += not said
        mark = "  <- default" if abs(t - settings.abstain_threshold) < 1e-9 else ""
        precision = abst_ok / abst_all if abst_all else 1.0
        print(
            f"{t:9.3f} {answered / len(answerable):9.2f} {correct / len(answerable):8.2f} "
            f"{abst_ok / n_una:10.2f} {precision:16.2f}{mark}"
        )
    services.close()


if __name__ == "__main__":
    main()
