"""Embeddings from an OpenAI-compatible /v1/embeddings server (a loopback one here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import psycopg
import pytest

from rag_service.core.config import Settings
from rag_service.core.errors import EmbeddingModelMismatch
from rag_service.retrieval.embedder import OpenAIEmbedder, build_embedder
from rag_service.services import open_services
from tests.fakes import FakeServer, openai_embeddings


def test_batched_normalised_and_dimension_probed() -> None:
    with FakeServer([openai_embeddings(16)]) as server:
        emb = OpenAIEmbedder("tei-small", base_url=server.url + "/v1", api_key="k", batch_size=4)
        assert emb.dim == 16  # probed with one request
        vectors = emb.embed([f"text number {i}" for i in range(10)])
        calls = [r for r in server.requests if r.path == "/v1/embeddings"]
    assert vectors.shape == (10, 16)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [len(c.body["input"]) for c in calls] == [1, 4, 4, 2]
    assert all(c.body["model"] == "tei-small" for c in calls)


def test_service_indexes_with_remote_embeddings_and_records_the_model(tmp_path: Path) -> None:
    with FakeServer([openai_embeddings(16)]) as server:
        settings = Settings(
            RAG_DATA_DIR=tmp_path,
            RAG_EMBEDDING_PROVIDER="openai",
            RAG_EMBEDDING_MODEL="tei-small",
            RAG_EMBEDDING_BASE_URL=server.url + "/v1",
            RAG_EMBEDDING_DIM=16,
        )
        assert isinstance(build_embedder(settings), OpenAIEmbedder)
        services = open_services(settings, ingest_bundled=True)
        try:
            with services.db.connection() as conn:
                meta = conn.execute(
                    "SELECT embedding_model, embedding_dim FROM index_meta"
                ).fetchone()
                chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
            assert meta == ("tei-small", 16)
            assert chunks > 20
            result = services.pipeline.ask("What is the median day rate?")
            assert result.evidence is not None and result.evidence.ranked
            url = services.db.url
            with (
                psycopg.connect(url, autocommit=True) as conn,
                pytest.raises(EmbeddingModelMismatch, match="tei-small"),
            ):
                from rag_service.core.database import migrate

                migrate(
                    conn,
                    embedding_model="sentence-transformers/all-MiniLM-L6-v2",
                    embedding_dim=384,
                )
        finally:
            services.close()
