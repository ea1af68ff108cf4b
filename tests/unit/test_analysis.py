"""QueryAnalysis: answer types, entities, comparison sides, parts, negation and the index view."""

from __future__ import annotations

import pytest

from rag_service.analysis import analyze, load_profile, question_shape
from rag_service.retrieval.types import QueryTerms


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Why was the pipe operator chosen for dict union?", "reason"),
        ("What percentage of respondents use Linux?", "percentage"),
        ("How long does a certificate stay valid?", "duration"),
        ("When was the specification published?", "date"),
        ("How much does the premium tier cost?", "amount"),
        ("How many bits does each Base32 character encode?", "figure"),
        ("How do I configure a reverse proxy?", "procedure"),
        ("What is a leap second?", "definition"),
        ("Who maintains the release calendar?", "entity"),
        ("What is the difference between Base32 and Base64?", "comparison"),
        ("Tell me about the document", "other"),
    ],
)
def test_answer_type(question: str, kind: str) -> None:
    assert question_shape(question).answer_type == kind


def test_value_shape_of_numeric_types() -> None:
    pct = question_shape("What percentage of respondents use Linux?")
    assert pct.value is not None and pct.value.search("about 42% of them")
    assert not pct.value.search("most of them")
    assert question_shape("What is a leap second?").value is None


def test_entities_names_acronyms_numbers_but_not_the_first_word() -> None:
    shape = question_shape("Which header does RFC 2388 require for each part in PostgreSQL?")
    assert "RFC 2388" in shape.entities
    assert "PostgreSQL" in shape.entities
    assert "Which" not in shape.entities


def test_comparison_sides_and_multi_part_questions() -> None:
    comp = question_shape("How does the padding of Base32 compare with Base64?")
    assert comp.answer_type == "comparison"
    assert comp.sides == ("padding of Base32", "Base64")
    between = question_shape("What is the difference between smallint and bigint?")
    assert between.sides == ("smallint", "bigint")
    multi = question_shape("When was PEP 584 accepted and who was its delegate?")
    assert multi.parts == ("When was PEP 584 accepted", "who was its delegate?")
    assert question_shape("What is the maximum size?").parts == ()


def test_negation() -> None:
    assert question_shape("Which characters are not allowed in a boundary?").negated
    assert question_shape("Why doesn't the parser accept tabs?").negated
    assert not question_shape("Which characters are allowed in a boundary?").negated


def test_analyze_weights_terms_and_finds_what_the_corpus_never_mentions() -> None:
    shape = question_shape("What does Kubernetes say about the boundary length?")
    terms = QueryTerms(
        idf={"kubernet": 2.0, "say": 0.5, "boundari": 1.5, "length": 1.0},
        unknown=frozenset({"kubernet"}),
        n_chunks=10,
        surface={
            "kubernet": "Kubernetes",
            "say": "say",
            "boundari": "boundary",
            "length": "length",
        },
    )
    a = analyze(shape, terms)
    assert a.unknown_entities == ("Kubernetes",)
    assert "say" not in a.terms  # a framing word, not content
    assert set(a.terms) == {"boundari", "length"}  # known content terms only
    assert a.unknown_share == pytest.approx(2.0 / 4.5)


def test_a_code_like_name_missing_from_the_evidence_is_an_unknown_entity() -> None:
    shape = question_shape("How many bits does the f16 type use, unlike base64 or 2nd x86-64?")
    assert shape.identifiers == ("f16", "base64", "x86")  # "2nd" is an ordinal, not a name
    # the index split "f16" into "f" and "16", which every document has
    terms = QueryTerms(idf={"f": 1.0, "16": 1.0, "bit": 1.0}, unknown=frozenset(), n_chunks=10)
    evidence = ["The f32 and f64 types use 32 and 64 bits; base64 and x86-64 are elsewhere."]
    a = analyze(shape, terms, evidence=evidence)
    assert a.unknown_entities == ("f16",)
    assert analyze(shape, terms).unknown_entities == ()  # no evidence given: nothing judged
    found = analyze(shape, terms, evidence=["An F16 value uses 16 bits (base64, x86)."])
    assert found.unknown_entities == ()  # found whole, in any case


def test_a_name_the_evidence_writes_in_its_other_form_is_not_unknown() -> None:
    """Initials for a spelled-out name, a spelled-out name for an acronym."""
    shape = question_shape("Which code do Field Support Consulting staff use for NTP work?")
    assert shape.entities == ("Field Support Consulting", "NTP")
    terms = QueryTerms(
        idf={"field": 1.0, "support": 1.0, "consult": 2.0, "ntp": 2.0, "code": 1.0},
        unknown=frozenset({"consult", "ntp", "field"}),
        n_chunks=10,
        surface={"field": "Field", "support": "Support", "consult": "Consulting", "ntp": "NTP"},
    )
    assert analyze(shape, terms).unknown_entities == ("Field Support Consulting", "NTP")
    evidence = ["FSC staff bill code 12.", "Clocks follow the Network Time Protocol."]
    assert analyze(shape, terms, evidence=evidence).unknown_entities == ()
    elsewhere = ["FS staff bill code 12 (two letters vouch for nothing).", "No clocks here."]
    assert analyze(shape, terms, evidence=elsewhere).unknown_entities == (
        "Field Support Consulting",
        "NTP",
    )


def test_profiles_are_data_and_the_neutral_one_adds_nothing() -> None:
    neutral = load_profile("neutral")
    assert neutral.synonyms == {} and neutral.answer_type_cues == {}
    assert neutral.expand("What do they earn?") == "What do they earn?"
    careers = load_profile("uk-careers")
    assert "salary" in careers.expand("What do they earn?")
    assert question_shape("What do they earn?", profile=careers).answer_type == "amount"
    assert question_shape("What do they earn?").answer_type == "other"
    with pytest.raises(ValueError, match="known: "):
        load_profile("no-such-profile")
