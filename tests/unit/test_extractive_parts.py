"""A multi-part question answers the parts the passages support and names the part no
passage touches, instead of leaving it silent or abstaining on the whole question."""

from __future__ import annotations

from rag_service.analysis import analyze, question_shape
from rag_service.generation.base import Passage
from rag_service.generation.extractive import ExtractiveGenerator
from rag_service.retrieval.types import QueryTerms, UnitHit

LINES = [
    ("The retry limit is five attempts per minute.", {"retri", "limit", "five", "attempt"}),
    ("Timeouts are logged with the request id.", {"timeout", "log", "request", "id"}),
]


def _passage() -> Passage:
    text = " ".join(line for line, _ in LINES)
    units, at = [], 0
    for i, (line, lexemes) in enumerate(LINES):
        s = text.index(line, at)
        at = s + len(line)
        units.append(
            UnitHit(i, 3, i, "sentence", line, line, s, at, frozenset(lexemes), 0.5, 0.9 - i / 2)
        )
    return Passage(1, 3, "ops.md", "", text, 0, len(text), 1.0, units)


def _analysis(question: str, idf: dict[str, float]):
    return analyze(question_shape(question), QueryTerms(idf, frozenset(), 100))


def test_the_part_no_passage_touches_is_named() -> None:
    question = "What is the retry limit, and how much jitter does the backoff add?"
    analysis = _analysis(question, {"retri": 2.0, "limit": 2.0, "jitter": 3.0, "backoff": 3.0})
    assert len(analysis.parts) == 2
    draft = ExtractiveGenerator().generate(question, [_passage()], analysis=analysis)
    assert draft.text.startswith("The retry limit is five attempts per minute.")
    assert draft.text.endswith(
        'The documents do not answer "how much jitter does the backoff add".'
    )
    assert draft.meta["unanswered_parts"] == ["how much jitter does the backoff add?"]
    assert draft.citations[0].quote == LINES[0][0]


def test_parts_that_passages_touch_are_not_named() -> None:
    question = "What is the retry limit, and what is logged with timeouts?"
    analysis = _analysis(question, {"retri": 2.0, "limit": 2.0, "log": 1.0, "timeout": 3.0})
    draft = ExtractiveGenerator().generate(question, [_passage()], analysis=analysis)
    assert "do not answer" not in draft.text
    assert draft.meta["unanswered_parts"] == []
    assert len(draft.citations) == 2
