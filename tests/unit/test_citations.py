"""Claim splitting and claim-level span checks, on passages cut from the bundled corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_service.generation.base import Passage
from rag_service.generation.citations import (
    extract_facts,
    is_sentinel,
    locate_quote,
    parse_reply,
    verify_reply,
    words_to_numbers,
)
from tests.citation_zoo import ADVERSARIAL, NEEDLE, SENTENCE, ZOO

CORPUS = Path(__file__).resolve().parents[2] / "rag_service" / "corpus"


def paragraph(needle: str, n: int) -> Passage:
    """The corpus line holding `needle`, as passage `n` with its real document offsets."""
    for path in sorted(CORPUS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        at = text.find(needle)
        if at >= 0:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            end = len(text) if end < 0 else end
            return Passage(n, 100 + n, path.name, "", text[start:end], start, end, 0.9)
    raise AssertionError(f"{needle!r} is not in the corpus")


DISTRACTOR = "The median AI Software Engineer salary in the UK is £78,000"


def passages_around(needle: str) -> list[Passage]:
    """Passage 2 holds the needle; 1 and 3 are neighbours about something else."""
    other = DISTRACTOR if needle not in DISTRACTOR else "London-based contractors"
    return [
        paragraph(other, 1),
        paragraph(needle, 2),
        paragraph("Production LLM Deployment & Optimisation — 58%", 3),
    ]


def test_zoo_has_the_styles_asked_for() -> None:
    assert len(ZOO) >= 20
    assert len(ADVERSARIAL) >= 20


@pytest.mark.parametrize("case", ZOO, ids=[c.name for c in ZOO])
def test_format_zoo(case) -> None:
    passages = passages_around(NEEDLE)
    reply = parse_reply(case.reply.replace("{n}", "2").replace("{m}", "1"))
    v = verify_reply(reply, passages)
    shipped = not reply.abstained and v.verified > 0
    assert shipped is case.verified, (v.summary(), v.dropped())
    if case.reason == "generator_abstained":
        assert reply.abstained or v.refused
    elif not case.verified:
        assert not reply.abstained and not v.refused
    if case.verified:
        for text in case.contains:
            assert text in v.answer
        assert any("£600/day" in c.quote or "£450" in c.quote for c in v.citations)
        for c in v.citations:
            p = next(p for p in passages if p.chunk_id == c.chunk_id)
            assert p.text[c.start - p.start : c.end - p.start] == c.quote
    for text in case.excludes:
        assert text not in v.answer


@pytest.mark.parametrize("case", ADVERSARIAL, ids=[c.name for c in ADVERSARIAL])
def test_wrong_claims_never_verify(case) -> None:
    passages = passages_around(case.needle)
    reply = parse_reply(case.reply.replace("{n}", "2"))
    v = verify_reply(reply, passages)
    assert v.verified == 0, (case.reply, v.answer)
    assert case.wrong not in v.answer


def test_markers_attach_to_the_right_claim() -> None:
    reply = parse_reply("The UK median is £72,000. [1] In London it is £85,000 [2]. Yes.[3]")
    assert [c.passages for c in reply.claims] == [(1,), (2,), (3,)]
    reply = parse_reply("[1] The UK median is £72,000. [2] In London it is £85,000.")
    assert [c.passages for c in reply.claims] == [(1,), (2,)]
    reply = parse_reply("The median is £72k [1] and in London £85k [2].")
    assert [c.passages for c in reply.claims] == [(1,), (2,)]
    reply = parse_reply("Rates are £450–£900 [1-3]; the median is £600 [2; 4].")
    assert [c.passages for c in reply.claims] == [(1, 2, 3), (2, 4)]


def test_quotes_block_and_sources_line() -> None:
    reply = parse_reply(
        "The median is £600/day [1]. London pays £725/day.\n\n"
        'QUOTES:\n- [1]: "with a median of £600/day"\n2. “around £725/day”'
    )
    assert reply.claims[0].quotes[0].text == "with a median of £600/day"
    reply = parse_reply("The median is £600/day.\nSources: [2], [3]")
    assert reply.claims[0].passages == (2, 3)
    assert "Sources" not in reply.claims[0].text


def test_figures_normalise() -> None:
    def values(text: str) -> list[tuple[float, str, str]]:
        return [(q.value, q.kind, q.unit) for q in extract_facts(text).quantities]

    assert values("£72k") == values("£72,000") == [(72000.0, "£", "")]
    assert values("72 000") == values("seventy-two thousand") == [(72000.0, "", "")]
    assert values("£120-165k") == [(120000.0, "£", ""), (165000.0, "£", "")]
    assert values("Senior£120-165k£115-160k")[2:] == [(115000.0, "£", ""), (160000.0, "£", "")]
    assert values("58% demand") == values("58 per cent demand") == [(58.0, "%", "")]
    assert values("£600/day") == values("£600 per day") == values("£600 a day")
    assert values("6–10 months") == [(6.0, "", "month"), (10.0, "", "month")]
    assert extract_facts("updated 1 April 2026").dates == extract_facts("2026-04-01").dates
    assert words_to_numbers("one of the five largest") == "one of the 5 largest"


def test_names_and_negations() -> None:
    facts = extract_facts("Most teams use Pinecone, vLLM and GPT-4 but not MLOps tooling")
    assert {"Pinecone", "vLLM", "GPT-4", "MLOps"} <= set(facts.entities)
    assert facts.negated
    assert not extract_facts("The median day rate is £600").entities


def test_quotes_are_found_despite_reformatting() -> None:
    text = SENTENCE
    for quote in (
        "with a median of £600/day",
        "“with a  median of\n£600/day.”",
        "day rates in the UK typically range … with a median of £600/day",
        "Freelance and contract AI Engineer day rates ... £600/day",
    ):
        span = locate_quote(quote, text)
        assert span is not None, quote
        assert text[span[0] : span[1]].rstrip(".").endswith("£600/day")
    assert locate_quote("with a median of £650/day", text) is None


def test_sentinel_is_matched_tolerantly() -> None:
    for reply in (
        "NOT_IN_DOCUMENTS",
        "`NOT_IN_DOCUMENTS`.",
        "not in documents",
        "NOT IN DOCUMENTS",
    ):
        assert is_sentinel(reply)
    assert not is_sentinel("Rates are not in line with documents from 2024.")


def test_dropped_claims_are_reported() -> None:
    passages = passages_around(NEEDLE)
    v = verify_reply(
        parse_reply("The median is £600/day [2]. It is £700/day in Leeds [2]."), passages
    )
    assert v.summary() == {"claims": 2, "verified": 1, "dropped": 1, "mode": "text"}
    assert v.answer == "The median is £600/day [2]."
    (dropped,) = v.dropped()
    assert dropped["passages"] == [2] and "700" in dropped["reason"]


def test_a_unit_of_two_sentences_does_not_lend_its_subject() -> None:
    """However the index cut the passage into units, a figure stays with its own sentence."""
    from rag_service.retrieval.search import UnitHit

    p = paragraph("The median AI Engineer salary in the UK", 1)
    p.units = [
        UnitHit(1, p.chunk_id, 0, "paragraph", p.text, p.text, p.start, p.end, frozenset(), 0.5)
    ]
    v = verify_reply(parse_reply("The median AI Engineer salary in the UK is £85,000 [1]."), [p])
    assert v.verified == 0
    v = verify_reply(parse_reply("In London the median AI Engineer salary is £85,000 [1]."), [p])
    assert v.verified == 1
