"""Follow-ups rewritten offline into stand-alone questions; stand-alone questions untouched."""

from __future__ import annotations

import pytest

from rag_service.analysis import question_shape
from rag_service.analysis.followup import keeps_terms, own_terms, rewrite_followup

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
        # the same kind of thing, another qualifier: the word naming the kind stays
        (
            "What is the annual maintenance fee for the Basic Plan?",
            "And the monthly fee?",
            "aspect",
            "What is the monthly maintenance fee for",
        ),
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


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("And in London?", {"london"}),
        ("What about ML engineers?", {"ml", "engineer"}),
        ("What does it pay?", {"pay"}),
        ("Same for contractors", {"contractor"}),
        ("Is there a fee there?", {"fee"}),
        ("How about them?", set()),
    ],
)
def test_a_follow_ups_own_terms_leave_out_its_lead_and_pronouns(question, terms) -> None:
    assert own_terms(question) == terms


@pytest.mark.parametrize(
    ("condensed", "kept"),
    [
        ("What is the median day rate for an AI Engineer in London?", True),
        ("What is the median London day rate for AI Engineers?", True),
        ("What is the median day rate for an AI Engineer in the UK?", False),  # lost London
        ("What is the median day rate for an AI Engineer in Leeds?", False),  # swapped it
        ("", False),
    ],
)
def test_a_condensed_question_must_keep_the_follow_ups_terms(condensed, kept) -> None:
    assert keeps_terms("And in London?", condensed) is kept
