"""Text normalisation shared by indexing and querying, so both sides tokenise the same way."""

from __future__ import annotations

import re

_SLASH = re.compile(r"(?<=\w)/(?=\w)")
_LETTER_DIGIT = re.compile(
    r"(?<=[A-Za-z])(?=[£$€¥₹]?\d)|(?<=\d[%kK])(?=[A-Za-z£$€¥₹])|(?<=%)(?=\d)"
)
_CAMEL_GLUE = re.compile(r"(?<=[a-z]{2})(?=[A-Z][a-z]|[A-Z]{2})")
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_WORD_HYPHEN = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])")


def searchable(text: str) -> str:
    """A form of `text` that PostgreSQL's parser and the embedder read well.

    Scraped pages glue tokens together (`vLLM/TGI`, `$600/day`, `premium28%`,
    `ServerClient`, `rate-limit`); the `english` parser keeps such strings as one opaque token, so
    nothing matches them. This splits the glue and unifies dashes. Citations never use this
    form: they quote the original text.
    """
    text = _DASHES.sub("-", text)
    text = _SLASH.sub(" / ", text)
    text = _WORD_HYPHEN.sub(" ", text)
    text = _LETTER_DIGIT.sub(" ", text)
    text = _CAMEL_GLUE.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)]?\s+(?=[\"“(£$€¥₹A-Z0-9])")
_ABBREVIATIONS = (
    "e.g.", "i.e.", "vs.", "etc.", "approx.", "Dr.", "Mr.", "Ms.", "Mrs.", "St.", "Prof.", "Fig.",
    "Figs.", "Eq.", "Eqs.", "No.", "Nos.", "Vol.", "vol.", "pp.", "cf.", "al.", "Sec.", "Ch.",
    "Inc.", "Ltd.", "Corp.", "Jr.", "Sr.", "ca.", "resp.", "incl.", "viz.", "Ref.", "Refs.",
)  # fmt: skip
_INITIAL = re.compile(r"(?:^|[\s(])(?:[A-Z]\.)+$")  # "J. Smith", "U.S. law"


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence boundaries inside text[start:end], as absolute (start, end) offsets."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _SENTENCE_END.finditer(text, start, end):
        before = text[cursor : m.start()].rstrip()
        if before.endswith(_ABBREVIATIONS) or _INITIAL.search(before):
            continue
        spans.append((cursor, m.start()))
        cursor = m.end()
    if cursor < end:
        spans.append((cursor, end))
    return [(s, e) for s, e in (_trim(text, s, e) for s, e in spans) if e > s]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
