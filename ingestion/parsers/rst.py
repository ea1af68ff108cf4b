"""reStructuredText with docutils: structure from the doctree, offsets from the source.

docutils knows the structure (sections, paragraphs, lists, tables, directives) but its line
numbers are approximate and its text is already rendered. So each node's `rawsource` (the
paragraph as written, indentation removed) is *located* in the original: line by line, searching
forward from where the previous node ended (tolerant of re-indentation and tabs), which gives
exact spans; the readable form is then rendered from those source spans by the reST inline
rules (``` ``x`` ```, `` :ref:`x <y>` ``, `` `x <url>`_ ``, `[#n]_` …).

Left out of the blocks: bibliographic fields and a PEP-style `Key: value` header (read into
`meta`; `Title:` is the title), comments, targets, substitution definitions, the markup of
directives (their prose content is kept: `.. note::` bodies; code-like directives become code),
`.. contents::` tables of contents and docutils' own error messages.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives

from ingestion.parsers.inline import RST, render
from ingestion.parsers.types import Block, Mapped, ParsedText, collapse, row_display

_SETTINGS = {
    "report_level": 5,
    "halt_level": 5,
    "warning_stream": io.StringIO(),
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "input_encoding": "unicode",
    "syntax_highlight": "none",
    "smart_quotes": False,
    "pep_references": False,
    "rfc_references": False,
    "tab_width": 8,
    "line_length_limit": 1_000_000,
}
_HEADER_FIELD = re.compile(r"^([A-Za-z][\w-]*):[ \t]+\S.*$")
_DIRECTIVE_NAME = re.compile(r"^[ \t]*\.\.[ \t]+([A-Za-z][\w:.+-]*)::", re.MULTILINE)
_CODE_DIRECTIVES = {
    "code-block", "sourcecode", "code", "testcode", "testoutput", "doctest", "productionlist",
    "literalinclude", "graphviz", "math", "prompt", "ipython", "jupyter-execute",
}  # fmt: skip
_SILENT_DIRECTIVES = {
    "toctree", "index", "highlight", "currentmodule", "module", "automodule", "autoclass",
    "autofunction", "automethod", "autoattribute", "autosummary", "tabularcolumns", "only",
    "ifconfig", "default-role", "default-domain", "sectionauthor", "moduleauthor", "codeauthor",
    "include", "raw", "meta", "title", "role", "contents", "sectnum",
}  # fmt: skip
_PROSE_DIRECTIVES = {
    "versionadded", "versionchanged", "deprecated", "versionremoved", "seealso", "tip",
    "admonition", "todo", "centered", "hlist", "glossary", "rubric", "tab", "tabs", "card",
    "grid", "dropdown", "margin",
}  # fmt: skip


class _AnyOptions(dict[str, Any]):
    """An option_spec accepting every option (unknown Sphinx directives have their own)."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: str) -> Any:
        return directives.unchanged


class _GenericDirective(Directive):  # type: ignore[misc]  # docutils has no type information
    """Stands in for directives docutils does not know (Sphinx's and extensions'): prose content
    is parsed as reST, code-like content becomes a literal block, the rest is dropped."""

    required_arguments = 0
    optional_arguments = 100
    final_argument_whitespace = True
    has_content = True
    option_spec = _AnyOptions()

    def run(self) -> list[nodes.Node]:
        name = self.name.split(":")[-1]
        if name in _CODE_DIRECTIVES or name.endswith("code"):
            return [nodes.literal_block("\n".join(self.content), "\n".join(self.content))]
        if name in _SILENT_DIRECTIVES:
            return []
        out: list[nodes.Node] = []
        if self.arguments and name not in _PROSE_DIRECTIVES:
            signature = " ".join(self.arguments)
            out.append(nodes.literal_block(signature, signature))
        elif self.arguments:  # ".. versionadded:: 3.9 <prose>": the prose after the version
            prose = " ".join(self.arguments)
            if name.startswith(("version", "deprecated")):
                prose = prose.split(None, 1)[1] if len(prose.split(None, 1)) > 1 else ""
            if prose.strip():
                out.append(nodes.paragraph(prose, prose))
        container = nodes.container()
        self.state.nested_parse(self.content, self.content_offset, container)
        out.append(container)
        return out


def _register_unknown_directives(text: str) -> None:
    known = set(directives._directive_registry) | set(directives._directives)
    for name in set(_DIRECTIVE_NAME.findall(text)) - known:
        directives.register_directive(name, _GenericDirective)


