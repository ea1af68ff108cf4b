"""The generator contract: numbered passages in, a draft answer with quoted citations out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from rag_service.retrieval.types import UnitHit

if TYPE_CHECKING:
    from rag_service.generation.citations import Reply

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
    title: str = ""  # the document's title, when known (the prompt may describe the corpus)


@dataclass(frozen=True)
class GivenQuote:
    """What a model said supports a claim: `text` from passage `n` (0: any it cites), with
    exact offsets inside that passage's text when the provider gave them (native citations)."""

    n: int
    text: str
    start: int | None = None
    end: int | None = None


@dataclass
class Claim:
    """One statement of a model's answer, as displayed (markers kept), with the passage
    numbers it cites and the quotes given for it."""

    text: str
    passages: tuple[int, ...] = ()
    quotes: tuple[GivenQuote, ...] = ()


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
    # An LLM's reply read into claims, verified claim by claim before anything ships; None for
    # generators whose answers are verbatim passage text (extractive).
    reply: Reply | None = None
    cost_usd: float | None = None  # estimated from usage and the model's price, when known
    meta: dict[str, Any] = field(default_factory=dict)  # prompt version, mode, passages sent


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
