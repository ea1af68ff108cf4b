"""The generator contract: numbered passages in, a draft answer with quoted citations out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from rag_service.retrieval.search import UnitHit

# The fixed sentence every abstention answers with, whichever provider is configured.
ABSTAIN_ANSWER = (
    "I can't answer that from the documents: they don't contain the information needed."
)


@dataclass
class Passage:
    n: int  # 1-based number shown to a language model and used in its [n] markers
    chunk_id: int
    document: str
    heading: str
    text: str
    start: int  # offset of `text` in the document
    end: int
    score: float
    units: list[UnitHit] = field(default_factory=list)


@dataclass
class DraftCitation:
    """A claim's support: `quote` must occur verbatim in chunk `chunk_id` (checked later).
    `start`/`end` are absolute document offsets when the generator knows them."""

    chunk_id: int
    quote: str
    start: int | None = None
    end: int | None = None
    score: float = 0.0


@dataclass
class Draft:
    text: str
    citations: list[DraftCitation]
    abstained: bool = False
    usage: dict[str, int] = field(default_factory=dict)
    model: str | None = None


class Generator(Protocol):
    """One implementation per provider module; adding a provider touches no other file
    except the registry in `generation.registry`."""

    name: str

    def generate(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
    ) -> Draft:
        """`term_weights` (question lexeme → IDF) may guide extractive selection."""
        ...

    def stream(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
    ) -> Iterator[str | Draft]:
        """Yield text deltas as they arrive, then the complete Draft as the last item."""
        ...
