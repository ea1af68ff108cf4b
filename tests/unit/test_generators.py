"""Generators without a database or a network: the extractive one on hand-built passages,
an LLM reply read by `parse_answer`, and which generators the entry-point registry builds."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest
from pydantic import SecretStr

from rag_service.core import plugins
from rag_service.core.config import Settings
from rag_service.core.errors import ProviderNotConfigured
from rag_service.generation.base import Draft, Passage
from rag_service.generation.extractive import ExtractiveGenerator
from rag_service.generation.llm import LLMConfig, parse_answer
from rag_service.generation.registry import build_generators
from rag_service.retrieval.types import UnitHit

TEXT = "Intro line.\nThe retry limit is five attempts per minute.\nUnrelated closing words."


def passage(n: int, chunk: int, scores: list[float], start: int = 1000) -> Passage:
    """TEXT as one passage at `start` in its document, one unit per line scored as given."""
    units, at = [], 0
    for i, (line, score) in enumerate(zip(TEXT.split("\n"), scores, strict=True)):
        s = TEXT.index(line, at)
        at = s + len(line)
        units.append(
            UnitHit(
                10 * chunk + i, chunk, i, "sentence", line, line, start + s, start + at,
                frozenset(line.lower().split()), 0.0, score,
            )
        )  # fmt: skip
    return Passage(n, chunk, f"doc{chunk}.md", "", TEXT, start, start + len(TEXT), 1.0, units)


def test_extractive_answers_with_the_best_unit_and_cites_its_exact_span() -> None:
    p = passage(1, 7, [0.05, 0.9, 0.08])  # the others under CLOSE_SCORE of the best
    draft = ExtractiveGenerator().generate("What is the retry limit?", [p])
    assert not draft.abstained and draft.reply is None
    assert draft.text == "The retry limit is five attempts per minute."
    (cite,) = draft.citations
    assert cite.chunk_id == 7
    assert TEXT[cite.start - p.start : cite.end - p.start] == cite.quote == draft.text


def test_extractive_follows_the_scores_not_the_position() -> None:
    draft = ExtractiveGenerator().generate("q", [passage(1, 7, [0.05, 0.08, 0.9])])
    assert draft.text == "Unrelated closing words."


@pytest.mark.parametrize("scores", [[0.0, 0.0, 0.0], [-1.0, -0.5, 0.0]])
def test_extractive_abstains_without_a_positive_unit(scores) -> None:
    draft = ExtractiveGenerator().generate("q", [passage(1, 7, scores)])
    assert draft.abstained and draft.citations == []
    assert ExtractiveGenerator().generate("q", []).abstained


def test_extractive_stream_is_the_answer_in_pieces_then_the_draft() -> None:
    items = list(ExtractiveGenerator().stream("q", [passage(1, 7, [0.1, 0.9, 0.2])]))
    *deltas, last = items
    assert isinstance(last, Draft)
    assert "".join(deltas) == last.text and len(deltas) > 1


P = [Passage(1, 5, "a.md", "", "The fee is 40 euros a month.", 0, 28, 1.0)]


def test_parse_answer_reads_claims_and_keeps_usage_and_model() -> None:
    usage = {"input_tokens": 10, "output_tokens": 5}
    draft = parse_answer("  The fee is 40 euros [1].  ", P, model="m-1", usage=usage)
    assert draft.text == "The fee is 40 euros [1]."
    assert draft.model == "m-1" and draft.usage == usage
    assert not draft.abstained and draft.citations == []  # verified later, claim by claim
    assert draft.reply is not None and [c.passages for c in draft.reply.claims] == [(1,)]


@pytest.mark.parametrize("reply", ["NOT_IN_DOCUMENTS", "**Not in documents.**"])
def test_parse_answer_sentinel_is_an_abstention(reply: str) -> None:
    assert parse_answer(reply, P, model=None, usage={}).abstained


def test_parse_answer_says_when_json_was_asked_for_and_text_came() -> None:
    draft = parse_answer("The fee is 40 euros [1].", P, model=None, usage={}, mode="json")
    assert draft.reply is not None and draft.reply.mode == "text (json requested)"
    as_json = '{"claims": [{"text": "The fee is 40 euros.", "passages": [1], "quotes": []}]}'
    draft = parse_answer(as_json, P, model=None, usage={}, mode="json")
    assert draft.reply is not None and draft.reply.mode != "text (json requested)"


def test_the_registry_builds_configured_providers_only() -> None:
    assert set(build_generators(Settings())) == {"extractive"}
    s = Settings(OPENAI_BASE_URL="http://127.0.0.1:9/v1", ANTHROPIC_API_KEY="k")
    assert set(build_generators(s)) == {"extractive", "openai", "anthropic"}


def test_provider_settings_are_nested_models_from_the_flat_variables(monkeypatch) -> None:
    monkeypatch.setenv("RAG_ANTHROPIC_MODEL", "claude-x")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("RAG_OPENAI_OUTPUT", "text")
    s = Settings()
    assert s.llm_providers["anthropic"].model == "claude-x"
    assert s.llm_providers["anthropic"].configured
    assert not s.llm_providers["openai"].configured
    config = LLMConfig.for_provider(s, "anthropic")
    assert (config.model, config.base_url) == ("claude-x", "http://127.0.0.1:9")
    assert LLMConfig.for_provider(s, "openai").output == "text"
    # RAG_MODEL overrides the default provider's model only
    s = s.model_copy(update={"model": "m", "provider": "openai", "openai_api_key": SecretStr("k")})
    assert LLMConfig.for_provider(s, "openai").model == "m"
    assert LLMConfig.for_provider(s, "anthropic").model == "claude-x"


class Echo:
    name = "echo"


def echo_factory(settings: Settings, limiter: object) -> Echo:
    return Echo()


def test_a_plugin_registered_as_an_entry_point_is_built(monkeypatch) -> None:
    found = plugins.registered(plugins.GENERATORS)
    assert set(found) >= {"extractive", "openai", "anthropic"}  # the built-ins, the same way
    extra = EntryPoint("echo", f"{__name__}:echo_factory", plugins.GENERATORS)
    monkeypatch.setattr(plugins, "registered", lambda group: {**found, "echo": extra})
    generators = build_generators(Settings())
    assert set(generators) == {"extractive", "echo"}
    assert isinstance(generators["echo"], Echo)


def test_plugins_load_by_name_or_path_and_say_what_is_installed() -> None:
    assert plugins.load(plugins.INGESTORS, "default").__name__ == "build_ingestor"
    assert plugins.load(plugins.GENERATORS, f"{__name__}:echo_factory") is echo_factory
    with pytest.raises(ProviderNotConfigured, match="installed: default"):
        plugins.load(plugins.INGESTORS, "nope")
