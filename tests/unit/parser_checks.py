"""Checks shared by the parser tests: offsets exact, no unit made of markup or furniture."""

from __future__ import annotations

import re

from ingestion.chunker import Chunk, Unit, chunk_document
from ingestion.loaders import load_document
from ingestion.parsers.types import ParsedText

LIMIT = 5_000_000


def load(name: str, data: bytes | str) -> tuple[ParsedText, list[Chunk]]:
    raw = data.encode() if isinstance(data, str) else data
    doc = load_document(name, raw, max_bytes=LIMIT)
    return doc, chunk_document(doc, doc.title, 900)


def units(chunks: list[Chunk]) -> list[Unit]:
    return [u for c in chunks for u in c.units]


def displays(chunks: list[Chunk]) -> list[str]:
    return [u.display for u in units(chunks)]


def words(s: str) -> list[str]:
    return re.findall(r"[^\W_]+", s.lower())


def assert_offsets(doc: ParsedText, chunks: list[Chunk]) -> None:
    """Every chunk is its span of the text; every unit's span holds its display's words (rows:
    their values) in order, from the first to the last."""
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        for u in c.units:
            assert c.start <= u.start < u.end <= c.end
            quoted = words(doc.text[u.start : u.end])
            shown = words(u.display)
            if u.kind == "row":
                assert set(quoted) <= set(shown), (quoted, shown)
                continue
            assert quoted[0] == shown[0] and quoted[-1] == shown[-1], (quoted, shown)
            it = iter(quoted)
            assert all(w in it for w in shown), (doc.text[u.start : u.end], u.display)


def unit_with(chunks: list[Chunk], fragment: str) -> Unit:
    found = [u for u in units(chunks) if fragment in u.display]
    assert found, f"no unit shows {fragment!r}: {displays(chunks)}"
    return found[0]
