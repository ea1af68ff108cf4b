"""Loaders: the bytes of a .txt/.md/.rst/.html/.pdf file to a parsed document.

`load_document` checks size and type, decodes, and hands the file to its format's parser
(`ingestion.parsers`). What comes back carries the text citations point into (`text`: the
original file text for Markdown, reST and plain text, CRLF normalised to LF; the extracted
visible main text for HTML and PDF), the `title`, `meta` (front matter, `title_generic`,
`title_source`, `format`) and the structural blocks the chunker cuts units from.
"""

from __future__ import annotations

import re
from pathlib import PurePath

from ingestion.bounded import PdfLimits, parse_pdf_bounded
from ingestion.parsers.types import ParsedText, is_generic_title
from rag_service.core.config import get_settings
from rag_service.core.errors import DocumentError, PayloadTooLarge, UnsupportedMediaType

TEXT_TYPES = {".txt", ".text"}
MARKDOWN_TYPES = {".md", ".markdown", ".mdx"}
RST_TYPES = {".rst", ".rest"}
HTML_TYPES = {".html", ".htm"}
PDF_TYPES = {".pdf"}
SUPPORTED = TEXT_TYPES | MARKDOWN_TYPES | RST_TYPES | HTML_TYPES | PDF_TYPES
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")

LoadedDocument = ParsedText


def title_from_name(name: str) -> str:
    stem = PurePath(name).stem
    return re.sub(r"[-_]+", " ", stem).strip() or name


def decode_text(data: bytes) -> str:
    if b"\x00" in data:  # anywhere: PostgreSQL cannot store NUL in text
        raise DocumentError("looks like binary data, not text (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not valid UTF-8 text (byte {exc.start})") from exc
    controls = sum(1 for c in text[:20000] if ord(c) < 32 and c not in "\n\r\t\f")
    if controls > 0.01 * min(len(text), 20000):
        raise DocumentError("looks like binary data, not text (control characters)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _clean(value: object) -> object:
    """Metadata strings without NUL (PostgreSQL's jsonb refuses \\u0000) or lone surrogates."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def load_document(
    name: str, data: bytes, *, max_bytes: int, max_chars: int | None = None
) -> LoadedDocument:
    """Decode and parse one file. Raises DocumentError (unreadable, or more text than
    `max_chars`, default RAG_MAX_DOCUMENT_CHARS), PayloadTooLarge or UnsupportedMediaType with
    a one-line reason a person can act on. PDFs are parsed in a bounded child process."""
    settings = get_settings()
    max_chars = max_chars or settings.max_document_chars
    suffix = PurePath(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise UnsupportedMediaType(
            f"unsupported file type {suffix or '(none)'!r};"
            f" supported: {', '.join(sorted(SUPPORTED))}"
        )
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"file is {len(data):,} bytes; the limit is {max_bytes:,}")
    if suffix in PDF_TYPES:
        doc = parse_pdf_bounded(
            data,
            PdfLimits(
                seconds=settings.max_parse_seconds,
                memory_bytes=settings.max_parse_memory_mb << 20,
                pages=settings.max_document_pages,
            ),
        )
    elif suffix in HTML_TYPES:
        from ingestion.parsers.html import parse_html

        doc = parse_html(data)
    else:
        text = decode_text(data)
        if suffix in MARKDOWN_TYPES:
            from ingestion.parsers.markdown import parse_markdown

            doc = parse_markdown(text, mdx=suffix == ".mdx")
        elif suffix in RST_TYPES:
            from ingestion.parsers.rst import parse_rst

            doc = parse_rst(text)
        else:
            from ingestion.parsers.text import parse_text

            doc = parse_text(text)
    if not doc.text.strip() or not doc.blocks:
        raise DocumentError("document is empty (no text found)")
    if len(doc.text) > max_chars:
        raise DocumentError(
            f"document has {len(doc.text):,} characters; the limit is {max_chars:,}"
        )
    if _UNSTORABLE.search(doc.text):
        raise DocumentError("document text contains NUL or invalid characters")
    doc.title = _UNSTORABLE.sub("", doc.title)
    doc.meta = _clean(doc.meta)  # type: ignore[assignment]
    source = doc.meta.get("title_source", "document")
    if not doc.title or is_generic_title(doc.title):
        doc.title, source = title_from_name(name), "filename"
    # a file name can still say what a document is about ("uk-salary-survey-2026.pdf")
    doc.meta["title_generic"] = is_generic_title(doc.title)
    doc.meta["title_source"] = source
    doc.meta["format"] = doc.format
    return doc
