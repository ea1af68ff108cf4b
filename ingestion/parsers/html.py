"""Web pages: the main content's visible text, with headings, lists and tables as structure.

lxml parses the page; boilerplate is removed before any text is read — `nav`, `aside`, site
`header`/`footer`, forms and buttons, ARIA landmarks that are not content (navigation, banner,
contentinfo, complementary, search), hidden elements, cookie/consent banners, sidebars,
breadcrumbs, "skip to content" links and tables of contents (by tag, role, or class/id words)
— and then the main content root (`main`, `[role=main]`, `article`, a `#content`-like element,
else `body`) is walked. Text nodes are collapsed as a browser renders them, so a source line
break inside "Machine⏎Learning Engineer" is a space.

The document text is built from the blocks (blank lines between paragraphs, one line per list
item and table row), so block offsets are exact by construction. Title: the main `<h1>`, else
`og:title`, else `<title>`.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import lxml.html
from lxml import etree

from ingestion.parsers.types import Block, Mapped, ParsedText, collapse, row_display

_DROP_TAGS = {
    "script", "style", "noscript", "template", "svg", "iframe", "canvas", "form", "button",
    "select", "input", "textarea", "nav", "aside", "dialog", "object", "embed", "footer",
    "head", "link", "meta", "map", "audio", "video", "picture", "source", "track", "menu",
}  # fmt: skip
_DROP_ROLES = {
    "navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar",
    "toolbar", "dialog", "alertdialog", "tablist", "alert",
}  # fmt: skip
_DROP_WORDS = {
    "nav", "navbar", "navigation", "navheader", "navfooter", "menu", "menubar", "breadcrumb",
    "breadcrumbs", "sidebar", "sidebarwrapper", "sphinxsidebar", "footer", "cookie", "cookies",
    "consent", "gdpr", "banner", "skip", "skiplink", "share", "sharing", "social", "related",
    "advert", "advertisement", "ads", "promo", "newsletter", "subscribe", "popup", "modal",
    "toolbar", "pagination", "pager", "searchbox", "masthead", "topbar", "headerlink",
}  # fmt: skip
_DROP_SUBSTRINGS = (
    "sidebar",
    "navbar",
    "cookie",
    "consent",
    "breadcrumb",
    "navheader",
    "navfooter",
    "menu-bar",
    "searchbox",
    "search-wrapper",
    "searchresults",
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "blockquote", "figure", "figcaption", "header",
    "address", "center", "details", "summary", "fieldset", "hr", "body", "html", "caption",
    "dd", "dt", "dl", "ul", "ol", "li", "table", "pre", "tr", "td", "th",
}  # fmt: skip
_SKIP_LINK = re.compile(r"^\s*skip\s+(?:to|navigation)\b", re.IGNORECASE)
_ANCHOR_MARKS = re.compile(r"\s*[¶#§🔗]\s*$")
_MAIN_CANDIDATES = (
    "//main", "//*[@role='main']", "//article", "//*[@id='content']", "//*[@id='main']",
    "//*[@id='main-content']", "//*[contains(concat(' ', normalize-space(@class), ' '), ' body ')]",
    "//*[contains(concat(' ', normalize-space(@class), ' '), ' content ')]",
)  # fmt: skip


def _words(el: etree._Element) -> set[str]:
    attrs = f"{el.get('class', '')} {el.get('id', '')}".lower()
    return set(re.split(r"[\s_-]+", attrs)) - {""}


def _is_toc(el: etree._Element) -> bool:
    names = f"{el.get('class', '')} {el.get('id', '')}".lower().split()
    return any(
        n in ("toc", "contents", "table-of-contents", "tableofcontents")
        or n.startswith(("toc-", "toc_"))
        or n.endswith(("-toc", "_toc"))
        for n in names
    )


def _is_hidden(el: etree._Element) -> bool:
    style = (el.get("style") or "").replace(" ", "").lower()
    return (
        el.get("hidden") is not None
        or el.get("aria-hidden") == "true"
        or "display:none" in style
        or "visibility:hidden" in style
    )


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    head = data[:4096].decode("ascii", "ignore")
    m = re.search(r"charset=[\"']?([\w-]+)", head, re.IGNORECASE)
    for enc in (m.group(1) if m else None, "utf-8"):
        if not enc:
            continue
        try:
            return data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", "replace")


def _text_len(el: etree._Element) -> int:
    return len(collapse(el.text_content()))


class _Cleaner:
    def __init__(self, protect: etree._Element | None) -> None:
        self.protect = protect
        self.dropped: Counter[str] = Counter()

    def _protected(self, el: etree._Element) -> bool:
        """The main content and the elements holding it are never boilerplate."""
        if self.protect is None:
            return False
        return el is self.protect or any(a is el for a in self.protect.iterancestors())

    def clean(self, root: etree._Element) -> None:
        for el in list(root.iter()):
            if not isinstance(el.tag, str):
                if el.getparent() is not None:  # comments, processing instructions
                    _remove(el)
                continue
            if el.getparent() is None or self._protected(el):
                continue
            tag = el.tag.lower()
            words = _words(el)
            reason = None
            if tag in _DROP_TAGS:
                reason = "nav" if tag in ("nav", "aside", "footer", "menu") else "markup"
            elif (
                (tag == "header" and not el.xpath(".//h1"))
                or (el.get("role") or "").lower() in _DROP_ROLES
                or _is_hidden(el)
            ):
                reason = "nav"
            elif _is_toc(el) and tag in ("div", "nav", "ul", "ol", "section"):
                reason = "toc"
            elif (
                words & _DROP_WORDS
                or any(s in w for w in words for s in _DROP_SUBSTRINGS)
                or (tag == "a" and _SKIP_LINK.match(el.text_content() or ""))
            ):
                reason = "nav"
            if reason:
                self.dropped[reason] += max(1, len(el.xpath(".//li|.//p|.//a")))
                _remove(el)


def _remove(el: etree._Element) -> None:
    """Remove an element but keep its tail text (it belongs to the parent)."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    prev = el.getprevious()
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(el)


