"""What every format parser returns: the document text and its blocks, with exact offsets.

A parser turns a file into `ParsedText`: the text citations point into (the original file text
for Markdown, reST and plain text; the extracted visible text for HTML and PDF), a title,
metadata, and a list of `Block`s — headings, paragraphs, list items, table rows and code — each
with its exact span in that text and a readable form (`Mapped`) whose every character knows the
span of text it came from. Sentence splitting and fallback splits work on the readable form and
map back through it, so `text[start:end]` is always the cited original, whatever markup,
wrapping or entities the readable form left out.
"""

from __future__ import annotations

import re
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BLOCK_KINDS = ("heading", "paragraph", "item", "row", "header", "code")

_SPACE_RUN = re.compile(r"\s+")


class Mapped:
    """A readable string built piece by piece, each character mapped to a span of the source.

    `add(s, start, end)` appends `s`; when `s` is the source text itself (`len(s) == end -
    start` and `literal`), character i maps to `start + i`; otherwise every character of `s`
    maps to the whole `[start, end)` (rendered markup, entities, joined lines). Whitespace runs
    collapse to one space as a browser renders them, and the ends are trimmed by `finish()`.
    """

    __slots__ = ("_chars", "_ends", "_starts")

    def __init__(self) -> None:
        self._chars: list[str] = []
        self._starts = array("l")
        self._ends = array("l")

    def __len__(self) -> int:
        return len(self._chars)

    def _push(self, ch: str, start: int, end: int) -> None:
        if ch.isspace():
            if not self._chars or self._chars[-1] == " ":
                if self._chars:
                    self._ends[-1] = max(self._ends[-1], end)
                return
            ch = " "
        self._chars.append(ch)
        self._starts.append(start)
        self._ends.append(end)

    def add(self, s: str, start: int, end: int, *, literal: bool | None = None) -> None:
        if literal is None:
            literal = len(s) == end - start
        if literal:
            for i, ch in enumerate(s):
                self._push(ch, start + i, start + i + 1)
        else:
            for ch in s:
                self._push(ch, start, end)

    def add_source(self, text: str, start: int, end: int) -> None:
        """Append text[start:end] verbatim (whitespace collapsed)."""
        self.add(text[start:end], start, end, literal=True)

    def space(self, at: int) -> None:
        """A word break that has no characters of its own in the source (a joined line)."""
        self._push(" ", at, at)

    def finish(self) -> Mapped:
        while self._chars and self._chars[-1] == " ":
            self._chars.pop()
            self._starts.pop()
            self._ends.pop()
        if self._chars and self._chars[0] == " ":
            del self._chars[0]
            del self._starts[0]
            del self._ends[0]
        return self

    @property
    def text(self) -> str:
        return "".join(self._chars)

    def source_span(self, a: int = 0, b: int | None = None) -> tuple[int, int]:
        """The source span of display[a:b] (trimmed of spaces at either end)."""
        b = len(self._chars) if b is None else b
        while a < b and self._chars[a] == " ":
            a += 1
        while b > a and self._chars[b - 1] == " ":
            b -= 1
        if a >= b:
            return (self._starts[a], self._starts[a]) if a < len(self._starts) else (0, 0)
        return self._starts[a], max(self._ends[a:b])

    def slice(self, a: int, b: int) -> Mapped:
        """display[a:b] as a Mapped of its own (same source offsets)."""
        m = Mapped()
        m._chars = self._chars[a:b]
        m._starts = self._starts[a:b]
        m._ends = self._ends[a:b]
        return m.finish()

    def extend(self, other: Mapped, sep: str = " ") -> None:
        """Append another Mapped, `sep` between (mapped to the end of what came before)."""
        if self._chars and other._chars:
            at = self._ends[-1]
            for ch in sep:
                self._push(ch, at, at)
        for ch, s, e in zip(other._chars, other._starts, other._ends, strict=True):
            self._push(ch, s, e)

    @classmethod
    def of_source(cls, text: str, start: int, end: int) -> Mapped:
        m = cls()
        m.add_source(text, start, end)
        return m.finish()


@dataclass
class Block:
    """One structural piece of a document.

    kind: heading | paragraph | item | row | header (a table's header row) | code.
    `start`/`end` are exact offsets into the document text; `shown` is the readable form.
    `level` is a heading's depth (1 = top); rows carry their linearised display (`Label — Col:
    val · Col: val`) in `shown`. `answerable=False` marks a heading that names a section but
    answers nothing (a FAQ question); `whole=True` a block kept as one unit when it fits (a
    definition).
    """

    kind: str
    start: int
    end: int
    shown: Mapped
    level: int = 0
    answerable: bool = True
    whole: bool = False

    @property
    def display(self) -> str:
        return self.shown.text


@dataclass
class ParsedText:
    text: str
    title: str
    blocks: list[Block]
    meta: dict[str, Any] = field(default_factory=dict)
    # lines or pieces left out of the blocks, by reason: furniture, toc, nav, residue, markup
    dropped: Counter[str] = field(default_factory=Counter)
    format: str = "text"


def collapse(s: str) -> str:
    return _SPACE_RUN.sub(" ", s).strip()


def line_starts(text: str) -> list[int]:
    """Offset of the first character of every line (0-based line numbers)."""
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return starts


def line_range_span(text: str, starts: list[int], first: int, last: int) -> tuple[int, int]:
    """Exact span of lines [first, last) (0-based, end exclusive) without surrounding space.

    The one place line ranges from a parser (markdown-it's `token.map`) become offsets.
    """
    s = starts[first] if first < len(starts) else len(text)
    e = starts[last] if last < len(starts) else len(text)
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def has_letters(s: str) -> bool:
    return any(c.isalpha() for c in s)


def row_display(label: str, header: list[str], values: list[str]) -> str:
    """`Label — Col: val · Col: val`; columns without a name show their value alone."""
    cells = []
    for name, value in zip(header, values, strict=False):
        if not value:
            continue
        cells.append(f"{name}: {value}" if name else value)
    cells += [v for v in values[len(header) :] if v]
    body = " · ".join(cells)
    if label and body:
        return f"{label} — {body}"
    return label or body


_GENERIC_TITLE = re.compile(
    r"^(?:untitled(?:\s+document)?|powerpoint presentation|presentation\d*|document\d*|"
    r"slide\s*\d*|title|microsoft (?:word|powerpoint|excel)\b.*|.*\.(?:docx?|pptx?|xlsx?|pdf|"
    r"txt|md|html?|rst|indd|tex))$",
    re.IGNORECASE,
)


def is_generic_title(title: str) -> bool:
    """A title that says nothing about the document: empty, a tool's default ("PowerPoint
    Presentation", "Microsoft Word - …", "untitled") or a bare file name."""
    t = collapse(title)
    return not t or not has_letters(t) or bool(_GENERIC_TITLE.match(t))
