"""RAGAS's LLM-judged metrics through `evals.ragas_metrics` against a loopback judge whose
verdicts depend on what it is shown (tests/fakes.judge): faithful, relevant and well-ranked
inputs score higher than unfaithful, off-topic and badly ranked ones. No database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evals.ragas_metrics import JudgeConfig, RagasScorer
from tests.fakes import FakeServer, judge

FEE = "The monthly fee is 40 euros."
PARKING = "Parking at the office is free for staff."


@pytest.fixture(scope="module")
def scorer() -> Iterator[RagasScorer]:
    with FakeServer([judge()]) as server:
        yield RagasScorer(JudgeConfig(server.url + "/v1", "judge-model"))


def score(scorer: RagasScorer, answer: str, contexts: list[str]) -> dict[str, float]:
    return scorer.score(
        question="What is the monthly fee?",
        answer=answer,
        reference=FEE,
        contexts=contexts,
        evidence=[FEE],
    )


def test_faithfulness_counts_the_statements_the_context_supports(scorer) -> None:
    assert score(scorer, FEE, [FEE, PARKING])["faithfulness"] == 1.0
    half = score(scorer, FEE + " Lunch is served at noon.", [FEE, PARKING])
    assert half["faithfulness"] == 0.5
    assert score(scorer, "Lunch is served at noon.", [FEE, PARKING])["faithfulness"] == 0.0


def test_context_precision_rewards_the_useful_context_ranked_first(scorer) -> None:
    assert score(scorer, FEE, [FEE, PARKING])["context_precision"] == pytest.approx(1.0)
    assert score(scorer, FEE, [PARKING, FEE])["context_precision"] == pytest.approx(0.5)
    assert score(scorer, FEE, [PARKING])["context_precision"] == pytest.approx(0.0)


def test_answer_relevancy_is_higher_on_topic(scorer) -> None:
    on = score(scorer, FEE, [FEE])["answer_relevancy"]
    off = score(scorer, PARKING, [FEE])["answer_relevancy"]
    assert on > 0.5 > off
