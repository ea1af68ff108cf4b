"""Format parsers: a file's bytes to `ParsedText` (text, title, meta, blocks with exact offsets).

One module per format — `markdown`, `rst`, `html`, `pdf`, `text` — each exposing one function;
`types` holds what they share. `ingestion.loaders.load_document` picks the parser by suffix.
"""

from ingestion.parsers.types import Block, Mapped, ParsedText

__all__ = ["Block", "Mapped", "ParsedText"]