class _Builder:
    """Blocks and the document text they are cut from, built together."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.blocks: list[Block] = []
        self.inline: list[str] = []
        self.inline_kind = "paragraph"

    def _append(self, s: str, kind: str) -> int:
        if self.parts:
            sep = "\n" if kind in ("item", "row") and self.blocks[-1].kind == kind else "\n\n"
            self.parts.append(sep)
            self.length += len(sep)
        start = self.length
        self.parts.append(s)
        self.length += len(s)
        return start

    def emit(self, kind: str, s: str, level: int = 0, display: str | None = None) -> None:
        s = s.strip("\n") if kind == "code" else collapse(s)
        if kind == "heading":
            s = _ANCHOR_MARKS.sub("", s)
        if not s:
            return
        start = self._append(s, kind)
        end = start + len(s)
        if display is None:
            shown = Mapped()
            shown.add(s, start, end, literal=True)
            shown.finish()
        else:
            shown = Mapped()
            shown.add(display, start, end, literal=False)
            shown.finish()
        self.blocks.append(Block(kind, start, end, shown, level))

    def flush(self) -> None:
        if self.inline:
            self.emit(self.inline_kind, "".join(self.inline))
        self.inline = []

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _inline_text(el: etree._Element) -> str:
    """Visible text of an element read as one line (block children joined by spaces)."""
    parts: list[str] = []

    def rec(e: etree._Element) -> None:
        if e.text:
            parts.append(e.text)
        for c in e:
            if isinstance(c.tag, str):
                if c.tag in _BLOCK_TAGS or c.tag == "br":
                    parts.append(" ")
                if c.tag == "img" and c.get("alt"):
                    parts.append(c.get("alt", ""))
                rec(c)
                if c.tag in _BLOCK_TAGS:
                    parts.append(" ")
            if c.tail:
                parts.append(c.tail)

    rec(el)
    return collapse("".join(parts))


class _Walker:
    def __init__(self) -> None:
        self.b = _Builder()

    def walk(self, el: etree._Element, item: bool = False) -> None:
        b = self.b
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in _HEADINGS:
            b.flush()
            b.emit("heading", _inline_text(el), _HEADINGS[tag])
        elif tag == "pre":
            b.flush()
            b.emit("code", el.text_content())
        elif tag in ("ul", "ol"):
            b.flush()
            for li in el:
                if isinstance(li.tag, str) and li.tag == "li":
                    self._item(li)
                elif isinstance(li.tag, str):
                    self.walk(li, item=True)
        elif tag == "li":
            self._item(el)
        elif tag == "table":
            b.flush()
            self._table(el)
        elif tag == "dl":
            b.flush()
            self._definitions(el)
        elif tag in _BLOCK_TAGS or tag == "br":
            if tag == "br":
                b.inline.append(" ")
                return
            b.flush()
            self._children(el, item)
            b.flush()
        else:  # inline
            if tag == "img" and el.get("alt"):
                b.inline.append(el.get("alt", ""))
            self._children(el, item)

    def _children(self, el: etree._Element, item: bool) -> None:
        b = self.b
        previous_kind = b.inline_kind
        b.inline_kind = "item" if item else "paragraph"
        if el.text:
            b.inline.append(el.text)
        for c in el:
            if isinstance(c.tag, str):
                self.walk(c, item)
                b.inline_kind = "item" if item else "paragraph"
            if c.tail:
                b.inline.append(c.tail)
        b.inline_kind = previous_kind

    def _item(self, li: etree._Element) -> None:
        b = self.b
        b.flush()
        self._children(li, True)
        b.inline_kind = "item"
        b.flush()
        b.inline_kind = "paragraph"

    def _definitions(self, dl: etree._Element) -> None:
        term = None
        for c in dl:
            if not isinstance(c.tag, str):
                continue
            if c.tag == "dt":
                if term:
                    self.b.emit("item", term)
                term = _inline_text(c)
            elif c.tag == "dd":
                body = _inline_text(c)
                if term:
                    s = f"{term}: {body}" if term[-1:] not in ":" else f"{term} {body}"
                    self.b.emit("item", s)
                    self.b.blocks[-1].whole = True
                    term = None
                elif c.xpath(".//p|.//ul|.//pre|.//table"):
                    self.walk(c)
                else:
                    self.b.emit("paragraph", body)
            else:
                self.walk(c)
        if term:
            self.b.emit("item", term)

    def _table(self, table: etree._Element) -> None:
        rows = [
            tr
            for tr in table.iter("tr")
            if next((a for a in tr.iterancestors("table")), None) is table
        ]
        grid = [
            [_inline_text(c) for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th")]
            for tr in rows
        ]
        width = max((len(r) for r in grid), default=0)
        if width <= 1 or len(grid) < 2:  # a layout table: its cells are paragraphs
            for tr in rows:
                for c in tr:
                    if isinstance(c.tag, str):
                        self.walk(c)
                        self.b.flush()
            return
        header: list[str] = []
        for tr, cells in zip(rows, grid, strict=True):
            if not any(cells):
                continue
            is_head = tr.getparent() is not None and tr.getparent().tag == "thead"
            all_th = all(c.tag == "th" for c in tr if isinstance(c.tag, str))
            if is_head or (not header and all_th):
                header = cells
                self.b.emit("header", " | ".join(cells))
                continue
            display = row_display(cells[0], header[1:], cells[1:])
            self.b.emit("row", " | ".join(cells), display=display)


def _main_root(doc: etree._Element, body: etree._Element) -> etree._Element:
    total = max(1, _text_len(body))
    for xpath in _MAIN_CANDIDATES:
        found = doc.xpath(xpath)
        if found:
            best = max(found, key=_text_len)
            if _text_len(best) >= 0.25 * total:
                return best
    return body


def _title(doc: etree._Element, root: etree._Element) -> tuple[str, str | None]:
    h1 = root.xpath(".//h1")
    if h1:
        t = _ANCHOR_MARKS.sub("", _inline_text(h1[0]))
        if t:
            return t, "h1"
    og = doc.xpath("//meta[@property='og:title']/@content")
    if og and collapse(og[0]):
        return collapse(og[0]), "og:title"
    title_el = doc.xpath("//title")
    title = collapse(title_el[0].text_content()) if title_el else ""
    # the main content's first heading, when the <title> names it too ("Data Types - Book")
    first = root.xpath(".//h2|.//h3")
    if first:
        t = _ANCHOR_MARKS.sub("", _inline_text(first[0]))
        if t and t.casefold() in title.casefold():
            return t, "heading"
    if title:
        return title, "title"
    return "", None


def parse_html(data: bytes | str) -> ParsedText:
    source = re.sub(r"^\s*<\?xml[^>]*\?>", "", _decode(data))
    try:
        doc = lxml.html.document_fromstring(source)
    except (etree.ParserError, ValueError):
        return ParsedText("", "", [], {}, Counter(), "html")
    body = doc.find("body")
    if body is None:
        body = doc
    root = _main_root(doc, body)
    title, title_source = _title(doc, root)
    h1s = root.xpath(".//h1")
    cleaner = _Cleaner(h1s[0] if h1s else root)
    cleaner.clean(body)
    if root is not body and root.getparent() is None:
        root = body
    walker = _Walker()
    walker.walk(root)
    walker.b.flush()
    meta: dict[str, Any] = {}
    if title_source:
        meta["title_source"] = title_source
    lang = doc.get("lang")
    if lang:
        meta["lang"] = lang
    return ParsedText(walker.b.text, title, walker.b.blocks, meta, cleaner.dropped, "html")
