"""Plain text: paragraphs, headings, lists and tables read from the layout of the lines.

Two kinds of plain text come in, and they are told apart by their line lengths:

- **hard-wrapped** text (RFCs, READMEs, man-page exports): most lines stop near a common width
  and continue on the next line. A line is joined to the next when the next line's first word
  would not have fitted on it (the greedy-wrap test) or when it ends mid-sentence and the next
  starts in lower case. Blank lines, bullets, indentation changes and tables end paragraphs.
- **one line per paragraph** (text scraped from web pages): every line is its own block; a
  short line without end punctuation followed by text is a heading.

In both, page furniture (running headers and footers repeated across form-feed pages, "[Page
N]", bare page numbers), table-of-contents lines (dot leaders, a "Contents" section) and form
feeds are left out of the blocks and counted in `dropped`. Hanging-indent definitions (a term
line followed by more-indented lines) are kept whole, and tables — ASCII-ruled, whitespace-
aligned or flattened into one string per row ("LevelCol ACol B" over "Row1$10k$12k") — become
rows read against their header.
"""

from __future__ import annotations

import itertools
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingestion.parsers.types import Block, Mapped, ParsedText, collapse, has_letters, row_display

_CURRENCY = "".join(
    ch for ch in map(chr, range(0x20, 0x3000)) if unicodedata.category(ch) == "Sc"
).replace("\\", "")
_SC = f"[{re.escape(_CURRENCY)}]"
# A value in a flattened table: a currency-prefixed or unit-suffixed number or range. One of the
# two is required, so that glued digits ("Row2026") are never split into invented values.
_NUM = r"\d[\d,.]*"
_VALUE = (
    rf"(?:{_SC}~?{_NUM}(?:\s?[-–]\s?{_SC}?{_NUM})?(?:[kKmMbB]n?)?"
    rf"|~?{_NUM}(?:\s?[-–]\s?{_NUM})?(?:[kKmMbB]n?(?![a-z])|%))"
)
_FLAT_ROW = re.compile(
    rf"^(?P<label>[^\W\d][^\d{re.escape(_CURRENCY)}%]*?)\s*(?P<values>(?:{_VALUE}){{2,}})$"
)
_VALUES = re.compile(_VALUE)
_GLUE_SPLIT = re.compile(r"(?<=[a-z)])(?=[A-Z])")

_BULLET = re.compile(
    r"^(?P<indent>\s*)(?P<marker>[•·▪‣◦●○■□➢►*+\-–]|o(?=\s\s)|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+(?=\S)"
)
# a two-column definition: "term     body text" whose next lines align with the body
_TERM_COLUMN = re.compile(r"^(?P<term>\S.{0,30}?\S?)\s{2,}(?=\S)")
_MD_HEADING = re.compile(r"^\s*#{1,6}\s+")
_KEY_VALUE = re.compile(rf":\s*[~{re.escape(_CURRENCY)}]?\d")
_NUMBERED_HEADING = re.compile(
    r"^(?:(?:section|chapter|appendix)\s+)?(?P<num>(?:\d{1,3}|[A-Z])(?:\.\d{1,3})*)\.?\s+(?=[A-Z])",
    re.IGNORECASE,
)
_DOT_LEADER = re.compile(r"(?:\.\s?){4,}\s*(?:\d+|[ivxlc]+)\s*$|\.{3,}\s*\d+\s*$|…{2,}\s*\d+\s*$")
_TOC_HEADING = re.compile(r"^\s*(?:table\s+of\s+contents|contents)\s*:?\s*$", re.IGNORECASE)
_TOC_ENTRY = re.compile(
    r"^\s*(?:(?:\d{1,3}|[A-Z])(?:\.\d{1,3})*\.?|appendix\s+[A-Z]\.?)\s+\S.{0,90}$", re.IGNORECASE
)
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—]\s*)?(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?(?:\s*[-–—])?\s*$",
    re.IGNORECASE,
)
_PAGE_MARK = re.compile(r"\[page \d{1,4}\]\s*$", re.IGNORECASE)
_RULE = re.compile(r"^\s*[-=_*~+|: ]{3,}\s*$")
_ASCII_BORDER = re.compile(r"^\s*\+[-=+]{3,}\+\s*$")
_COLUMN_GAP = re.compile(r"\S(\s{2,})(?=\S)")
_END_PUNCT = ".!?:;,"


