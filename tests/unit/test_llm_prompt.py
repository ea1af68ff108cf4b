"""The LLM providers' shared parts without I/O: prompt files, context budget, cost, bounds."""

from __future__ import annotations

import re

import pytest

from rag_service.core.errors import UpstreamBusy
from rag_service.generation.base import Passage
from rag_service.generation.llm import (
    PROMPTS,
    SENTINEL,
    StreamAccumulator,
    TokenCounter,
    UpstreamLimiter,
    clean_condensed,
    condense_message,
    condense_prompt,
    corpus_description,
    estimate_cost,
    fit_passages,
    system_prompt,
)


def passage(n: int, text: str, document: str = "guide-to-ferries.md") -> Passage:
    return Passage(n, n, document, "", text, 100 * n, 100 * n + len(text), 0.5)


def test_the_prompt_names_no_subject_and_says_how_to_cite_per_mode() -> None:
    for mode, marker in (("text", "QUOTES:"), ("json", "answer_found"), ("native", "documents")):
        prompt = system_prompt(mode, "the documents provided")
        assert marker in prompt.text and SENTINEL in prompt.text
        assert "{" not in prompt.text.replace("{n}", "")
        assert prompt.version.startswith("2+")
    raw = (PROMPTS / "system.txt").read_text()
    body = "\n".join(ln for ln in raw.splitlines() if not ln.startswith("#"))
    # domain-neutral: nothing but the placeholders says what the documents are about
    assert not re.search(r"salar|career|engineer|market|UK\b", body, re.I)


def test_corpus_description_from_setting_titles_or_neutral() -> None:
    ps = [passage(1, "x", "harbour-timetables_2024.md"), passage(2, "y", "fares.txt")]
    assert corpus_description(ps, "our ferry handbook") == "our ferry handbook"
    assert corpus_description(ps, None) == "documents such as “harbour timetables 2024” and “fares”"
    assert corpus_description([], None) == "the documents provided"


def test_a_custom_prompt_file_gets_the_format_and_its_own_version(tmp_path) -> None:
    f = tmp_path / "mine.txt"
    f.write_text("# prompt-version: 9\nAnswer from {corpus}. Unsure: {sentinel}.")
    prompt = system_prompt("text", "the manuals", f)
    assert prompt.text.startswith(f"Answer from the manuals. Unsure: {SENTINEL}.")
    assert "QUOTES:" in prompt.text and prompt.name == "mine.txt"
    assert prompt.version.startswith("9+")
    assert system_prompt("text", "other manuals", f).version != prompt.version


def test_passages_fit_the_context_budget() -> None:
    counter = TokenCounter()  # the character estimate
    ps = [passage(i, "A sentence about ferries. " * 40) for i in range(1, 6)]
    each = counter.count(ps[0].text)
    kept = fit_passages(ps, "q?", "system", budget=3 * each, reserve_output=100, counter=counter)
    assert [p.n for p in kept] == [1, 2]
    cut = fit_passages(
        ps, "q?", "system", budget=each // 2 + 200, reserve_output=100, counter=counter
    )
    assert len(cut) == 1 and 0 < len(cut[0].text) < len(ps[0].text)
    assert ps[0].text.startswith(cut[0].text) and cut[0].text.endswith(".")
    assert cut[0].end - cut[0].start == len(cut[0].text)


def test_token_counter_works_offline() -> None:
    counter = TokenCounter.for_model("openai", "gpt-4o-mini")
    assert counter.count("hello world, this is a test") > 0  # tiktoken or the estimate
    assert TokenCounter.for_model("anthropic", "claude-haiku-4-5").exact is False


def test_cost_estimate() -> None:
    usage = {"input_tokens": 1_000_000, "output_tokens": 100_000}
    assert estimate_cost("gpt-4o-mini-2024-07-18", usage) == pytest.approx(0.15 + 0.06)
    assert estimate_cost("claude-haiku-4-5", usage) == pytest.approx(1.0 + 0.5)
    assert estimate_cost("my-local-llama", usage) is None
    assert estimate_cost("my-local-llama", usage, (0.1, 0.2)) == pytest.approx(0.12)


def test_limiter_refuses_beyond_the_limit_and_frees_slots() -> None:
    limiter = UpstreamLimiter(2, retry_after_s=3)
    a, b = limiter.reserve(), limiter.reserve()
    with pytest.raises(UpstreamBusy) as busy:
        limiter.reserve()
    assert busy.value.status == 503 and busy.value.retry_after_s == 3
    a.release()
    a.release()  # once only
    assert limiter.in_flight == 1
    with limiter.reserve():
        assert limiter.in_flight == 2
    b.release()
    assert limiter.in_flight == 0
    assert UpstreamLimiter(0).reserve() is not None  # 0: no limit


def test_streaming_never_shows_the_quotes_block_or_the_sentinel() -> None:
    for pieces in (
        ["The median is £600 [1].", "\nQUO", "TES:\n[1] ", '"with a median"'],
        ["The median is £600 [1].\n\n**Sour", "ces:** [1]"],
        ["NOT_IN", "_DOCUMENTS"],
    ):
        acc = StreamAccumulator()
        shown = "".join(acc.feed(p) for p in pieces)
        assert "QUO" not in shown and "Sour" not in shown and "NOT_IN" not in shown


@pytest.mark.parametrize(
    "reply",
    [
        "What is the day rate in London?",
        '"What is the day rate in London?"',
        "Standalone question: What is the day rate in London?",
        "**Rewritten question:** What is the day rate in London?",
        "\n  What is the day rate in London?\nIt asks about London.",
        "“What is the day rate in London?”",
    ],
)
def test_a_condense_reply_is_read_as_one_question(reply) -> None:
    assert clean_condensed(reply) == "What is the day rate in London?"


def test_the_condense_prompt_is_a_versioned_file_and_the_turns_are_listed() -> None:
    prompt = condense_prompt()
    assert prompt.name == "condense.txt" and prompt.version.startswith("1+")
    assert not any(line.startswith("#") for line in prompt.text.splitlines())
    assert condense_message("And in London?", ["What is X?", "What is Y?"]) == (
        "Earlier questions:\n1. What is X?\n2. What is Y?\n\nLast question: And in London?"
    )
