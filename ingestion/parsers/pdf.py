"""PDF: text lines with their fonts and positions (pdfplumber), read into paragraphs.

pdfplumber (on pdfminer.six) gives every line with its characters' sizes and positions and finds
ruled tables. From them:

- **page furniture** is left out: lines near the top or bottom edge whose shape (digits
  blanked) recurs on many pages — running titles, "Copyright © … All rights reserved. 13",
  slide footers — and bare page numbers;
- **residue** is left out: short lines with no letters (chart axis labels, "$50,000", "80%",
  navigation dots) outside tables;
- **headings** are lines set larger than the body text (the most common size);
- **paragraphs** join wrapped lines (same size, ordinary line spacing, no first-line indent);
  a line-end hyphen is dropped when the joined word occurs elsewhere in the document;
- **tables** become a header row and rows (`Label — Col: val · …`), placed in reading order.

The document text is built from these blocks (lines of a paragraph on their own lines, blank
lines between blocks), so offsets are exact by construction. Encrypted files with an empty user
password are opened; a generic metadata title ("PowerPoint Presentation", "Microsoft Word - …")
gives way to the first page's most prominent line.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingestion.parsers.types import (
    Block,
    Mapped,
    ParsedText,
    collapse,
    has_letters,
    is_generic_title,
    row_display,
)
from rag_service.core.errors import DocumentError

if TYPE_CHECKING:
    from pdfplumber.page import Page
    from pdfplumber.pdf import PDF

# one character as pdfplumber reports it (text, x0, x1, top, bottom, size, fontname, ...)
_Char = dict[str, Any]

EDGE = 0.1  # share of the page height at the top and bottom where furniture lives
_PAGE_NUMBER = re.compile(
    r"^\s*(?:[-–—]\s*)?(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?(?:\s*[-–—])?\s*$",
    re.IGNORECASE,
)
_CID = re.compile(r"\(cid:\d+\)")
_MONO_FONT = re.compile(
    r"mono|courier|consol|menlo|typewriter|inconsolata|(?:^|\+)[A-Z]{0,6}TT\d", re.IGNORECASE
)
FIGURE_MARGIN = 24.0  # points around a drawn shape within which small text is a chart label
_WORD = re.compile(r"[^\W\d_]{2,}")
_BULLET = re.compile(r"^\s*(?:[•·▪‣◦●○■□➢►✓✔\-–*]|\d{1,2}[.)])\s+")
_SPACING_ACCENT = re.compile(r"([\u00a8\u00b4\u0060\u02c6\u02dc\u00b8\u02c7])\s?([A-Za-z])")
_ACCENT_COMBINING = {
    "\u00a8": "\u0308", "\u00b4": "\u0301", "`": "\u0300", "\u02c6": "\u0302",
    "\u02dc": "\u0303", "\u00b8": "\u0327", "\u02c7": "\u030c",
}  # fmt: skip


@dataclass
class _Line:
    page: int
    text: str
    top: float
    bottom: float
    x0: float
    x1: float
    size: float
    bold: bool
    page_height: float
    mono: bool = False  # set in a monospaced font: code
    in_figure: bool = False  # near a page's vector graphics: a chart's labels
    column: int = 0  # 1 for the right column of a two-column page (slides)
    right: float = 0.0  # the right edge of the text column the line sits in
    landscape: bool = False  # on a page wider than tall: a slide

    @property
    def edge(self) -> bool:
        return self.top < EDGE * self.page_height or self.bottom > (1 - EDGE) * self.page_height


@dataclass
class _Table:
    page: int
    top: float
    rows: list[list[str]]


@dataclass
class _Para:
    kind: str
    lines: list[_Line] = field(default_factory=list)
    level: int = 0
    table: _Table | None = None


def _fix_text(s: str) -> str:
    s = _SPACING_ACCENT.sub(
        lambda m: unicodedata.normalize("NFC", m.group(2) + _ACCENT_COMBINING[m.group(1)]), s
    )
    return unicodedata.normalize("NFKC", s) if any(0xFB00 <= ord(c) <= 0xFB06 for c in s) else s


def _shape(s: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", s.lower()))


def _open(data: bytes) -> PDF:
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfminer.psparser import PSException

    try:
        return pdfplumber.open(io.BytesIO(data), password="")
    except PDFPasswordIncorrect as exc:
        raise DocumentError("PDF is encrypted with a password") from exc
    except (PDFSyntaxError, PSException, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"unreadable PDF ({type(exc).__name__})") from exc
    except Exception as exc:  # pdfplumber wraps pdfminer's many errors on damaged files
        causes = [exc, exc.__cause__, exc.__context__, *exc.args]
        if any(isinstance(c, PDFPasswordIncorrect) for c in causes):
            raise DocumentError("PDF is encrypted with a password") from exc
        raise DocumentError(f"unreadable PDF ({type(exc).__name__})") from exc


def _read(pdf: PDF) -> tuple[list[_Line], list[_Table], dict[str, str]]:
    lines: list[_Line] = []
    tables: list[_Table] = []
    for n, page in enumerate(pdf.pages):
        found = []
        try:
            candidates = page.find_tables()
        except Exception:
            candidates = []
        for t in candidates:
            rows = [
                [collapse(_fix_text(c or "")) for c in r] for r in t.extract(x_tolerance_ratio=0.15)
            ]
            if not _tabular(rows):
                continue  # a box drawn around text (a slide's footer, a callout), not a table
            grid = _grid(page, t.bbox)
            if _tabular(grid) and max(map(len, grid)) > max(map(len, rows)):
                rows = grid  # rules between rows only: each cell stacked several columns
            rows = [r for r in rows if any(r)]
            found.append(t)
            tables.append(_Table(n, t.bbox[1], rows))
        shapes = [
            (g["x0"], g["top"], g["x1"], g["bottom"])
            for g in (*page.curves, *page.rects, *page.lines)
            if g["x1"] - g["x0"] < 0.9 * float(page.width)
        ]
        if len(shapes) < 10:
            shapes = []  # a rule or a box here and there is layout, not a figure
        page_lines: list[_Line] = []
        split_x: list[float] = []
        for ln in page.extract_text_lines(x_tolerance_ratio=0.15, return_chars=True, strip=True):
            for k, chars in enumerate(_segments(ln["chars"])):
                text = _fix_text(_CID.sub("", _chars_text(chars))).strip()
                if not text:
                    continue
                x0, x1 = chars[0]["x0"], max(c["x1"] for c in chars)
                top = min(c["top"] for c in chars)
                bottom = max(c["bottom"] for c in chars)
                mid, cx = (top + bottom) / 2, (x0 + x1) / 2
                if any(
                    t.bbox[1] - 1 <= mid <= t.bbox[3] + 1 and t.bbox[0] - 1 <= cx <= t.bbox[2] + 1
                    for t in found
                ):
                    continue
                if k:
                    split_x.append(x0)
                sizes = Counter(round(c["size"], 1) for c in chars)
                size = sizes.most_common(1)[0][0]
                fonts = [c.get("fontname") or "" for c in chars]
                bold = sum("bold" in f.lower() for f in fonts) > 0.6 * len(fonts)
                # code: mostly monospaced and starting so; prose that runs into a URL set in
                # a monospaced font ("version 0.7, URL http://…") stays prose
                mono = bool(_MONO_FONT.search(fonts[0])) and sum(
                    bool(_MONO_FONT.search(f)) for f in fonts
                ) > 0.6 * len(fonts)
                in_figure = any(
                    gx0 - FIGURE_MARGIN <= cx <= gx1 + FIGURE_MARGIN
                    and gtop - FIGURE_MARGIN <= mid <= gbottom + FIGURE_MARGIN
                    for gx0, gtop, gx1, gbottom in shapes
                )
                page_lines.append(
                    _Line(
                        n, text, top, bottom, x0, x1, size, bold, float(page.height), mono,
                        in_figure, landscape=float(page.width) > float(page.height),
                    )
                )  # fmt: skip
        _assign_columns(page_lines, split_x)
        lines.extend(page_lines)
    meta = {k: str(v) for k, v in (pdf.metadata or {}).items() if isinstance(v, str | int | float)}
    return lines, tables, meta


SLIDE_ITEM_CHARS = 40  # a slide's line up to this long, without end punctuation, is an item
CELL_GAP = 0.6  # inside a table, a gap this many font sizes wide separates cells
COLUMN_GAP = 1.5  # a gap between characters this many times the font size splits a line


def _segments(chars: list[_Char], gap: float = COLUMN_GAP) -> list[list[_Char]]:
    """A line's characters cut where a gap `gap` font sizes wide separates them (two slide
    columns side by side, a label and its value far apart; cells inside a table)."""
    chars = sorted((c for c in chars if not c["text"].isspace()), key=lambda c: c["x0"])
    out: list[list[_Char]] = []
    for c in chars:
        last = out[-1][-1] if out else None
        if last and last["text"] == c["text"] and abs(last["x0"] - c["x0"]) < 0.01:
            continue  # a ligature ("ﬁ") is listed once per letter it stands for
        if out and c["x0"] - out[-1][-1]["x1"] > gap * max(c["size"], 1.0):
            out.append([c])
        elif out:
            out[-1].append(c)
        else:
            out.append([c])
    return out


def _tabular(rows: list[list[str]]) -> bool:
    """Rows, most of them with two or more filled cells, half the grid filled, some words."""
    rows = [r for r in rows if any(r)]
    width = max((len(r) for r in rows), default=0)
    filled = sum(1 for r in rows for c in r if c)
    multi = sum(1 for r in rows if sum(1 for c in r if c) >= 2)
    if width < 2 or multi < 2 or multi < 0.5 * len(rows):
        return False
    return filled >= 0.5 * len(rows) * width and any(has_letters(c) for r in rows for c in r)


def _grid(page: Page, bbox: tuple[float, float, float, float]) -> list[list[str]]:
    """A table's cells read from where its words sit: one row per text line, a cell wherever
    a wide gap falls. A table ruled only between row groups (booktabs in LaTeX papers) is
    extracted as a few tall cells each stacking several columns; its lines keep them apart.
    Each value is named by the header cell above it (the leading line of words with the most
    cells), when every value has a header cell of its own."""
    try:
        lines = page.crop(bbox).extract_text_lines(
            x_tolerance_ratio=0.15, return_chars=True, strip=True
        )
    except Exception:
        return []
    cells: list[list[tuple[float, str]]] = []
    for ln in lines:
        row = []
        for seg in _segments(ln["chars"], CELL_GAP):
            text = collapse(_fix_text(_CID.sub("", _chars_text(seg))))
            if text:
                row.append(((seg[0]["x0"] + max(c["x1"] for c in seg)) / 2, text))
        if row:
            cells.append(row)
    if len(cells) < 2:
        return []
    lead: list[list[tuple[float, str]]] = []
    for row in cells:
        if not all(has_letters(t) for _, t in row):
            break
        lead.append(row)
    header = max(reversed(lead), key=len, default=[])  # on a tie, the line nearest the data
    if len(header) < 3:
        return [[t for _, t in row] for row in cells]

    def place(values: list[tuple[float, str]]) -> dict[int, str] | None:
        """Each value under its nearest header cell; None when two fall under one."""
        slots: dict[int, str] = {}
        for x, text in values:
            k = min(range(1, len(header)), key=lambda i: abs(header[i][0] - x))
            if k in slots:
                return None
            slots[k] = text
        return slots

    # a header set over several lines ("Distribution", "Method", "Object") names each column
    # with all of its lines, top to bottom
    names = [[t] for _, t in header]
    for row in lead:
        slots = place(row[1:]) if row is not header else None
        for k, text in (slots or {}).items():
            names[k].insert(-1, text)
    out = [[header[0][1], *(" ".join(n) for n in names[1:])]]
    for row in cells[len(lead) :]:
        label, values = (row[0][1], row[1:]) if has_letters(row[0][1]) else ("", row)
        slots = place(values)
        if slots is None:
            out.append([label, *(t for _, t in values)])
        else:
            out.append([label, *(slots.get(i, "") for i in range(1, len(header)))])
    return out


def _chars_text(chars: list[_Char]) -> str:
    """Text of a run of characters, a space where the gap exceeds 0.15 of the font size (as
    pdfplumber's x_tolerance_ratio reads word breaks)."""
    parts: list[str] = []
    prev = None
    for c in chars:
        if prev is not None and c["x0"] - prev["x1"] > 0.15 * max(c["size"], 1.0):
            parts.append(" ")
        parts.append(c["text"])
        prev = c
    return "".join(parts)


def _assign_columns(lines: list[_Line], split_x: list[float]) -> None:
    """Two columns on a page (slides): when several lines split at about the same x, the
    lines from there rightwards are read after the left column. Each line learns the right
    edge of its column, which tells a full line from a paragraph's last."""
    if len(split_x) >= 3:
        split_x.sort()
        median = split_x[len(split_x) // 2]
        near = [x for x in split_x if abs(x - median) <= 25]
        if len(near) >= 3:
            boundary = min(near) - 2
            for ln in lines:
                if ln.x0 >= boundary:
                    ln.column = 1
    for col in (0, 1):
        members = [ln for ln in lines if ln.column == col]
        if members:
            right = max(ln.x1 for ln in members)
            for ln in members:
                ln.right = right


def _body_size(lines: list[_Line]) -> float:
    sizes: Counter[float] = Counter()
    for ln in lines:
        sizes[ln.size] += len(ln.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


def _drop_furniture(lines: list[_Line], pages: int, dropped: Counter[str]) -> list[_Line]:
    seen: dict[str, set[int]] = {}
    for ln in lines:
        seen.setdefault(_shape(ln.text), set()).add(ln.page)
    threshold = max(2, int(0.3 * pages + 0.5))
    body = _body_size(lines)
    kept = []
    for ln in lines:
        recurring = pages >= 2 and len(seen[_shape(ln.text)]) >= threshold
        if (ln.edge and (recurring or _PAGE_NUMBER.match(ln.text))) or (
            pages >= 3 and len(seen[_shape(ln.text)]) >= max(3, 0.6 * pages)
        ):
            dropped["furniture"] += 1
        elif not _WORD.search(ln.text) and len(ln.text) < 40:
            dropped["residue"] += 1  # axis labels, bare figures, sub- and superscripts
        elif (ln.size < 0.8 * body and len(ln.text) < 15) or (
            ln.in_figure and ln.size < 0.9 * body
        ):
            dropped["residue"] += 1  # sub- and superscripts, a chart's labels and legends
        else:
            kept.append(ln)
    return kept


def _paragraphs(lines: list[_Line], tables: list[_Table]) -> list[_Para]:
    body = _body_size(lines)
    heading_sizes = sorted({ln.size for ln in lines if ln.size >= body * 1.08}, reverse=True)
    level_of = {s: i + 1 for i, s in enumerate(heading_sizes)}
    items: list[tuple[int, int, float, object]] = [(ln.page, ln.column, ln.top, ln) for ln in lines]
    items += [(t.page, 0, t.top, t) for t in tables]
    items.sort(key=lambda x: (x[0], x[1], x[2]))
    paras: list[_Para] = []
    for _, _, _, obj in items:
        if isinstance(obj, _Table):
            paras.append(_Para("table", table=obj))
            continue
        ln = obj
        assert isinstance(ln, _Line)
        is_heading = (
            ln.size in level_of
            and has_letters(ln.text)
            and (ln.size >= body * 1.15 or (len(ln.text) <= 80 and ln.text[-1] not in ".,;:"))
        )
        prev = paras[-1] if paras else None
        last = prev.lines[-1] if prev and prev.lines else None
        if is_heading:
            if (
                prev
                and prev.kind == "heading"
                and last
                and last.page == ln.page
                and abs(last.size - ln.size) < 0.6
                and ln.top - last.bottom < 0.8 * ln.size
            ):
                prev.lines.append(ln)
            else:
                paras.append(_Para("heading", [ln], level_of[ln.size]))
            continue
        if ln.mono:
            if (
                prev
                and prev.kind == "code"
                and last
                and last.page == ln.page
                and ln.top - last.bottom < 1.2 * max(ln.size, 1)
            ):
                prev.lines.append(ln)
            else:
                paras.append(_Para("code", [ln]))
            continue
        bullet = _BULLET.match(ln.text)
        joins = (
            prev is not None
            and prev.kind in ("paragraph", "item")
            and last is not None
            and not bullet
            and last.page == ln.page
            and abs(last.size - ln.size) < 0.6
            and -2 < ln.top - last.bottom < 0.6 * max(ln.size, 1)
            and ln.x0 < prev.lines[0].x0 + 1.5 * ln.size + (8 if prev.kind == "item" else 0)
            and ln.x0 > prev.lines[0].x0 - 2 * ln.size
            and last.column == ln.column
            and not _would_have_fit(last, ln)
        )
        # a paragraph running on from the previous page (no end punctuation before the break)
        runs_on = (
            prev is not None
            and prev.kind == "paragraph"
            and last is not None
            and last.page == ln.page - 1
            and not bullet
            and abs(last.size - ln.size) < 0.6
            and not re.search(r"[.!?:]$", last.text)
            and (ln.text[:1].islower() or ln.text[:1] in "(")
        )
        if (joins or runs_on) and prev is not None:
            prev.lines.append(ln)
        else:
            paras.append(_Para("item" if bullet else "paragraph", [ln]))
    return _lists(_join_interrupted(paras))


def _lists(paras: list[_Para]) -> list[_Para]:
    """Runs of short paragraphs without end punctuation starting at about the same x (a
    slide's bullets and sub-bullets, whose markers are drawn, not written) are list items; on
    a slide (a landscape page) such a paragraph is an item even alone."""

    def listy(p: _Para) -> bool:
        return (
            p.kind in ("paragraph", "item")
            and len(p.lines) <= 2
            and not re.search(r"[.!?]$", p.lines[-1].text)
        )

    # on a slide, a stack of short lines none of which ends a sentence is one item a line
    split: list[_Para] = []
    for p in paras:
        if (
            p.kind == "paragraph"
            and len(p.lines) > 2
            and p.lines[0].landscape
            and all(len(ln.text) <= SLIDE_ITEM_CHARS for ln in p.lines)
            and not any(re.search(r"[.!?,;]$", ln.text) for ln in p.lines)
        ):
            split.extend(_Para("item", [ln]) for ln in p.lines)
        else:
            split.append(p)
    paras = split
    i = 0
    while i < len(paras):
        j = i
        while (
            j + 1 < len(paras)
            and listy(paras[i])
            and listy(paras[j + 1])
            and paras[j + 1].lines[0].page == paras[i].lines[0].page
            and paras[j + 1].lines[0].column == paras[i].lines[0].column
            and abs(paras[j + 1].lines[0].x0 - paras[i].lines[0].x0) <= 4 * paras[i].lines[0].size
        ):
            j += 1
        if j > i or (listy(paras[i]) and paras[i].lines[0].landscape):
            for p in paras[i : j + 1]:
                p.kind = "item"
        i = j + 1
    return paras


_CAPTION = re.compile(r"^(?:Table|Figure|Fig\.|Exhibit|Chart|Listing)\s+[\dA-Z]+[.:]?\s", re.I)


def _is_caption(p: _Para) -> bool:
    return p.kind == "paragraph" and bool(_CAPTION.match(p.lines[0].text))


def _would_have_fit(last: _Line, ln: _Line) -> bool:
    """Was there room at the end of `last` for the first word of `ln`? Then `last` ended its
    paragraph (or list item) rather than being wrapped."""
    first_word = ln.text.split(None, 1)[0] if ln.text.split() else ""
    width = 0.5 * ln.size * (len(first_word) + 1)
    return last.x1 + width < last.right - 0.5 * ln.size


def _join_interrupted(paras: list[_Para]) -> list[_Para]:
    """A paragraph interrupted by a displayed formula, a code line or a floating table, and
    continued after it in lower case, becomes one paragraph again: formulas and code lines join
    it in place, tables float after it."""
    out: list[_Para] = []
    for para in paras:
        first = (para.lines[0].text if para.lines else "").lstrip("(")
        joined = False
        if para.kind == "paragraph" and first[:1].isalpha() and first[:1].islower():
            between: list[_Para] = []
            k = len(out) - 1
            while k >= 0 and len(between) < 4:
                cand = out[k]
                if cand.kind == "paragraph" and not re.search(r"[.!?:]$", cand.lines[-1].text):
                    floats = [b for b in between if b.kind == "table" or _is_caption(b)]
                    inline = [b for b in between if b not in floats]
                    if all(
                        b.kind == "code" or sum(len(x.text) for x in b.lines) <= 100 for b in inline
                    ):
                        for b in reversed(inline):
                            cand.lines.extend(b.lines)
                        cand.lines.extend(para.lines)
                        out[k + 1 :] = list(reversed(floats))
                        joined = True
                    break
                if cand.kind in ("heading", "item"):
                    break
                between.append(cand)
                k -= 1
        if not joined:
            out.append(para)
    return out


class _Builder:
    def __init__(self, vocabulary: set[str]) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.blocks: list[Block] = []
        self.vocabulary = vocabulary

    def _put(self, s: str, sep: str) -> int:
        if self.parts:
            self.parts.append(sep)
            self.length += len(sep)
        start = self.length
        self.parts.append(s)
        self.length += len(s)
        return start

    def lines_block(self, kind: str, lines: list[str], level: int = 0) -> None:
        start = self._put("\n".join(lines), "\n\n")
        shown = Mapped()
        pos = start
        for i, line in enumerate(lines):
            body = line
            if i == 0 and kind == "item":
                m = _BULLET.match(line)
                if m:
                    body = line[m.end() :]
                    pos += m.end()
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            hyphen = re.search(r"([A-Za-z]+)-$", body)
            if hyphen and nxt[:1].islower():
                joined = (hyphen.group(1) + re.match(r"[A-Za-z]*", nxt).group()).lower()  # type: ignore[union-attr]
                if joined in self.vocabulary:  # "hur-⏎dle": the hyphen only broke the line
                    shown.add(body[:-1], pos, pos + len(body) - 1, literal=True)
                    pos += len(body) + 1
                    continue
            shown.add(body, pos, pos + len(body), literal=True)
            pos += len(body)
            if nxt:
                shown.space(pos)
            pos += 1
        self.blocks.append(Block(kind, start, self.length, shown.finish(), level))

    def code(self, lines: list[str]) -> None:
        body = "\n".join(lines)
        start = self._put(body, "\n\n")
        shown = Mapped()
        shown.add(body, start, start + len(body), literal=True)
        self.blocks.append(Block("code", start, start + len(body), shown.finish()))

    def table(self, rows: list[list[str]]) -> None:
        header = rows[0]
        for k, row in enumerate(rows):
            line = " | ".join(row)
            start = self._put(line, "\n\n" if k == 0 else "\n")
            end = start + len(line)
            shown = Mapped()
            if k == 0:
                shown.add(line, start, end, literal=True)
                self.blocks.append(Block("header", start, end, shown.finish()))
            else:
                shown.add(row_display(row[0], header[1:], row[1:]), start, end, literal=False)
                self.blocks.append(Block("row", start, end, shown.finish()))

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _prominent_line(lines: list[_Line]) -> str:
    first = [ln for ln in lines if ln.page == 0 and has_letters(ln.text)]
    if not first:
        return ""
    size = max(ln.size for ln in first)
    top = [ln for ln in first if abs(ln.size - size) < 0.6]
    return collapse(" ".join(ln.text for ln in top[:3]))


def parse_pdf(data: bytes) -> ParsedText:
    pdf = _open(data)
    try:
        try:
            lines, tables, meta = _read(pdf)
            pages = len(pdf.pages)
        except DocumentError:
            raise
        except Exception as exc:
            raise DocumentError(f"unreadable PDF ({type(exc).__name__})") from exc
    finally:
        pdf.close()
    dropped: Counter[str] = Counter()
    lines = _drop_furniture(lines, pages, dropped)
    vocabulary = {w.lower() for ln in lines for w in re.findall(r"[A-Za-z]{3,}", ln.text)}
    builder = _Builder(vocabulary)
    for para in _paragraphs(lines, tables):
        if para.kind == "code":
            builder.code([ln.text for ln in para.lines])
        elif para.table is not None:
            builder.table(para.table.rows)
        else:
            builder.lines_block(para.kind, [ln.text for ln in para.lines], para.level)
    info_title = collapse(meta.get("Title", ""))
    out_meta: dict[str, Any] = {"pages": pages}
    for key in ("Author", "Subject", "Creator", "Producer", "CreationDate"):
        if meta.get(key):
            out_meta[key.lower()] = collapse(meta[key])
    if info_title and not is_generic_title(info_title):
        title, source = info_title, "metadata"
    else:
        title, source = _prominent_line(lines), "first_page"
        if info_title:
            out_meta["metadata_title"] = info_title
    out_meta["title_source"] = source
    return ParsedText(builder.text, title, builder.blocks, out_meta, dropped, "pdf")
