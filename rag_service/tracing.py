"""Tracing seam: Langfuse (SDK v5, OpenTelemetry underneath) when its keys are configured,
otherwise a no-op that never imports the SDK nor touches the network.

One trace per request (`ask`) or eval question (`eval`), with child observations `retrieve`,
`rerank`, `generate` (a generation: provider, model, token usage) and `abstention` (the
gate's decision). Spans are exported in the background by a batch processor, so a slow or
unreachable Langfuse host never blocks a request; only shutdown waits, for a bounded time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from rag_service.core.config import Settings

log = logging.getLogger(__name__)


class _NoSpan:
    def update(self, **_: Any) -> None:
        return None


class TraceHandle:
    """The request's root: its id (returned to the caller) and a place to attach scores."""

    def __init__(self, root: Any = None, trace_id: str | None = None) -> None:
        self._root = root
        self.trace_id = trace_id

    def score(self, name: str, value: float) -> None:
        if self._root is not None:
            self._root.score_trace(name=name, value=value)

    def update(self, **kwargs: Any) -> None:
        if self._root is not None:
            self._root.update(**kwargs)


class Tracer:
    """The disabled tracer; `LangfuseTracer` overrides every method."""

    enabled = False

    @classmethod
    def disabled(cls) -> Tracer:
        return cls()

    @contextmanager
    def request(
        self, name: str, question: str, *, tags: dict[str, str] | None = None
    ) -> Iterator[TraceHandle]:
        yield TraceHandle()

    @contextmanager
    def span(self, name: str, **_: Any) -> Iterator[Any]:
        yield _NoSpan()

    @contextmanager
    def generation(self, provider: str, passages: list[Any]) -> Iterator[Any]:
        yield _NoSpan()

    def decision(self, answerable: bool, reason: str) -> None:
        return None

    def flush(self) -> None:
        return None

    def shutdown(self) -> None:
        return None


class _GenerationSpan:
    """Maps our `update(output, model, usage)` onto a Langfuse generation."""

    def __init__(self, obs: Any) -> None:
        self._obs = obs

    def update(
        self,
        *,
        output: Any = None,
        model: str | None = None,
        usage: dict[str, int] | None = None,
        cost_usd: float | None = None,
        metadata: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        details = None
        if usage:
            details = {
                "input": usage.get("input_tokens", 0),
                "output": usage.get("output_tokens", 0),
            }
        cost = {"total": cost_usd} if cost_usd is not None else None
        self._obs.update(
            output=output, model=model, usage_details=details, cost_details=cost, metadata=metadata
        )


class LangfuseTracer(Tracer):
    enabled = True

    def __init__(self, settings: Settings, span_exporter: Any = None) -> None:
        from langfuse import Langfuse

        assert settings.langfuse_public_key and settings.langfuse_secret_key
        self._client = Langfuse(
            public_key=settings.langfuse_public_key,
            secret_key=settings.langfuse_secret_key.get_secret_value(),
            base_url=settings.langfuse_base_url,
            timeout=settings.langfuse_timeout_s,
            flush_interval=settings.langfuse_flush_interval_s,
            environment=settings.langfuse_environment,
            span_exporter=span_exporter,
        )

    @contextmanager
    def request(
        self, name: str, question: str, *, tags: dict[str, str] | None = None
    ) -> Iterator[TraceHandle]:
        from langfuse import propagate_attributes

        tags = tags or {}
        with (
            self._client.start_as_current_observation(
                name=name, as_type="span", input={"question": question}
            ) as root,
            propagate_attributes(
                trace_name=name,
                tags=[f"{k}:{v}" for k, v in tags.items()],
                metadata=tags or None,
            ),
        ):
            yield TraceHandle(root, self._client.get_current_trace_id())

    @contextmanager
    def span(self, name: str, *, input: Any = None, **_: Any) -> Iterator[Any]:
        kind: Literal["retriever", "span"] = "retriever" if name == "retrieve" else "span"
        with self._client.start_as_current_observation(name=name, as_type=kind, input=input) as s:
            yield s

    @contextmanager
    def generation(self, provider: str, passages: list[Any]) -> Iterator[Any]:
        sent = [
            {"n": p.n, "document": p.document, "chunk_id": p.chunk_id, "text": p.text}
            for p in passages
        ]
        with self._client.start_as_current_observation(
            name="generate", as_type="generation", input=sent, metadata={"provider": provider}
        ) as gen:
            yield _GenerationSpan(gen)

    def decision(self, answerable: bool, reason: str) -> None:
        self._client.start_observation(
            name="abstention",
            as_type="guardrail",
            output={"answerable": answerable, "reason": reason},
            level="DEFAULT" if answerable else "WARNING",
        ).end()

    def flush(self) -> None:
        self._client.flush()

    def shutdown(self) -> None:
        self._client.shutdown()


def build_tracer(settings: Settings, span_exporter: Any = None) -> Tracer:
    if not (settings.langfuse_public_key and settings.langfuse_secret_key):
        return Tracer.disabled()
    if not settings.langfuse_tracing_enabled:
        return Tracer.disabled()
    try:
        return LangfuseTracer(settings, span_exporter)
    except Exception:  # tracing must never stop the service from starting
        log.exception("Langfuse tracing could not start; continuing without it")
        return Tracer.disabled()
