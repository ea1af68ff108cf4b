"""Structure-aware chunking with exact character offsets.

Why our own instead of langchain-text-splitters: the splitters return strings, and locating them
back in the document (`find`) is ambiguous for repeated text and loses the offsets of stripped
whitespace; they also know nothing of headings written as plain lines, bullet markers or the
flattened tables of scraped pages. This chunker works on spans of the original text throughout,
so `document[start:end] == chunk.text` holds by construction.

A document becomes blocks (one per line: heading, text, list item, table row), blocks become
chunks (a heading starts a new chunk and stays with its text; chunks stay under `max_chars`),
and each chunk holds answer units (headings, sentences, list items, table rows) that the
reranker and the extractive generator work on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag_service.retrieval.text import searchable, sentence_spans

_BULLET = re.compile(r"^\s*(?:[•·▪‣◦*\-–]|\d{1,2}[.)])\s+")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+")
_VALUE = r"(?:£\d[\d,.]*(?:[-–]£?\d[\d,.]*)?[kKmM]?|\d[\d,.]*(?:[-–]\d[\d,.]*)?(?:[kKmM]|%))"
_TABLE_ROW = re.compile(
    rf"^(?P<label>[A-Za-z][A-Za-z /&'()+-]*?)\s*(?P<values>(?:{_VALUE}){{2,}})$"
)
_VALUES = re.compile(_VALUE)
_HEADER_SPLIT = re.compile(r"(?<=[a-z])(?=[A-Z])")

UNIT_MAX_CHARS = 300
UNIT_MIN_CHARS = 40


@dataclass(frozen=True)
class Block:
    kind: str  # heading | question | text | item | row | table_header
    start: int  # the line, without surrounding whitespace
    end: int
    body_start: int  # after a bullet or '#' marker
    display: str = ""  # readable form of table rows


@dataclass(frozen=True)
class Unit:
    kind: str
    start: int
    end: int
    display: str


@dataclass
class Chunk:
    ordinal: int
    heading: str
    start: int
    end: int
    text: str
    search_text: str
    units: list[Unit] = field(default_factory=list)


def _line_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.splitlines(keepends=True):
        s, e = pos, pos + len(line.rstrip("\r\n"))
        pos += len(line)
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            spans.append((s, e))
    return spans


_KEY_VALUE = re.compile(r":\s*[~£$]?\d")


def _is_heading(line: str) -> bool:
    words = line.split()
    return (
        len(line) <= 100
        and not _KEY_VALUE.search(line)
        and len(words) <= 14
        and line[-1] not in ".!:;,"
        and any(c.isalpha() for c in line)
    )


def parse_blocks(text: str, max_chars: int) -> list[Block]:
    """Classify each line; split lines longer than `max_chars` at sentence boundaries."""
    spans = _line_spans(text)
    blocks: list[Block] = []
    for i, (s, e) in enumerate(spans):
        line = text[s:e]
        has_next = i + 1 < len(spans)
        row = _TABLE_ROW.match(line)
        if row:
            values = _VALUES.findall(row["values"])
            label = row["label"].strip()
            header = _table_header(text, blocks, len(values))
            if header:
                cells = "; ".join(f"{h}: {v}" for h, v in zip(header[1:], values, strict=True))
                display = f"{label} — {cells}"
            else:
                display = f"{label}: {', '.join(values)}"
            blocks.append(Block("row", s, e, s, display))
            continue
        if m := _MD_HEADING.match(line):
            blocks.append(Block("heading", s, e, s + m.end()))
        elif (m := _BULLET.match(line)) and e - (s + m.end()) > 0:
            blocks.append(Block("item", s, e, s + m.end()))
        elif line.endswith("?") and len(line) <= 200 and has_next:
            blocks.append(Block("question", s, e, s))
        elif _is_heading(line) and has_next:
            blocks.append(Block("heading", s, e, s))
        elif e - s > max_chars:
            blocks.extend(_split_long(text, s, e, max_chars))
        else:
            blocks.append(Block("text", s, e, s))
    return blocks


def _table_header(text: str, blocks: list[Block], n_values: int) -> list[str] | None:
    """Column names from the line above a run of rows (`LevelML EngineerAI Engineer` reads as
    Level | ML Engineer | AI Engineer); that line becomes a `table_header` block."""
    i = len(blocks) - 1
    while i >= 0 and blocks[i].kind == "row":
        i -= 1
    if i < 0 or blocks[i].kind not in ("heading", "text", "table_header"):
        return None
    b = blocks[i]
    cells = [c.strip() for c in _HEADER_SPLIT.split(text[b.start : b.end]) if c.strip()]
    if len(cells) != n_values + 1:
        return None
    blocks[i] = Block("table_header", b.start, b.end, b.start)
    return cells


def _split_long(text: str, start: int, end: int, max_chars: int) -> list[Block]:
    pieces: list[Block] = []
    cur_s = cur_e = None
    for s, e in sentence_spans(text, start, end):
        if cur_s is not None and e - cur_s > max_chars:
            pieces.append(Block("text", cur_s, cur_e, cur_s))  # type: ignore[arg-type]
            cur_s = None
        if cur_s is None:
            cur_s = s
        cur_e = e
    if cur_s is not None:
        pieces.append(Block("text", cur_s, cur_e, cur_s))  # type: ignore[arg-type]
    return pieces


def block_units(text: str, block: Block) -> list[Unit]:
    """Answer units of one block: the whole line when short, else its sentences."""
    if block.kind in ("question", "table_header"):
        return []
    if block.kind == "row":
        return [Unit("row", block.start, block.end, block.display)]
    s, e = block.body_start, block.end
    if block.kind == "heading" or e - s <= UNIT_MAX_CHARS:
        return [Unit(block.kind, s, e, text[s:e])]
    spans: list[tuple[int, int]] = []
    for ss, se in sentence_spans(text, s, e):
        if spans and (se - ss < UNIT_MIN_CHARS or spans[-1][1] - spans[-1][0] < UNIT_MIN_CHARS):
            spans[-1] = (spans[-1][0], se)
        else:
            spans.append((ss, se))
    return [Unit("sentence", ss, se, text[ss:se]) for ss, se in spans]


def chunk_document(text: str, title: str, max_chars: int = 900) -> list[Chunk]:
    """Split `text` into chunks that keep headings with their text and exact offsets."""
    blocks = parse_blocks(text, max_chars)
    groups: list[tuple[str, list[Block]]] = []
    current: list[Block] = []
    section = ""
    group_heading = ""

    def has_body(bs: list[Block]) -> bool:
        return any(b.kind not in ("heading", "question") for b in bs)

    for b in blocks:
        starts_section = b.kind in ("heading", "question")
        too_big = current and b.end - current[0].start > max_chars
        if current and has_body(current) and (starts_section or too_big):
            groups.append((group_heading, current))
            current = []
        if starts_section:
            section = text[b.body_start : b.end]
        if not has_body(current):
            group_heading = section
        current.append(b)
    if current:
        groups.append((group_heading, current))

    chunks: list[Chunk] = []
    for heading, bs in groups:
        start, end = bs[0].start, bs[-1].end
        readable = "\n".join(b.display if b.kind == "row" else text[b.start : b.end] for b in bs)
        context = [title]
        if heading and heading not in text[start:end]:
            context.append(heading)
        units = [u for b in bs for u in block_units(text, b)]
        if not units:
            continue
        chunks.append(
            Chunk(
                ordinal=len(chunks),
                heading=heading,
                start=start,
                end=end,
                text=text[start:end],
                search_text=searchable("\n".join([*context, readable])),
                units=units,
            )
        )
    return chunks
