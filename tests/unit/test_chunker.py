from pathlib import Path

import pytest

from ingestion.chunker import Unit, chunk_document, is_fragment
from ingestion.parsers.text import parse_text
from ingestion.parsers.types import collapse
from rag_service.retrieval.text import searchable, sentence_spans

CORPUS = sorted((Path(__file__).resolve().parents[2] / "rag_service" / "corpus").glob("*.txt"))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_chunk_and_unit_offsets_are_exact(path: Path) -> None:
    text = path.read_text()
    chunks = chunk_document(text, path.stem, 900)
    assert chunks
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(c.text) <= 900 or len(c.units) == 1
        for u in c.units:
            assert c.start <= u.start < u.end <= c.end
            if u.kind != "row":
                assert collapse(text[u.start : u.end]) == u.display


def test_headings_stay_with_their_text() -> None:
    text = "Intro line that is long enough to be text.\n\nCore Skills\nPython matters a lot here.\n"
    chunks = chunk_document(text, "t", 40)
    owner = next(c for c in chunks if "Python" in c.text)
    assert owner.text.startswith("Core Skills")
    assert owner.heading == "Core Skills"


def test_flattened_salary_table_rows_become_readable_units() -> None:
    text = (
        "The salary gap (UK 2026)\n"
        "LevelML EngineerAI Engineer\nJunior£50-70k£50-70k\nSenior£120-165k£115-160k\n"
        "London premium28%28%\n"
    )
    chunks = chunk_document(text, "t", 900)
    rows = [u for c in chunks for u in c.units if u.kind == "row"]
    assert [r.display for r in rows] == [
        "Junior — ML Engineer: £50-70k · AI Engineer: £50-70k",
        "Senior — ML Engineer: £120-165k · AI Engineer: £115-160k",
        "London premium — ML Engineer: 28% · AI Engineer: 28%",
    ]
    assert text[rows[1].start : rows[1].end] == "Senior£120-165k£115-160k"
    # and the chunk's search text carries the readable rows
    assert "Senior - ML Engineer: £120-165k" in chunks[0].search_text


def test_long_lines_are_split_at_sentences_within_the_limit() -> None:
    sentence = "This sentence has exactly enough words to matter. "
    text = sentence * 40
    chunks = chunk_document(text, "t", 300)
    assert len(chunks) > 1
    assert all(c.end - c.start <= 300 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)


def test_no_unit_exceeds_the_model_input() -> None:
    from ingestion.chunker import MAX_TOKENS, token_counter

    words = " ".join(f"word{i}" for i in range(3000))  # no sentence boundary at all
    chunks = chunk_document(words + ".", "t", 900)
    count = token_counter()
    sizes = count([u.display for c in chunks for u in c.units])
    assert max(sizes) <= MAX_TOKENS
    assert all(
        words.startswith(u.display) or u.display in words + "." for c in chunks for u in c.units
    )


def test_units_without_letters_are_residue() -> None:
    doc = parse_text("Revenue by year\n\n$50,000\n\n80%\n\nRevenue grew every year.\n")
    chunks = chunk_document(doc)
    assert [u.display for c in chunks for u in c.units] == [
        "Revenue by year",
        "Revenue grew every year.",
    ]
    assert doc.dropped["residue"] == 2


def test_section_path_without_the_title() -> None:
    text = "# Guide\n\n## Pay\n\n### Bonus\n\nBonuses are paid yearly.\n"
    from ingestion.parsers.markdown import parse_markdown

    chunks = chunk_document(parse_markdown(text))
    owner = next(c for c in chunks if "yearly" in c.text)
    assert owner.heading == "Pay › Bonus"
    assert "Guide" not in owner.search_text
    assert owner.search_text.startswith("Pay\nBonus")


@pytest.mark.parametrize(
    ("display", "fragment"),
    [
        ("The median rose by 8% last year.", False),
        ("“Quoted sentences count too.”", False),
        ("wrapped continuation of a line that", True),
        ("Two words", True),
        ("Ends without any punctuation at all", True),
    ],
)
def test_fragments(display: str, fragment: bool) -> None:
    assert is_fragment(Unit("sentence", 0, len(display), display)) is fragment


def test_searchable_splits_glued_tokens() -> None:
    assert searchable("vLLM/TGI") == "vLLM / TGI"
    assert searchable("London premium28%28%") == "London premium 28% 28%"
    assert searchable("£600/day") == "£600 / day"
    assert searchable("day-rate") == "day rate"


def test_sentence_spans_keep_abbreviations() -> None:
    t = "Use tools e.g. vLLM for serving. Then measure. Done"
    assert [t[s:e] for s, e in sentence_spans(t)] == [
        "Use tools e.g. vLLM for serving.",
        "Then measure.",
        "Done",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "See Fig. 3 for the curve.",
        "It moved to the U.S. in 2019 after a long search.",
        "Version 3.11.2 fixed it for all users.",
        "Use i.e. the default.",
        "Dr. Smith and Prof. Jones wrote No. 5 of the series.",
    ],
)
def test_sentence_spans_do_not_split_inside(text: str) -> None:
    assert sentence_spans(text) == [(0, len(text))]


@pytest.mark.parametrize(
    ("display", "label"),
    [
        ("Note", True),
        ("See also", True),
        ("Before:", True),
        ("https://example.org/a/b", True),
        ("Timeline: 8–14 months", False),
        ("Yes.", False),
        ("Table 3-1", False),
        ("Four words are here", False),
    ],
)
def test_labels(display: str, label: bool) -> None:
    from ingestion.chunker import is_label

    assert is_label(display) is label


def test_a_table_continued_in_another_chunk_is_searched_with_its_caption_and_header() -> None:
    from ingestion.parsers.markdown import parse_markdown

    rows = "\n".join(f"| Station {k} | {100 + k} | {k % 7} |" for k in range(40))
    text = (
        "# Readings\n\nTable 3: Rainfall recorded at each mountain station.\n\n"
        f"| Site | Millimetres | Storms |\n|---|---|---|\n{rows}\n"
    )
    chunks = chunk_document(parse_markdown(text), "r", 400)
    later = [c for c in chunks if c.units[0].kind == "row" and "Station 30" in c.text]
    assert later, [c.text[:40] for c in chunks]
    assert "Rainfall recorded at each mountain station" in later[0].search_text
    assert "Millimetres" in later[0].search_text
    first = next(c for c in chunks if "Table 3" in c.text)
    assert first.search_text.count("Rainfall") == 1  # not repeated where it is shown
