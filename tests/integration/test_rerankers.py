"""Rankers on real retrievals: the learned selector (default), plain fusion and a CrossEncoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_service.analysis import analyze, question_shape
from rag_service.retrieval.rerank import CrossEncoderReranker, FusionReranker


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised one-layer BERT cross-encoder built and saved locally (no hub)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-ce")
    words = "what is the median day rate salary ai engineer london uk skills gap".split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab))
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
        initializer_range=0.2,  # wide enough that units get clearly different scores
    )
    torch.manual_seed(0)  # the same random model every run
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_cross_encoder_reranker_orders_by_the_models_scores(
    services, tiny_cross_encoder: Path
) -> None:
    """Every unit gets the model's own score for (question, unit) and chunks come best unit
    first: checked against the model's scores computed here, so any other order fails."""
    from sentence_transformers import CrossEncoder

    question = "What is the median day rate?"
    retrieval = services.pipeline.retriever.retrieve(question, 8)
    units = [u for c in retrieval.candidates for u in c.units]
    model = CrossEncoder(str(tiny_cross_encoder), device="cpu")
    scores = model.predict([(question, u.display) for u in units])
    expected = {u.id: float(s) for u, s in zip(units, scores, strict=True)}
    best = {
        c.chunk_id: max((expected[u.id] for u in c.units), default=0.0)
        for c in retrieval.candidates
    }
    assert len({round(v, 5) for v in best.values()}) > 2  # an order to get wrong

    ranked = CrossEncoderReranker(str(tiny_cross_encoder)).rerank(retrieval)
    assert sorted(c.chunk_id for c in ranked) == sorted(best)
    assert [best[c.chunk_id] for c in ranked] == sorted(best.values(), reverse=True)
    for c in ranked:
        assert c.score == pytest.approx(best[c.chunk_id], abs=1e-5)
        assert [u.score for u in c.units] == pytest.approx([expected[u.id] for u in c.units])


def test_cross_encoder_in_the_pipeline(services, settings, tiny_cross_encoder: Path) -> None:
    """The generator reads the cross-encoder's order; the calibrated gate still reads the
    learned selector's scores (the same decision as without the cross-encoder)."""
    from rag_service.services import build_pipeline

    question = "What is the median day rate for an AI Engineer?"
    reranker = CrossEncoderReranker(str(tiny_cross_encoder))
    pipeline = build_pipeline(settings, services.db, services.embedder, reranker=reranker)
    ev = pipeline.ask(question).evidence
    plain = services.pipeline.ask(question).evidence
    assert ev is not None and plain is not None

    crossed = reranker.rerank(pipeline.retriever.retrieve(question, len(ev.retrieval.candidates)))
    assert [c.chunk_id for c in ev.ranked] == [c.chunk_id for c in crossed]
    assert [p.chunk_id for p in ev.passages] == [c.chunk_id for c in ev.ranked[: len(ev.passages)]]
    assert (ev.decision.answerable, ev.decision.reason) == (
        plain.decision.answerable,
        plain.decision.reason,
    )
    assert ev.decision.score == pytest.approx(plain.decision.score)


def test_learned_selector_beats_plain_fusion_on_the_dev_set(services, dev_rows) -> None:
    """The measurement behind the default: recall@1 of a unit holding the expected answer."""
    pipeline = services.pipeline
    rows = [r for r in dev_rows if r["answerable"]]

    def top_unit(question: str, learned: bool) -> str:
        retrieval = pipeline.retriever.retrieve(question, 20)
        if learned:
            analysis = analyze(question_shape(question), retrieval.terms)
            ranked = pipeline.selector.rank(analysis, retrieval).candidates
        else:
            ranked = FusionReranker().rerank(retrieval)
        units = [u for c in ranked[:1] for u in c.units]
        return max(units, key=lambda u: u.score).display.lower() if units else ""

    def recall_at_1(learned: bool) -> float:
        hits = sum(
            any(alt.lower() in top_unit(r["question"], learned) for alt in r["expect"][0])
            for r in rows
        )
        return hits / len(rows)

    learned, fusion = recall_at_1(True), recall_at_1(False)
    assert learned > fusion
    assert learned >= 0.6
