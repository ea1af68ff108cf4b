"""The dialogue set's gate without I/O: a turn that regressed against the baseline fails it, and
so does a conversation more than 3 points below the same questions asked stand-alone."""

from __future__ import annotations

from evals.dialogues import TurnResult, dialogue_metrics, gap_failures
from evals.gate import DIALOGUES, compare_dialogues, make_baseline, merged_baseline


def turns(conversation: list[bool], alone: list[bool], answerable: int) -> list[TurnResult]:
    """Turns of one dialogue each; the first `answerable` are answerable."""
    return [
        TurnResult(f"d{i}", 1, "first", "q?", "q?", i < answerable, ok, ok_alone)
        for i, (ok, ok_alone) in enumerate(zip(conversation, alone, strict=True))
    ]


GOOD = turns([True] * 40, [True] * 40, answerable=34)


def test_metrics_are_turn_level_in_conversation_and_alone() -> None:
    some = turns([True, False, True, True], [True, True, True, False], answerable=2)
    assert dialogue_metrics(some) == {
        "all_turns": 0.75,
        "answer_accuracy": 0.5,
        "answer_accuracy_alone": 1.0,
        "abstention_accuracy": 1.0,
        "abstention_accuracy_alone": 0.5,
    }
    assert gap_failures(dialogue_metrics(some)) == [
        "answer_accuracy: 0.5000 in conversation, more than 3% below 1.0000 stand-alone"
    ]


def test_the_baseline_entry_passes_its_own_run_and_merges_into_the_others() -> None:
    body = make_baseline({}, (GOOD, dialogue_metrics(GOOD)))
    assert set(body["sets"]) == {DIALOGUES}
    assert body["sets"][DIALOGUES]["questions"]["d0#1"] is True
    assert compare_dialogues(body, dialogue_metrics(GOOD), GOOD).passed
    old = {"tolerances": {}, "sets": {"bundled": {"metrics": {}, "questions": {}}}}
    assert set(merged_baseline(old, body)["sets"]) == {"bundled", DIALOGUES}


def test_a_turn_that_flipped_fails_the_gate() -> None:
    body = make_baseline({}, (GOOD, dialogue_metrics(GOOD)))
    worse = turns([False] + [True] * 39, [True] * 40, answerable=34)  # 33/34: within 3 points
    verdict = compare_dialogues(body, dialogue_metrics(worse), worse)
    assert not verdict.passed and verdict.flipped == ["d0#1"]
    assert any(r.startswith("answer_accuracy:") for r in verdict.regressions)


def test_a_conversation_more_than_3_points_below_alone_fails_even_without_a_regression() -> None:
    wide = turns([False, False] + [True] * 38, [True] * 40, answerable=34)  # 32/34 vs 34/34
    body = make_baseline({}, (wide, dialogue_metrics(wide)))  # a baseline that holds the gap
    verdict = compare_dialogues(body, dialogue_metrics(wide), wide)
    assert not verdict.passed
    assert verdict.regressions == [
        "answer_accuracy: 0.9412 in conversation, more than 3% below 1.0000 stand-alone"
    ]


def test_a_baseline_without_the_dialogues_fails() -> None:
    verdict = compare_dialogues({"sets": {}}, dialogue_metrics(GOOD), GOOD)
    assert not verdict.passed and "not in the baseline" in verdict.regressions[0]