def _pep_header(text: str) -> tuple[dict[str, str], int]:
    """A leading RFC 822 header block (`PEP: 8`, `Title: …`): its fields and where it ends."""
    fields: dict[str, str] = {}
    pos, key = 0, None
    for line in text.splitlines(keepends=True):
        if not line.strip():
            break
        m = _HEADER_FIELD.match(line.rstrip("\n"))
        if m:
            key = m.group(1)
            fields[key] = line.split(":", 1)[1].strip()
        elif key and line[:1] in " \t":
            fields[key] += " " + line.strip()
        else:
            return {}, 0
        pos += len(line)
    return (fields, pos) if len(fields) >= 2 else ({}, 0)


class _Locator:
    """Finds node source in the (masked) original, moving forward only."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cursor = 0

    def find_line(self, line: str, start: int) -> tuple[int, int] | None:
        line = line.strip()
        if not line:
            return None
        pos = self.text.find(line, start)
        if pos >= 0:
            return pos, pos + len(line)
        words = [re.escape(w) for w in line.split()]
        m = re.compile(r"\s+".join(words)).search(self.text, start)
        return (m.start(), m.end()) if m else None

    def locate(self, raw: str, start: int | None = None) -> list[tuple[int, int]]:
        pos = self.cursor if start is None else start
        pieces: list[tuple[int, int]] = []
        for line in raw.split("\n"):
            found = self.find_line(line, pos)
            if found is None:
                if not pieces and line.strip():
                    return []
                continue
            pieces.append(found)
            pos = found[1]
        return pieces


class _Walker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.loc = _Locator(text)
        self.blocks: list[Block] = []
        self.dropped: Counter[str] = Counter()
        self.meta: dict[str, Any] = {}

    # -- helpers ------------------------------------------------------------------------
    def _render(self, pieces: list[tuple[int, int]]) -> Mapped:
        if pieces:
            s, e = pieces[-1]
            tail = self.text[s:e]
            if tail.endswith("::") and not tail.endswith("\\::"):
                cut = 3 if tail.endswith(" ::") else 1
                pieces = [*pieces[:-1], (s, max(s, e - cut))]
        return render(self.text, [p for p in pieces if p[1] > p[0]], RST)

    def _add(self, kind: str, raw: str, level: int = 0) -> Mapped | None:
        pieces = self.loc.locate(raw)
        if not pieces:
            return None
        self.loc.cursor = pieces[-1][1]
        shown = self._render(pieces)
        if shown.text:
            s, e = shown.source_span()
            self.blocks.append(Block(kind, s, e, shown, level))
        return shown

    def _text_of(self, node: nodes.Node, start: int) -> tuple[Mapped, int, int, int] | None:
        """Rendered paragraphs under `node` (a table entry, a term), located from `start`."""
        shown = Mapped()
        first, last, end_first = None, None, start
        for p in node.findall(nodes.paragraph):
            pieces = self.loc.locate(p.rawsource or p.astext(), end_first)
            if not pieces:
                continue
            shown.extend(self._render(pieces))
            first = pieces[0][0] if first is None else first
            last = pieces[-1][1]
            end_first = pieces[0][1]
        if first is None or last is None:
            return None
        return shown.finish(), first, last, end_first

    # -- the walk ---------------------------------------------------------------------------
    def walk(self, node: nodes.Node, depth: int = 0, in_item: bool = False) -> None:
        for child in node.children:
            self.visit(child, depth, in_item)

    def visit(self, node: nodes.Node, depth: int, in_item: bool) -> None:
        if isinstance(node, nodes.Text):
            return
        if isinstance(node, nodes.section):
            self.walk(node, depth + 1, in_item)
        elif isinstance(node, nodes.title):
            if isinstance(node.parent, nodes.section | nodes.document):
                self._add("heading", node.rawsource or node.astext(), max(1, depth))
            else:
                self._add("paragraph", node.rawsource or node.astext())
        elif isinstance(node, nodes.subtitle):
            self._add("heading", node.rawsource or node.astext(), depth + 1)
        elif isinstance(node, nodes.paragraph):
            self._add("item" if in_item else "paragraph", node.rawsource or node.astext())
        elif isinstance(node, nodes.list_item | nodes.option_list_item):
            self.walk(node, depth, True)
        elif isinstance(node, nodes.definition_list_item | nodes.field):
            self._definition(node)
        elif isinstance(node, nodes.docinfo):
            for field in node.children:
                name = field.tagname if field.tagname != "field" else field[0].astext()
                self.meta[name.lower()] = collapse(
                    field.astext() if field.tagname != "field" else field[1].astext()
                )
            self.dropped["field_list"] += len(node.children)
        elif isinstance(node, nodes.literal_block | nodes.doctest_block | nodes.math_block):
            self._code(node)
        elif isinstance(node, nodes.table):
            self._table(node)
        elif isinstance(node, nodes.topic) and "contents" in node.get("classes", []):
            self.dropped["toc"] += len(list(node.findall(nodes.list_item)))
        elif isinstance(node, nodes.line_block):
            lines = [ln.astext() for ln in node.findall(nodes.line)]
            self._add("paragraph", "\n".join(lines))
        elif isinstance(
            node,
            nodes.comment
            | nodes.target
            | nodes.substitution_definition
            | nodes.system_message
            | nodes.raw
            | nodes.pending
            | nodes.image
            | nodes.transition
            | nodes.label
            | nodes.decoration
            | nodes.meta,
        ):
            self.dropped["markup"] += 1
            if isinstance(node, nodes.comment | nodes.substitution_definition) and node.astext():
                pieces = self.loc.locate(node.astext())
                if pieces:
                    self.loc.cursor = pieces[-1][1]
        else:  # containers: admonitions, block quotes, topics, footnotes, figures …
            self.walk(node, depth, in_item)

    def _code(self, node: nodes.Element) -> None:
        lines = [ln for ln in node.astext().split("\n") if ln.strip()]
        if not lines:
            return
        first = self.loc.find_line(lines[0], self.loc.cursor)
        if not first:
            return
        last = first
        pos = first[1]
        for ln in lines[1:]:
            found = self.loc.find_line(ln, pos)
            if found:
                last, pos = found, found[1]
        self.loc.cursor = last[1]
        s, e = first[0], last[1]
        self.blocks.append(Block("code", s, e, Mapped.of_source(self.text, s, e)))

    def _definition(self, node: nodes.Element) -> None:
        head, body = node.children[0], node.children[1:]
        head_raw = head.rawsource or head.astext()
        head_pieces = self.loc.locate(head_raw)
        if not head_pieces:
            self.walk(node, 0, True)
            return
        self.loc.cursor = head_pieces[-1][1]
        shown = render(self.text, head_pieces, RST)
        start, end = head_pieces[0][0], head_pieces[-1][1]
        for part in body:
            for p in part.findall(nodes.paragraph):
                pieces = self.loc.locate(p.rawsource or p.astext())
                if not pieces:
                    continue
                self.loc.cursor = end = pieces[-1][1]
                shown.extend(
                    self._render(pieces), ": " if len(shown) and shown.text[-1] not in ":" else " "
                )
            for lit in part.findall(nodes.literal_block):
                self._code(lit)
        self.blocks.append(Block("item", start, end, shown.finish(), whole=True))

    def _table(self, node: nodes.table) -> None:
        header: list[str] = []
        for group in node.findall(nodes.tgroup):
            for section in group.children:
                if not isinstance(section, nodes.thead | nodes.tbody):
                    continue
                for row in section.children:
                    cells, first, last = [], None, None
                    pos = self.loc.cursor
                    for entry in row.children:
                        found = self._text_of(entry, pos)
                        if found is None:
                            cells.append("")
                            continue
                        shown, s, e, end_first = found
                        cells.append(shown.text)
                        first = s if first is None else min(first, s)
                        last = e if last is None else max(last, e)
                        pos = end_first
                    if first is None or last is None:
                        continue
                    self.loc.cursor = last
                    fixed = Mapped()
                    if isinstance(section, nodes.thead):
                        header = cells
                        fixed.add(" | ".join(cells), first, last, literal=False)
                        self.blocks.append(Block("header", first, last, fixed.finish()))
                    else:
                        fixed.add(
                            row_display(cells[0], header[1:], cells[1:]), first, last, literal=False
                        )
                        self.blocks.append(Block("row", first, last, fixed.finish()))


def parse_rst(text: str) -> ParsedText:
    header, header_end = _pep_header(text)
    masked = re.sub(r"[^\n]", " ", text[:header_end]) + text[header_end:]
    _register_unknown_directives(masked)
    doctree = publish_doctree(masked, settings_overrides=dict(_SETTINGS))
    walker = _Walker(masked)
    walker.walk(doctree)
    meta: dict[str, Any] = {}
    if header:
        meta["header"] = header
        walker.dropped["field_list"] += len(header)
    if walker.meta:
        meta["docinfo"] = walker.meta
    title, source = "", None
    if header.get("Title"):
        title, source = header["Title"], "header"
    elif walker.meta.get("title"):
        title, source = walker.meta["title"], "docinfo"
    elif doctree.children and isinstance(doctree.children[0], nodes.title):
        title, source = collapse(doctree.children[0].astext()), "document_title"
    if source:
        meta["title_source"] = source
    return ParsedText(text, title, walker.blocks, meta, walker.dropped, "rst")
