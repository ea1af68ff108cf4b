"""Markdown (CommonMark + pipe tables, MDX, Hugo and Docusaurus dialects) with markdown-it-py.

The file is first *masked*: everything that is markup for a site generator rather than text —
YAML/TOML front matter (read into `meta`), MDX `import`/`export` lines, JSX/HTML tags
(`<InDocAd />`, `<Tabs>`: the text between them stays), HTML comments, Hugo shortcodes
(`{{< note >}}`, `{{% x %}}`), Liquid/Jinja tags (`{% page "/x/" %}`, `{{ var }}`), Docusaurus
admonition fences (`:::tip` … `:::`) — is replaced by spaces of the same length, newlines
kept. Offsets in the masked copy are offsets in the original, so markdown-it's line maps
(`token.map`) and the inline renderer work on the masked copy while every citation quotes the
original file. Code (fences, indented blocks, inline code spans) is never masked.
"""

from __future__ import annotations

import bisect
import re
import tomllib
from collections import Counter
from typing import Any

import yaml
from markdown_it import MarkdownIt

from ingestion.parsers.inline import MARKDOWN, render
from ingestion.parsers.types import Block, Mapped, ParsedText, line_starts, row_display

_YAML_FRONT = re.compile(
    r"\A(?:\ufeff)?---[ \t]*\n(?P<body>.*?\n)?(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL
)
_TOML_FRONT = re.compile(r"\A\+\+\+[ \t]*\n(?P<body>.*?\n)?\+\+\+[ \t]*(?:\n|\Z)", re.DOTALL)
_MDX_STATEMENT = re.compile(
    r"^(?:import\s+(?:[\w*{}\s,]+\s+from\s+)?['\"][^'\"]+['\"];?"
    r"|export\s+(?:const|let|var|default|function|async)\b[^\n]*)[ \t]*$",
    re.MULTILINE,
)
_COMMENT = re.compile(r"<!--.*?-->|\{/\*.*?\*/\}", re.DOTALL)
# Hugo shortcodes ({{< x >}}, {{% x %}}) and Liquid/Jinja tags and outputs ({% x %}, {{ x }}).
_SHORTCODE = re.compile(r"\{\{[<%].*?[%>]\}\}|\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
_ADMONITION = re.compile(r"^[ \t]*:::[^\n]*$", re.MULTILINE)
_RAW_ELEMENT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][\w.:-]*(?:\s(?:[^<>{}\"']|\"[^\"]*\"|'[^']*'|\{[^{}]*\})*)?/?>")
_CODE_SPAN = re.compile(r"(`+)[^`].*?(?<!`)\1(?!`)", re.DOTALL)
_LINE_PREFIX = re.compile(r"[ \t]*(?:>[ \t]?)*[ \t]*")
_LIST_MARKER = re.compile(r"(?:[-*+]|\d{1,9}[.)])(?:[ \t]+|$)(?:\[[ xX]\][ \t]+)?")
_ATX_OPEN = re.compile(r"[ \t]*#{1,6}(?:[ \t]+|$)")
_ATX_CLOSE = re.compile(r"(?:[ \t]+#+)?[ \t]*$")


def _blank(s: str) -> str:
    return re.sub(r"[^\n]", " ", s)


class _Masker:
    def __init__(self, text: str) -> None:
        self.chars = list(text)
        self.dropped: Counter[str] = Counter()

    def mask(self, start: int, end: int, reason: str) -> None:
        for i in range(start, end):
            if self.chars[i] != "\n":
                self.chars[i] = " "
        self.dropped[reason] += 1

    @property
    def text(self) -> str:
        return "".join(self.chars)


def _front_matter(text: str, masker: _Masker) -> dict[str, Any]:
    for pattern, load in ((_YAML_FRONT, yaml.safe_load), (_TOML_FRONT, tomllib.loads)):
        m = pattern.match(text)
        if not m:
            continue
        try:
            data = load(m.group("body") or "")
        except (yaml.YAMLError, tomllib.TOMLDecodeError, ValueError):
            data = None
        if data is None or isinstance(data, dict):
            masker.mask(m.start(), m.end(), "front_matter")
            return data or {}
    return {}


def _code_lines(md: MarkdownIt, text: str) -> set[int]:
    lines: set[int] = set()
    for tok in md.parse(text):
        if tok.type in ("fence", "code_block") and tok.map:
            lines.update(range(*tok.map))
    return lines


def _mask_markup(text: str, masker: _Masker, code: set[int], starts: list[int]) -> None:
    def in_code(pos: int) -> bool:
        return bisect.bisect_right(starts, pos) - 1 in code

    spans = [m.span() for m in _CODE_SPAN.finditer(text)]  # in order, not overlapping
    span_starts = [s for s, _ in spans]

    def in_span(a: int, b: int) -> bool:
        k = bisect.bisect_right(span_starts, a) - 1
        return any(spans[j][0] < b and a < spans[j][1] for j in (k, k + 1) if 0 <= j < len(spans))

    for pattern, reason in (
        (_RAW_ELEMENT, "markup"),
        (_COMMENT, "markup"),
        (_MDX_STATEMENT, "mdx"),
        (_SHORTCODE, "shortcode"),
        (_ADMONITION, "admonition"),
        (_TAG, "tag"),
    ):
        current = masker.text
        for m in pattern.finditer(current):
            if in_code(m.start()) or in_span(*m.span()):
                continue
            if not current[m.start() : m.end()].strip():
                continue  # already masked
            masker.mask(m.start(), m.end(), reason)


class _Builder:
    def __init__(self, text: str, masked: str) -> None:
        self.text = text
        self.masked = masked
        self.starts = line_starts(masked)
        self.blocks: list[Block] = []

    def line(self, n: int) -> tuple[int, int]:
        s = self.starts[n]
        e = self.starts[n + 1] - 1 if n + 1 < len(self.starts) else len(self.masked)
        return s, e

    def pieces(
        self, first: int, last: int, *, item_start: bool = False, atx: bool = False
    ) -> list[tuple[int, int]]:
        out = []
        for n in range(first, last):
            s, e = self.line(n)
            s += _LINE_PREFIX.match(self.masked, s, e).end() - s  # type: ignore[union-attr]
            if n == first and item_start:
                m = _LIST_MARKER.match(self.masked, s, e)
                if m:
                    s = m.end()
            if atx:
                m = _ATX_OPEN.match(self.masked, s, e)
                if m:
                    s = m.end()
                tail = _ATX_CLOSE.search(self.masked, s, e)
                if tail:
                    e = tail.start()
            while e > s and self.masked[e - 1] in " \t":
                e -= 1
            while s < e and self.masked[s] in " \t":
                s += 1
            if e > s:
                out.append((s, e))
        return out

    def add(self, kind: str, pieces: list[tuple[int, int]], level: int = 0) -> None:
        if not pieces:
            return
        shown = render(self.masked, pieces, MARKDOWN)
        if not shown.text:
            return
        s, e = shown.source_span()
        self.blocks.append(Block(kind, s, e, shown, level))


def _cell(content: str) -> str:
    return render(content, [(0, len(content))], MARKDOWN).text


def parse_markdown(text: str, *, mdx: bool = False) -> ParsedText:
    md = MarkdownIt("commonmark").enable("table")
    if mdx:
        md.disable("code")  # MDX has no indented code: indentation nests JSX
    masker = _Masker(text)
    meta = _front_matter(text, masker)
    starts = line_starts(text)
    code = _code_lines(md, masker.text)
    _mask_markup(masker.text, masker, code, starts)
    masked = masker.text
    b = _Builder(text, masked)
    tokens = md.parse(masked)
    first_in_item = False
    table_header: list[str] = []
    row_cells: list[str] = []
    row_map: list[int] | None = None
    in_head = False
    item_depth = 0
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        t = tok.type
        if t == "list_item_open":
            item_depth += 1
            first_in_item = True
        elif t == "list_item_close":
            item_depth -= 1
        elif t == "heading_open" and tok.map:
            level = int(tok.tag[1])
            atx = (
                _ATX_OPEN.match(
                    masked,
                    b.line(tok.map[0])[0]
                    + len(
                        _LINE_PREFIX.match(masked, b.line(tok.map[0])[0]).group()  # type: ignore[union-attr]
                    ),
                )
                is not None
            )
            last = tok.map[1] if atx else tok.map[1] - 1
            b.add("heading", b.pieces(tok.map[0], last, atx=atx), level)
        elif t == "paragraph_open" and tok.map:
            kind = "item" if item_depth else "paragraph"
            b.add(kind, b.pieces(*tok.map, item_start=first_in_item))
            first_in_item = False
        elif t in ("fence", "code_block") and tok.map:
            s, e = _span_of_lines(b, *tok.map)
            if e > s:
                b.blocks.append(Block("code", s, e, Mapped.of_source(text, s, e)))
            first_in_item = False
        elif t == "thead_open":
            in_head = True
        elif t == "thead_close":
            in_head = False
        elif t == "tr_open":
            row_cells, row_map = [], tok.map
        elif t == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            row_cells.append(_cell(tok.content))
        elif t == "tr_close" and row_map:
            s, e = _span_of_lines(b, *row_map)
            if in_head:
                table_header = row_cells
                b.blocks.append(Block("header", s, e, _fixed(" | ".join(row_cells), s, e)))
            elif any(row_cells):
                display = row_display(row_cells[0], table_header[1:], row_cells[1:])
                b.blocks.append(Block("row", s, e, _fixed(display, s, e)))
        i += 1

    title, source = "", None
    if isinstance(meta.get("title"), str) and meta["title"].strip():
        title, source = meta["title"].strip(), "front_matter"
    else:
        h1 = next((x for x in b.blocks if x.kind == "heading" and x.level == 1), None)
        if h1:
            title, source = h1.display, "h1"
    meta = {"front_matter": meta} if meta else {}
    if source:
        meta["title_source"] = source
    return ParsedText(text, title, b.blocks, meta, masker.dropped, "markdown")


def _span_of_lines(b: _Builder, first: int, last: int) -> tuple[int, int]:
    s = b.starts[first]
    e = b.starts[last] if last < len(b.starts) else len(b.masked)
    while s < e and b.masked[s].isspace():
        s += 1
    while e > s and b.masked[e - 1].isspace():
        e -= 1
    return s, e


def _fixed(display: str, start: int, end: int) -> Mapped:
    m = Mapped()
    m.add(display, start, end, literal=False)
    return m.finish()


__all__ = ["parse_markdown"]
