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


def test_admission_limit_is_four_requests_per_cpu_per_worker() -> None:
    """Connections are not spread evenly over the workers, so each admits four requests per
    CPU (not two, which shed 8 clients on 2 cores); RAG_MAX_IN_FLIGHT overrides, 0 is off."""
    s = Settings()
    llm = s.llm_max_concurrency if any(p.configured for p in s.llm_providers.values()) else 0
    assert s.in_flight_limit == 4 * cpu_count() + llm
    assert Settings(RAG_MAX_IN_FLIGHT=3).in_flight_limit == 3
    assert Settings(RAG_MAX_IN_FLIGHT=0).in_flight_limit == 0
