"""Prometheus metrics, one registry per app (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from rag_service.core.errors import RagError

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rag_http_requests",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rag_http_request_duration_seconds",
            "HTTP request latency by route and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.abstentions = Counter(
            "rag_abstentions",
            "Answers withheld, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "rag_upstream_errors",
            "LLM provider failures, by provider and error code.",
            ["provider", "code"],
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method, str(status)).observe(seconds)

    def count_if_upstream(self, provider: str, exc: RagError) -> None:
        """Counts provider failures (502/504); other errors are the caller's or ours."""
        if exc.status in (502, 504):
            self.upstream_errors.labels(provider, exc.code).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
