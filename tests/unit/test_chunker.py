from pathlib import Path

import pytest

from ingestion.chunker import chunk_document, parse_blocks
from rag_service.retrieval.text import searchable, sentence_spans

CORPUS = sorted((Path(__file__).resolve().parents[2] / "corpus").glob("*.txt"))


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
                assert text[u.start : u.end] == u.display


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
        "Junior — ML Engineer: £50-70k; AI Engineer: £50-70k",
        "Senior — ML Engineer: £120-165k; AI Engineer: £115-160k",
        "London premium — ML Engineer: 28%; AI Engineer: 28%",
    ]
    assert text[rows[1].start : rows[1].end] == "Senior£120-165k£115-160k"
    # and the chunk's search text carries the readable rows
    assert "Senior - ML Engineer: £120-165k" in chunks[0].search_text


def test_long_lines_are_split_at_sentences_within_the_limit() -> None:
    sentence = "This sentence has exactly enough words to matter. "
    text = sentence * 40
    blocks = parse_blocks(text, 300)
    assert len(blocks) > 1
    assert all(b.end - b.start <= 300 for b in blocks)


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
