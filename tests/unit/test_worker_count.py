"""uvicorn workers default to the CPUs, within the memory budget."""

from __future__ import annotations

from rag_service.cli import WORKER_MB, worker_count
from rag_service.core.config import Settings
from rag_service.retrieval.embedder import cpu_count


def test_explicit_workers_win() -> None:
    assert worker_count(Settings(RAG_WORKERS=3, RAG_MEMORY_BUDGET_MB=100)) == 3


def test_one_per_cpu_when_memory_allows() -> None:
    assert worker_count(Settings(RAG_MEMORY_BUDGET_MB=WORKER_MB * 64)) == min(cpu_count(), 64)


def test_the_memory_budget_caps_the_workers() -> None:
    assert worker_count(Settings(RAG_MEMORY_BUDGET_MB=WORKER_MB)) == 1
    assert worker_count(Settings(RAG_MEMORY_BUDGET_MB=100)) == 1  # never fewer than one
