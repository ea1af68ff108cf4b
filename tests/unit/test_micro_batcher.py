"""MicroBatcher (the ONNX embedder's batching of concurrent questions): a lone call runs at
once, as do calls while a slot is free; calls arriving while every slot is taken are run
together in the next run; each caller gets its own rows back, and an error reaches every
caller of the failed run."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from rag_service.retrieval.embedder import MicroBatcher


class SlowModel:
    """Maps each text to [len(text), index in its run]; each run takes `seconds`."""

    def __init__(self, seconds: float = 0.0, fail_on: str | None = None) -> None:
        self.seconds = seconds
        self.fail_on = fail_on
        self.runs: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.runs.append(list(texts))
        time.sleep(self.seconds)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return np.array([[len(t), i] for i, t in enumerate(texts)], dtype=np.float32)


def concurrently(batcher: MicroBatcher, calls: list[list[str]]) -> list[object]:
    out: list[object] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def call(i: int) -> None:
        start.wait()
        if i:
            time.sleep(0.1)  # the first call leads; the others arrive while it runs
        try:
            out[i] = batcher(calls[i])
        except RuntimeError as exc:
            out[i] = exc

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    return out


def test_a_lone_call_runs_at_once_by_itself() -> None:
    model = SlowModel()
    batcher = MicroBatcher(model)
    t0 = time.perf_counter()
    got = batcher(["abc", "de"])
    assert time.perf_counter() - t0 < 0.5
    assert model.runs == [["abc", "de"]]
    assert got.tolist() == [[3, 0], [2, 1]]


def test_calls_arriving_during_a_run_share_the_next_run() -> None:
    model = SlowModel(seconds=0.6)
    batcher = MicroBatcher(model, slots=1)
    calls = [["first"], ["a"], ["bb", "ccc"], ["dddd"], ["e"]]
    out = concurrently(batcher, calls)
    assert model.runs[0] == ["first"]
    assert len(model.runs) == 2 and sorted(model.runs[1]) == ["a", "bb", "ccc", "dddd", "e"]
    for texts, got in zip(calls, out, strict=True):
        assert isinstance(got, np.ndarray)
        assert got[:, 0].tolist() == [len(t) for t in texts]  # each caller's own rows
    assert batcher.runs == 2


def test_an_error_reaches_every_caller_of_the_failed_run_and_no_one_else() -> None:
    model = SlowModel(seconds=0.6, fail_on="boom")
    batcher = MicroBatcher(model, slots=1)
    out = concurrently(batcher, [["first"], ["boom"], ["fine"]])
    assert isinstance(out[0], np.ndarray)
    assert isinstance(out[1], RuntimeError) and isinstance(out[2], RuntimeError)
    assert batcher(["after"]).tolist() == [[5, 0]]  # not stuck: the next call runs


def test_a_failing_lone_call_raises() -> None:
    batcher = MicroBatcher(SlowModel(fail_on="x"))
    with pytest.raises(RuntimeError):
        batcher(["x"])
    assert batcher(["ok"]).tolist() == [[2, 0]]


def test_calls_run_at_once_while_a_slot_is_free() -> None:
    """Two slots: the first two calls run at once, side by side; the late ones share a run."""
    model = SlowModel(seconds=0.6)
    batcher = MicroBatcher(model, slots=2)
    start = threading.Barrier(2)
    out: list[np.ndarray] = []

    def call(texts: list[str]) -> None:
        start.wait()
        out.append(batcher(texts))

    t0 = time.perf_counter()
    pair = [threading.Thread(target=call, args=([t],)) for t in ("one", "two")]
    for t in pair:
        t.start()
    for t in pair:
        t.join(timeout=10)
    assert time.perf_counter() - t0 < 1.1  # side by side, not one after the other (1.2 s)
    assert sorted(map(tuple, model.runs)) == [("one",), ("two",)]
    assert len(out) == 2
