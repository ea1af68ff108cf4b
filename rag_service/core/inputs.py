"""What text may enter the service: checks shared by the API edge and the ingestion path.

PostgreSQL cannot store NUL in `text` or `\\u0000` in `jsonb`, and UTF-8 cannot encode a lone
surrogate (which JSON's `\\ud800` escapes produce): such input fails deep inside a query as a
500 unless it is refused where it arrives. File names become document keys, index rows and, for
the bundled corpus, paths: they are bounded and plain.
"""

from __future__ import annotations

import re

from rag_service.core.errors import InvalidInput

# C0 controls except tab, line feed and carriage return; DEL; C1 controls; lone surrogates.
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# In names also tab and line breaks, and the Unicode line/paragraph separators.
_BAD_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
_DOCUMENT_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits only: fits a bigint

MAX_NAME_BYTES = 255  # a file name on most file systems (NAME_MAX)
MAX_KEY_CHARS = 255

# The same rules as JSON Schema patterns (ECMA-262), for the OpenAPI document: text with no
# control character and, for a question, at least one character that is not white space (as
# Python's str.strip() sees it).
_CONTROLS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"
_SPACES = r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = f"^[^{_CONTROLS}]*[^{_SPACES}][^{_CONTROLS}]*$"
KEY_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]+$"
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
UUID_RE = re.compile(UUID_PATTERN)


def check_text(value: str, what: str) -> str:
    """`value` unchanged, or InvalidInput naming the first character PostgreSQL/UTF-8 refuse."""
    if m := _BAD_TEXT.search(value):
        raise InvalidInput(
            f"{what} contains a control character (U+{ord(m.group()):04X}) at position {m.start()}"
        )
    return value


def source_name_problem(name: str) -> str | None:
    """Why `name` cannot be a document's source name (None when it can)."""
    if not name or not name.strip():
        return "the name is empty"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"the name is longer than {MAX_NAME_BYTES} bytes"
    if m := _BAD_NAME.search(name):
        return f"the name contains a control character (U+{ord(m.group()):04X})"
    if name != name.strip():
        return "the name starts or ends with white space"
    if "/" in name or "\\" in name:
        return "the name contains a path separator"
    if name.startswith("."):
        return "the name starts with a dot"
    return None


def check_source_name(name: str) -> str:
    if problem := source_name_problem(name):
        raise InvalidInput(f"invalid file name: {problem}; use a plain name such as report.md")
    return name


def document_id(key: str) -> int | None:
    """The numeric id a document key names (ASCII digits only, so `١` is not 1), else None."""
    return int(key) if _DOCUMENT_ID.fullmatch(key) else None


def check_document_key(key: str) -> str:
    """A key is an id (ASCII digits) or a source name of at most MAX_NAME_BYTES, printable.
    Corpus sources may hold a folder (`sub/a.md`), so separators are allowed here."""
    if document_id(key) is not None:
        return key
    if len(key) > MAX_KEY_CHARS:
        raise InvalidInput(f"document key is longer than {MAX_KEY_CHARS} characters")
    if m := _BAD_NAME.search(key):
        raise InvalidInput(f"document key contains a control character (U+{ord(m.group()):04X})")
    return key
