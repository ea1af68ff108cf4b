"""Span verification: every citation must quote the stored document exactly.

Whether to answer at all is the calibrated gate's decision (`rag_service.ranking`); whether
each claim is supported by its span is `generation.citations`. This module makes the last
check, in the database: `document_text[start:end] == quote` for every citation shipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag_service.core.database import Database
from rag_service.generation.base import DraftCitation, Passage


@dataclass(frozen=True)
class VerifiedCitation:
    document: str
    chunk_id: int
    quote: str
    start: int
    end: int
    score: float


def _locate(quote: str, passage: Passage) -> tuple[int, int] | None:
    """Absolute span of `quote` inside the passage, tolerating whitespace differences."""
    idx = passage.text.find(quote)
    if idx >= 0:
        return passage.start + idx, passage.start + idx + len(quote)
    words = quote.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.search(pattern, passage.text)
    if m:
        return passage.start + m.start(), passage.start + m.end()
    return None


class CitationVerifier:
    """Keeps a citation only if `document_text[start:end] == quote` holds in the database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def verify(
        self, citations: list[DraftCitation], passages: list[Passage]
    ) -> list[VerifiedCitation]:
        by_chunk = {p.chunk_id: p for p in passages}
        located: list[VerifiedCitation] = []
        seen: set[tuple[int, int]] = set()
        for c in citations:
            p = by_chunk.get(c.chunk_id)
            if p is None or not c.quote.strip():
                continue
            if c.start is not None and c.end is not None:
                span: tuple[int, int] | None = (c.start, c.end)
            else:
                span = _locate(c.quote, p)
            if span is None or span in seen:
                continue
            seen.add(span)
            quote = p.text[span[0] - p.start : span[1] - p.start] if c.start is None else c.quote
            located.append(
                VerifiedCitation(
                    p.document, c.chunk_id, quote, span[0], span[1], round(float(c.score), 4)
                )
            )
        if not located:
            return []
        with self.db.connection(autocommit=True) as conn:  # one statement: one round trip
            rows = conn.execute(
                "SELECT coalesce(substr(d.content, v.s + 1, v.e - v.s) = v.q, false)"
                " FROM unnest(%s::text[], %s::int[], %s::int[], %s::text[])"
                "   WITH ORDINALITY AS v(doc, s, e, q, n)"
                " LEFT JOIN documents d ON d.source = v.doc ORDER BY v.n",
                (
                    [c.document for c in located],
                    [c.start for c in located],
                    [c.end for c in located],
                    [c.quote for c in located],
                ),
            ).fetchall()
        return [c for c, (ok,) in zip(located, rows, strict=True) if ok]
