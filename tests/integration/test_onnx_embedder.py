"""The ONNX Runtime embedder against the packaged model on sentence-transformers: the same
vectors (cosine ≥ 0.99) and the same top-5 units for every labelled question over the bundled
corpus, each side searching the corpus it embedded itself. Speed is measured in bench/, not here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runtimes(base_settings):
    from rag_service.retrieval.embedder import LocalEmbedder, OnnxEmbedder, build_embedder

    onnx = build_embedder(base_settings.model_copy(update={"embedding_runtime": "onnx"}))
    assert isinstance(onnx, OnnxEmbedder)
    return LocalEmbedder(), onnx


@pytest.fixture(scope="module")
def questions() -> list[str]:
    """Every labelled question of every set (dialogue sets hold turns, not questions)."""
    rows = [
        json.loads(line)
        for p in sorted((ROOT / "evals" / "datasets").glob("*.jsonl"))
        for line in p.read_text().splitlines()
        if line.strip()
    ]
    return [r["question"] for r in rows if r.get("question")]


@pytest.fixture(scope="module")
def corpus_inputs(base_settings) -> list[str]:
    """What ingestion embeds for the bundled corpus: one input per answer unit."""
    from ingestion.writer import DocumentWriter, files_under

    writer = DocumentWriter(base_settings, None, None)  # type: ignore[arg-type]
    inputs: list[str] = []
    for source, path in files_under([base_settings.corpus_dir]):
        inputs += writer.parse(source, path.read_bytes(), "sha").inputs
    return inputs


def test_question_vectors_match_pytorch(runtimes, questions) -> None:
    torch_emb, onnx_emb = runtimes
    assert len(questions) > 100
    ref = torch_emb.embed(questions)
    one_by_one = np.vstack([onnx_emb.embed([q]) for q in questions])
    batched = onnx_emb.embed(questions)
    assert float((ref * one_by_one).sum(axis=1).min()) >= 0.99
    assert float((ref * batched).sum(axis=1).min()) >= 0.99


def test_top5_units_identical(runtimes, questions, corpus_inputs) -> None:
    torch_emb, onnx_emb = runtimes
    corpus_t, corpus_o = torch_emb.embed(corpus_inputs), onnx_emb.embed(corpus_inputs)
    assert float((corpus_t * corpus_o).sum(axis=1).min()) >= 0.99
    top_t = np.argsort(-(torch_emb.embed(questions) @ corpus_t.T), axis=1)[:, :5]
    top_o = np.argsort(-(onnx_emb.embed(questions) @ corpus_o.T), axis=1)[:, :5]
    differ = [q for q, a, b in zip(questions, top_t, top_o, strict=True) if list(a) != list(b)]
    assert differ == []


def test_cache_returns_the_same_vector(runtimes) -> None:
    _, onnx_emb = runtimes
    first = onnx_emb.embed(["how long does the course take?"])
    again = onnx_emb.embed(["how long does the course take?", "something else entirely"])
    assert np.array_equal(first[0], again[0])
    assert not np.allclose(again[0], again[1])


def test_serving_imports_no_torch(base_settings) -> None:
    """The point of the ONNX runtime: building the embedder and the app loads no torch."""
    code = (
        "import sys; from rag_service.core.config import Settings;"
        "from rag_service.retrieval.embedder import build_embedder;"
        "import rag_service.api.app, rag_service.services;"
        f"e = build_embedder(Settings(RAG_MODEL_CACHE_DIR={str(base_settings.model_cache_dir)!r}));"
        "e.embed(['a question']);"
        "print(type(e).__name__, 'torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == ["OnnxEmbedder", "False", "False"]


def test_no_writable_model_cache_falls_back_to_torch(base_settings, tmp_path) -> None:
    from rag_service.retrieval.embedder import LocalEmbedder, build_embedder

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    emb = build_embedder(base_settings.model_copy(update={"model_cache_dir": blocker / "models"}))
    assert isinstance(emb, LocalEmbedder)
    assert emb.embed(["a question"]).shape == (1, emb.dim)


def test_cache_is_bounded_and_evicts_the_least_recently_used(base_settings) -> None:
    """The LRU cache of question vectors holds at most RAG_EMBEDDING_CACHE_SIZE of them; a
    question asked again is served from it, one pushed out is embedded anew to an equal
    vector."""
    from rag_service.retrieval.embedder import build_embedder

    emb = build_embedder(
        base_settings.model_copy(update={"embedding_runtime": "onnx", "embedding_cache_size": 2})
    )
    a, b, c = "what is a day rate?", "how long is the course?", "which skills are rare?"
    first_a, first_b = emb.embed([a])[0], emb.embed([b])[0]
    assert list(emb._cache) == [a, b]
    assert np.array_equal(emb.embed([a])[0], first_a)  # a hit: a is now the most recent
    assert list(emb._cache) == [b, a]
    emb.embed([c])  # evicts b, the least recently used
    assert list(emb._cache) == [a, c]
    assert np.array_equal(emb.embed([b])[0], first_b)  # embedded again, the same vector
    assert list(emb._cache) == [c, b]


def test_concurrent_questions_get_the_vectors_they_get_alone(runtimes, questions) -> None:
    """Questions of concurrent requests that miss the cache are embedded in one batch
    (MicroBatcher); each gets the vector it gets when asked alone."""
    import threading

    _, onnx_emb = runtimes
    asked = questions[:16]
    alone = np.vstack([onnx_emb._embed([q]) for q in asked])
    runs_before = onnx_emb._batcher.runs
    onnx_emb._cache.clear()
    slots, onnx_emb._batcher._slots = onnx_emb._batcher._slots, 1  # batch whatever the CPUs
    got: list[np.ndarray | None] = [None] * len(asked)
    start = threading.Barrier(len(asked))

    def ask(i: int) -> None:
        start.wait()
        got[i] = onnx_emb.embed([asked[i]])[0]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asked))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    onnx_emb._batcher._slots = slots
    assert onnx_emb._batcher.runs - runs_before < len(asked)  # some were batched
    np.testing.assert_allclose(np.vstack(got), alone, rtol=0, atol=1e-6)
