"""Grounding: decide whether the retrieved evidence can answer at all, and verify citations.

The gate runs before any generator. It abstains when
- the question tries to override the instructions (prompt injection), or
- the question names something the corpus never mentions (a capitalised name or a number
  absent from every chunk: "Manchester", "2025"), or
- the best evidence is weak: a low reranker score, or the question's key terms largely
  missing from the best passage.
Thresholds are calibrated on the labelled dev set (see `evals/`), not per question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from rag_service.core.database import Database
from rag_service.generation.base import DraftCitation, Passage
from rag_service.retrieval.rerank import (
    COMPARISON,
    FRAMING_TERMS,
    EvidenceWeights,
    content_terms,
    expected_answer_type,
    lexical_coverage,
    phrase_tokens,
)
from rag_service.retrieval.search import Candidate, Retrieval, UnitHit

_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.?!]{0,60}\b(instructions?|prompts?|rules?|"
    r"guidelines?|context|above|previous|prior)\b"
    r"|\bsystem prompt\b|\byou are now\b|\bact as\b|\bjailbreak|\bdeveloper mode\b"
    r"|\b(reveal|print|show|repeat|output)\b[^.?!]{0,40}\b(prompt|instructions)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"^[A-Z][A-Za-z]")
# Head nouns of job titles: the corpus is about roles, and "Data Scientist" or "prompt engineer"
# evidence cannot answer for "AI Engineer" (nor the reverse).
ROLE_HEADS = frozenset(
    "engineer scientist developer analyst researcher manager architect designer".split()
)


def role_phrases(text: str) -> set[tuple[str, str]]:
    """(modifier, head) pairs such as ("data", "scientist") or ("ai", "engineer"); the
    discipline counts as its role ("ML engineering" names ML Engineers' work)."""
    toks = [
        t.removesuffix("ing") if t.removesuffix("ing") in ROLE_HEADS else t
        for t in phrase_tokens(text)
    ]
    return {(a, b) for a, b in pairwise(toks) if b in ROLE_HEADS and a not in ROLE_HEADS}


def evidence_text(cand: Candidate, unit: UnitHit) -> str:
    """What a unit is read with: its document title, heading and the unit before it."""
    before = [u.display for u in cand.units if u.ordinal == unit.ordinal - 1]
    return "\n".join([cand.title, cand.heading, *before, unit.display])


@dataclass(frozen=True)
class GateDecision:
    answerable: bool
    reason: str
    score: float  # the best unit's reranker score
    coverage: float  # share of the question's term weight found in the best passage
    unknown_entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class GroundingGate:
    min_score: float = 0.435
    min_coverage: float = 0.3
    max_unknown_share: float = 0.4
    require_answer_type: bool = True

    def decide(self, retrieval: Retrieval, ranked: list[Candidate]) -> GateDecision:
        if _INJECTION.search(retrieval.question):
            return GateDecision(False, "prompt_injection", 0.0, 0.0)
        terms = retrieval.terms
        words = retrieval.question.split()
        first = words[0] if words else ""
        unknown = tuple(
            sorted(
                {
                    terms.surface[t].strip(".,;:!?\"'()")
                    for t in terms.unknown
                    if t in terms.surface
                    and (
                        any(ch.isdigit() for ch in t)
                        or (_CAPITALISED.match(terms.surface[t]) and terms.surface[t] != first)
                    )
                }
            )
        )
        if not ranked or not ranked[0].units:
            return GateDecision(False, "no_evidence", 0.0, 0.0, unknown)
        best_c = ranked[0]
        best_u = best_c.units[0]
        weights = content_terms(terms)
        coverage = lexical_coverage(weights, best_u, best_c, EvidenceWeights())
        if unknown:
            return GateDecision(False, "unknown_entity", best_u.score, coverage, unknown)
        asked = {t: w for t, w in terms.idf.items() if t not in FRAMING_TERMS}
        unknown_share = sum(w for t, w in asked.items() if t in terms.unknown) / max(
            sum(asked.values()), 1e-9
        )
        if unknown_share > self.max_unknown_share:
            return GateDecision(False, "unknown_terms", best_u.score, coverage)
        want = expected_answer_type(retrieval.question)
        if self.require_answer_type and want is not None and not want.search(best_u.display):
            return GateDecision(False, "no_value_of_asked_type", best_u.score, coverage)
        # The answer's evidence must be about the roles asked about; a comparison may draw
        # on the top three units.
        top = sorted(((u, c) for c in ranked for u in c.units), key=lambda uc: -uc[0].score)
        top = top[:3] if COMPARISON.search(retrieval.question) else top[:1]
        seen_roles = set().union(*(role_phrases(evidence_text(c, u)) for u, c in top))
        asked_roles = role_phrases(retrieval.question)
        if asked_roles and not asked_roles & seen_roles:
            return GateDecision(False, "other_role", best_u.score, coverage)
        if best_u.score < self.min_score:
            return GateDecision(False, "low_score", best_u.score, coverage)
        if coverage < self.min_coverage:
            return GateDecision(False, "low_coverage", best_u.score, coverage)
        return GateDecision(True, "supported", best_u.score, coverage)


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
        with self.db.connection() as conn:
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
            conn.commit()
        return [c for c, (ok,) in zip(located, rows, strict=True) if ok]
