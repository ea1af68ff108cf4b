"""Ingestion fidelity: what the parsers made of each document, in numbers.

Per document: answer units by kind, how many sentence units read as whole sentences and how many
are fragments (`ingestion.chunker.is_fragment`: starting in lower case, under three words, or
stopping without end punctuation), and what the parser left out — page furniture, navigation,
table-of-contents lines, chart residue, markup. `rag-ingest --report` prints it per file and
`bench/ingest_fidelity.py` per corpus; no database or model is needed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.chunker import chunk_document, is_fragment
from ingestion.loaders import load_document
from rag_service.core.errors import RagError

KINDS = ("heading", "sentence", "text", "item", "row")
DROPPED = ("furniture", "nav", "toc", "residue", "label")


@dataclass
class Fidelity:
    source: str
    format: str = ""
    title: str = ""
    units: Counter[str] = field(default_factory=Counter)
    whole: int = 0  # sentence/text units that read as whole sentences
    fragments: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    error: str = ""

    @property
    def answer_units(self) -> int:
        return sum(n for k, n in self.units.items() if k != "heading")

    @property
    def fragment_share(self) -> float:
        """Fragments among the answer units (headings excluded)."""
        return self.fragments / self.answer_units if self.answer_units else 0.0

    def add(self, other: Fidelity) -> None:
        self.units.update(other.units)
        self.whole += other.whole
        self.fragments += other.fragments
        self.dropped.update(other.dropped)


def measure(
    source: str, data: bytes, *, max_chars: int = 900, max_bytes: int = 50_000_000
) -> Fidelity:
    try:
        doc = load_document(source, data, max_bytes=max_bytes)
        chunks = chunk_document(doc, doc.title, max_chars)
    except RagError as exc:
        return Fidelity(source, error=exc.message)
    result = Fidelity(source, doc.format, doc.title, dropped=Counter(doc.dropped))
    for c in chunks:
        for u in c.units:
            result.units[u.kind] += 1
            if u.kind in ("sentence", "text"):
                if is_fragment(u):
                    result.fragments += 1
                else:
                    result.whole += 1
    return result


def measure_paths(paths: list[Path], *, max_chars: int = 900) -> list[Fidelity]:
    from ingestion.writer import files_under

    return [measure(name, p.read_bytes(), max_chars=max_chars) for name, p in files_under(paths)]


def table_rows(results: list[Fidelity]) -> list[list[str]]:
    rows = []
    for r in results:
        if r.error:
            rows.append([r.source, "", *[""] * (len(KINDS) + 4 + len(DROPPED)), r.error])
            continue
        rows.append(
            [
                r.source,
                r.format,
                *[str(r.units.get(k, 0)) for k in KINDS],
                str(r.whole),
                str(r.fragments),
                f"{r.fragment_share:.1%}",
                str(
                    sum(
                        r.dropped.get(k, 0)
                        for k in (
                            "markup",
                            "front_matter",
                            "mdx",
                            "tag",
                            "shortcode",
                            "admonition",
                            "field_list",
                        )
                    )
                ),
                *[str(r.dropped.get(k, 0)) for k in DROPPED],
                "",
            ]
        )
    return rows


HEADER = [
    "document",
    "format",
    *KINDS,
    "whole",
    "fragments",
    "fragment share",
    "markup",
    *DROPPED,
    "error",
]