@dataclass
class _Line:
    n: int
    start: int  # first non-space character
    end: int  # after the last non-space character
    indent: int
    text: str  # stripped

    @property
    def width(self) -> int:
        return self.indent + len(self.text)


def _lines(text: str) -> list[_Line | None]:
    """Every line of `text`; blank lines (and lines of only form feeds) are None."""
    out: list[_Line | None] = []
    pos = 0
    for n, raw in enumerate(text.split("\n")):
        s, e = pos, pos + len(raw)
        pos = e + 1
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s == e:
            out.append(None)
            continue
        line_start = s - (len(raw) - len(raw.lstrip()))
        prefix = text[line_start:s].replace("\f", "")
        indent = len(prefix.expandtabs(8))
        out.append(_Line(n, s, e, indent, text[s:e]))
    return out


def _shape(s: str) -> str:
    """A line's form with its numbers blanked: how running headers are recognised."""
    return re.sub(r"\d+", "#", collapse(s).lower())


def _furniture(text: str, lines: list[_Line | None]) -> set[int]:
    """Line numbers of running headers/footers and page numbers."""
    drop: set[int] = set()
    for ln in lines:
        if ln and _PAGE_MARK.search(ln.text):
            drop.add(ln.n)
    # pages: split at form feeds
    raw_lines = text.split("\n")
    breaks = [i for i, r in enumerate(raw_lines) if "\f" in r]
    if breaks:
        bounds = [0, *breaks, len(raw_lines)]
        edges: list[list[_Line]] = []
        for a, b in itertools.pairwise(bounds):
            page = [ln for ln in lines[a:b] if ln]
            edges.append(page[:2] + page[-2:] if len(page) > 4 else page)
        counts = Counter(
            _shape(ln.text) for page in edges for ln in {x.n: x for x in page}.values()
        )
        pages = len(edges)
        for page in edges:
            for ln in page:
                shape = _shape(ln.text)
                if _PAGE_NUMBER.match(ln.text) or (counts[shape] >= max(2, pages // 3)):
                    drop.add(ln.n)
        recurring = {s for s, c in counts.items() if c >= max(2, pages // 3)}
        for ln in lines:
            if ln and _shape(ln.text) in recurring:
                drop.add(ln.n)
    else:
        # no pages: lines in columns ("RFC 1234   Title   May 2020") repeated three times or more
        shapes = Counter(
            _shape(ln.text) for ln in lines if ln and re.search(r"\S\s{3,}\S", ln.text)
        )
        for ln in lines:
            if ln and re.search(r"\S\s{3,}\S", ln.text) and shapes[_shape(ln.text)] >= 3:
                drop.add(ln.n)
    return drop


def _toc(lines: list[_Line | None], skip: set[int]) -> set[int]:
    """Line numbers of a table of contents: dot-leader lines, and a "Contents" section."""
    drop = {ln.n for ln in lines if ln and _DOT_LEADER.search(ln.text)}
    content = [ln for ln in lines if ln and ln.n not in skip]
    for i, ln in enumerate(content):
        if not _TOC_HEADING.match(ln.text):
            continue
        j = i + 1
        entries: list[_Line] = []
        while j < len(content):
            cand = content[j]
            leaders = any(e.n in drop for e in entries)
            if cand.n in drop:
                pass
            elif leaders:
                break  # a dot-leader TOC ends at its first line without leaders
            elif not (
                (_TOC_ENTRY.match(cand.text) and cand.text[-1] not in ".!?;,")
                or (
                    entries
                    and cand.indent > entries[-1].indent
                    and len(cand.text) < 80
                    and cand.text[-1] not in ".!?;,"
                )
            ):
                break
            entries.append(cand)
            j += 1
        if len(entries) >= 2:
            drop.add(ln.n)
            drop.update(e.n for e in entries)
    return drop


def _wrap_width(lines: list[_Line]) -> int | None:
    """The width text was wrapped at, or None when lines are paragraphs of their own."""
    if len(lines) < 5:
        return None
    widths = sorted(ln.width for ln in lines)
    p90 = widths[int(0.9 * (len(widths) - 1))]
    if p90 > 100 or p90 < 30:
        return None
    width = widths[int(0.97 * (len(widths) - 1))]
    near = sum(1 for w in widths if w >= width - 20)
    return width if near >= 0.25 * len(widths) else None


def _continues(a: _Line, b: _Line, width: int) -> bool:
    """Would a greedy wrapper have put b's first word on line a? If not, a was wrapped."""
    first_word = b.text.split(None, 1)[0]
    if a.width + 1 + len(first_word) > width:
        return True
    tail = a.text[-1]
    if tail in "-/(,":  # a line never ends a paragraph on a comma or a hyphen
        return True
    return tail not in _END_PUNCT and b.text[0].islower()


def _looks_like_heading(line: str) -> bool:
    words = line.split()
    return (
        len(line) <= 100
        and not _KEY_VALUE.search(line)
        and len(words) <= 14
        and line[-1] not in _END_PUNCT
        and has_letters(line)
    )


def _heading_level(line: str) -> int:
    m = _NUMBERED_HEADING.match(line)
    if m:
        return m["num"].count(".") + 1
    return 1


def _mapped_lines(text: str, lines: list[_Line], body_start: int | None = None) -> Mapped:
    m = Mapped()
    for i, ln in enumerate(lines):
        s = body_start if (i == 0 and body_start is not None) else ln.start
        if i:
            m.space(ln.start)
        m.add_source(text, s, ln.end)
    return m.finish()


def _split_cells(line: _Line) -> list[tuple[int, int]]:
    """Cells of a whitespace-aligned row: runs separated by two or more spaces (relative)."""
    cells, pos = [], 0
    for m in re.finditer(r"\s{2,}|\t", line.text):
        if m.start() > pos:
            cells.append((pos, m.start()))
        pos = m.end()
    if pos < len(line.text):
        cells.append((pos, len(line.text)))
    return cells


class _TextParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.blocks: list[Block] = []
        self.dropped: Counter[str] = Counter()

    # -- tables ---------------------------------------------------------------------------
    def _flat_row(self, ln: _Line) -> Block | None:
        m = _FLAT_ROW.match(ln.text)
        if not m:
            return None
        values = _VALUES.findall(m["values"])
        label = m["label"].strip()
        header = self._flat_header(len(values))
        display = row_display(label, header[1:] if header else [], values)
        if not header:
            display = f"{label}: {', '.join(values)}"
        return Block("row", ln.start, ln.end, _fixed(display, ln.start, ln.end))

    def _flat_header(self, n_values: int) -> list[str] | None:
        """Column names from the line above a run of rows (`LevelCol ACol B` reads as
        Level | Col A | Col B); that line becomes the table's header block."""
        i = len(self.blocks) - 1
        while i >= 0 and self.blocks[i].kind == "row":
            i -= 1
        if i < 0 or self.blocks[i].kind not in ("heading", "paragraph", "header"):
            return None
        b = self.blocks[i]
        source = self.text[b.start : b.end]
        cells = [c.strip() for c in _GLUE_SPLIT.split(source) if c.strip()]
        if len(cells) != n_values + 1:
            return None
        self.blocks[i] = Block("header", b.start, b.end, b.shown)
        return cells

    def _aligned_table(self, run: list[_Line]) -> bool:
        """A run of lines whose cells line up in columns separated by 2+ spaces, or ruled
        with '|' / '+---+': rows read against the first line as header."""
        ruled = any(_ASCII_BORDER.match(ln.text) for ln in run) or all(
            ln.text.startswith("|") for ln in run
        )
        rows = [ln for ln in run if not _RULE.match(ln.text)]
        if len(rows) < 2:
            return False
        if ruled:
            cells = [[(a, b) for a, b in _pipe_cells(ln.text)] for ln in rows]
        else:
            cells = [_split_cells(ln) for ln in rows]
            counts = [len(c) for c in cells]
            if min(counts) < 2 or len(rows) < 3 or max(counts) != counts[0]:
                return False
            if sum(1 for n in counts if n == counts[0]) < 0.7 * len(rows):
                return False  # ragged: prose with double spaces after full stops
            if counts[0] < 3 and len(rows) == len(run):
                return False  # two aligned columns without a rule: a letterhead, not a table
            starts = [[ln.indent + a for a, _ in c] for ln, c in zip(rows, cells, strict=True)]
            # columns must line up: their starts or their ends (right-aligned numbers)
            ends = [[ln.indent + b for _, b in c] for ln, c in zip(rows, cells, strict=True)]
            for k in range(len(cells[0])):  # the header may be centred: data rows decide
                col_s = [s[k] for s in starts[1:] if k < len(s)]
                col_e = [e[k] for e in ends[1:] if k < len(e)]
                if max(col_s) - min(col_s) > 2 and max(col_e) - min(col_e) > 2:
                    return False
        header = [collapse(rows[0].text[a:b]) for a, b in cells[0]]
        self.blocks.append(
            Block(
                "header",
                rows[0].start,
                rows[0].end,
                Mapped.of_source(self.text, rows[0].start, rows[0].end),
            )
        )
        for ln, c in zip(rows[1:], cells[1:], strict=True):
            values = [collapse(ln.text[a:b]) for a, b in c]
            if not any(values):
                continue
            display = row_display(values[0], header[1:], values[1:])
            self.blocks.append(Block("row", ln.start, ln.end, _fixed(display, ln.start, ln.end)))
        ruler = [ln for ln in run if _RULE.match(ln.text)]
        self.dropped["markup"] += len(ruler)
        return True

    # -- one-line-per-paragraph text --------------------------------------------------------
    def per_line(self, lines: list[_Line]) -> None:
        for i, ln in enumerate(lines):
            has_next = i + 1 < len(lines)
            if (row := self._flat_row(ln)) is not None:
                self.blocks.append(row)
                continue
            if m := _MD_HEADING.match(ln.text):
                self.blocks.append(self._heading([ln], ln.start + m.end()))
            elif (m := _BULLET.match(ln.text)) and ln.end - (
                ln.start + m.end() - len(m["indent"])
            ) > 0:
                body = ln.start + m.end() - len(m["indent"])
                self.blocks.append(
                    Block("item", ln.start, ln.end, _mapped_lines(self.text, [ln], body))
                )
            elif ln.text.endswith("?") and len(ln.text) <= 200 and has_next:
                self.blocks.append(self._heading([ln], question=True))
            elif _looks_like_heading(ln.text) and has_next:
                self.blocks.append(self._heading([ln]))
            else:
                self.blocks.append(
                    Block("paragraph", ln.start, ln.end, _mapped_lines(self.text, [ln]))
                )

    def _heading(
        self, lines: list[_Line], body: int | None = None, question: bool = False
    ) -> Block:
        shown = _mapped_lines(self.text, lines, body)
        level = 1 if question else _heading_level(shown.text)
        return Block(
            "heading", lines[0].start, lines[-1].end, shown, level, answerable=not question
        )

    # -- hard-wrapped text ------------------------------------------------------------------
    def wrapped(self, groups: list[list[_Line]], width: int) -> None:
        indents = Counter(ln.indent for run in groups for ln in run if len(ln.text) > 0.6 * width)
        body_indent = indents.most_common(1)[0][0] if indents else 0
        for gi, run in enumerate(groups):
            next_group = groups[gi + 1] if gi + 1 < len(groups) else None
            if gi == 0 and all(_LETTERHEAD.search(ln.text) for ln in run[: max(1, len(run) - 2)]):
                self.dropped["furniture"] += len(run)  # a memo's letterhead: authors, dates
                continue
            if self._aligned_table(run):
                continue
            if len(run) > 3 and len(_split_cells(run[0])) == 1 and self._aligned_table(run[1:]):
                self.blocks.insert(  # a caption line, then its table
                    len(self.blocks) - sum(1 for b in self.blocks if b.start >= run[1].start),
                    Block("paragraph", run[0].start, run[0].end, _mapped_lines(self.text, run[:1])),
                )
                continue
            if _is_code(run, body_indent):
                s, e = run[0].start, run[-1].end
                self.blocks.append(Block("code", s, e, Mapped.of_source(self.text, s, e)))
                continue
            self._wrapped_run(run, width, next_group)

    def _wrapped_run(self, run: list[_Line], width: int, next_group: list[_Line] | None) -> None:
        if (
            len(run) == 1
            and _NUMBERED_HEADING.match(run[0].text)
            and _looks_like_heading(run[0].text)
            and next_group is not None
        ):
            self.blocks.append(self._heading(run))
            return
        i = 0
        while i < len(run):
            ln = run[i]
            bullet = _BULLET.match(ln.text)
            column = _TERM_COLUMN.match(ln.text) if not bullet else None
            if column and i + 1 < len(run) and run[i + 1].indent == ln.indent + column.end():
                j = i + 1
                while j < len(run) and run[j].indent == ln.indent + column.end():
                    j += 1
                self._definition(ln, run[i + 1 : j], split=column)
                i = j
                continue
            if (
                column
                and i + 1 >= len(run)
                and len(column.group()) - len(column["term"]) >= 3
                and self.blocks
                and self.blocks[-1].whole
            ):
                self._definition(ln, [], split=column)  # "day      A period of 24 hours."
                i += 1
                continue
            # a hanging indent: a term (or a reference's first line), then deeper lines
            if not bullet and i + 1 < len(run) and run[i + 1].indent > ln.indent:
                j = i + 1
                while j < len(run) and run[j].indent > ln.indent:
                    j += 1
                if len(ln.text) <= 60:
                    self._definition(ln, run[i + 1 : j])
                else:
                    para = run[i:j]
                    m = _mapped_lines(self.text, para)
                    self.blocks.append(Block("paragraph", para[0].start, para[-1].end, m))
                i = j
                continue
            j = i + 1
            if bullet:
                text_indent = ln.indent + bullet.end() - len(bullet["indent"])
                while (
                    j < len(run)
                    and not _BULLET.match(run[j].text)
                    and run[j].indent >= text_indent - 1
                ):
                    j += 1
                body = ln.start + bullet.end() - len(bullet["indent"])
                self.blocks.append(
                    Block(
                        "item", ln.start, run[j - 1].end, _mapped_lines(self.text, run[i:j], body)
                    )
                )
                i = j
                continue
            while (
                j < len(run)
                and run[j].indent == ln.indent
                and not _BULLET.match(run[j].text)
                and _continues(run[j - 1], run[j], width)
            ):
                j += 1
            para = run[i:j]
            following = run[j] if j < len(run) else (next_group[0] if next_group else None)
            if (
                len(para) == 1
                and _looks_like_heading(ln.text)
                and following is not None
                and (len(ln.text) <= 0.75 * width or _NUMBERED_HEADING.match(ln.text))
            ):
                self.blocks.append(self._heading(para))
            else:
                self.blocks.append(
                    Block("paragraph", para[0].start, para[-1].end, _mapped_lines(self.text, para))
                )
            i = j

    def _definition(
        self, term: _Line, body: list[_Line], split: re.Match[str] | None = None
    ) -> None:
        m = Mapped()
        term_end = term.start + len(split["term"]) if split else term.end
        m.add_source(self.text, term.start, term_end)
        if self.text[term_end - 1] not in ":—-":
            m.add(":", term_end, term_end, literal=False)
        if split:
            m.space(term.start + split.end())
            m.add_source(self.text, term.start + split.end(), term.end)
        end = body[-1].end if body else term.end
        for ln in body:
            m.space(ln.start)
            m.add_source(self.text, ln.start, ln.end)
        self.blocks.append(Block("item", term.start, end, m.finish(), whole=True))


_GRAMMAR_RULE = re.compile(r"^[\w.-]+\s*(?:=|::=|:=|=/)\s+\S|^/\*.*\*/$")
_LETTERHEAD = re.compile(r"\S\s{8,}\S|^\s{20,}\S")
_CODE_CHARS = re.compile(r"[={}<>|\\]|;\s*$|/\*|\*/|^--\S|::|^\S+:\s+\S+$")
_PROSE_WORD = re.compile(r"^[(\"'“]?[A-Za-z][a-z]+[,.;:)\"'”]*$")


def _is_code(run: list[_Line], body_indent: int) -> bool:
    """A group of lines that is not prose: grammar rules, protocol examples, dumps. Prose —
    most tokens plain words, citations like "[RFC2119]" or not — never is."""
    if not run or _BULLET.match(run[0].text):
        return False
    tokens = [t for ln in run for t in ln.text.split()]
    prose = sum(1 for t in tokens if _PROSE_WORD.match(t)) / max(1, len(tokens))
    if prose >= 0.6:
        return False
    codeish = sum(1 for ln in run if _CODE_CHARS.search(ln.text))
    if min(ln.indent for ln in run) > body_indent:
        return codeish >= 0.5 * len(run)
    if len(run) == 1:
        return bool(_GRAMMAR_RULE.match(run[0].text))
    return codeish >= 0.8 * len(run)


def _pipe_cells(line: str) -> list[tuple[int, int]]:
    cells, pos = [], 0
    parts = line.split("|")
    for k, part in enumerate(parts):
        a, b = pos, pos + len(part)
        pos = b + 1
        if (k == 0 or k == len(parts) - 1) and not part.strip():
            continue
        cells.append((a, b))
    return cells


def _fixed(display: str, start: int, end: int) -> Mapped:
    m = Mapped()
    m.add(display, start, end, literal=False)
    return m.finish()


def parse_text(text: str, title: str = "") -> ParsedText:
    """Parse plain text (already decoded, LF line ends) into blocks with exact offsets."""
    lines = _lines(text)
    furniture = _furniture(text, lines)
    toc = _toc(lines, furniture) - furniture
    parser = _TextParser(text)
    parser.dropped["furniture"] += len(furniture)
    parser.dropped["toc"] += len(toc)
    skip = furniture | toc
    content = [ln for ln in lines if ln and ln.n not in skip]
    width = _wrap_width(content)
    if width is None:
        parser.per_line(content)
    else:
        groups: list[list[_Line]] = []
        prev_n = -2
        for ln in content:
            blank_between = (
                any(lines[k] is None for k in range(prev_n + 1, ln.n)) if prev_n >= 0 else True
            )
            if blank_between or not groups:
                groups.append([ln])
            else:
                groups[-1].append(ln)
            prev_n = ln.n
        parser.wrapped(groups, width)
    meta: dict[str, Any] = {"wrapped": width is not None}
    if width:
        meta["wrap_width"] = width
        if not title and (centred := _centred_title(parser.blocks, lines, width)):
            title = centred
            meta["title_source"] = "centred_heading"
    return ParsedText(text, title, parser.blocks, meta, parser.dropped, "text")


def _centred_title(blocks: list[Block], lines: list[_Line | None], width: int) -> str:
    """A wrapped document's title is its first heading when set centred (an RFC's, a memo's)."""
    by_start = {ln.start: ln for ln in lines if ln}
    for b in blocks[:6]:
        if b.kind != "heading":
            continue
        ln = by_start.get(b.start)
        if ln and ln.indent >= 8 and abs(ln.indent - (width - ln.width)) <= 12:
            return b.display
        break
    return ""


if __name__ == "__main__":  # pragma: no cover - a quick look at a file's blocks
    doc = parse_text(Path(sys.argv[1]).read_text(encoding="utf-8").replace("\r\n", "\n"))
    for b in doc.blocks:
        print(f"{b.kind:9} {b.level} {b.display[:110]!r}")
    print(doc.dropped, doc.meta)
