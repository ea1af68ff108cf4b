"""Follow-ups rewritten offline into stand-alone questions; stand-alone questions untouched."""

from __future__ import annotations

import pytest

from rag_service.analysis import question_shape
from rag_service.analysis.followup import rewrite_followup

DAY_RATE = "What is the median day rate for an AI Engineer?"
SALARY = "What is the median AI Software Engineer salary in the UK?"


@pytest.mark.parametrize(
    ("previous", "question", "kind", "standalone"),
    [
        (DAY_RATE, "And in London?", "ellipsis", "for an AI Engineer in London?"),
        (SALARY, "And in London?", "ellipsis", "AI Software Engineer salary in London?"),
        (SALARY, "What about London?", "substitution", "salary in London?"),
        (DAY_RATE, "what about ML engineers?", "substitution", "day rate for ML engineers?"),
        (SALARY, "What about the day rate?", "aspect", "day rate for AI Software Engineer"),
        (SALARY, "what is its typical tenure?", "pronoun", "AI Software Engineer's typical"),
        (DAY_RATE, "What does it pay in London?", "pronoun", "What does AI Engineer pay"),
        (
            "How long does it take to become an AI engineer from software engineering?",
            "And from data science?",
            "ellipsis",
            "become an AI engineer from data science?",
        ),
        (SALARY, "What is the typical salary range?", "carried", "range for AI Software Engineer"),
    ],
)
def test_follow_ups_are_rewritten(previous: str, question: str, kind: str, standalone: str):
    r = rewrite_followup(question, [question_shape(previous)])
    assert r.kind == kind and standalone in r.standalone, r


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "Do I need a CS degree?",
        "How long does it take to become an AI engineer from data science?",
        "Which role is easier to break into?",
        "What is the capital of France and what is its population?",
    ],
)
def test_questions_that_stand_alone_are_left_as_they_are(question: str) -> None:
    r = rewrite_followup(question, [question_shape(DAY_RATE)])
    assert r.standalone == question and r.kind == "standalone" and not r.rewritten


def test_no_previous_turn_no_rewrite() -> None:
    assert rewrite_followup("And in London?", []).standalone == "And in London?"
