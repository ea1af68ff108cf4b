"""Ingestion fidelity per corpus: what the parsers made of the eval corpora and the bundled one.

    .venv/bin/python bench/ingest_fidelity.py [--per-document] [DIR ...]

Defaults to every folder under evals/corpora/ plus corpus/. Prints, per set, answer units by
kind, whole sentences vs fragments, the fragment share among answer units, and what was left out
(furniture, navigation, table-of-contents lines, residue). No database or model is loaded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ingestion.fidelity import HEADER, Fidelity, measure_paths, table_rows  # noqa: E402


def main(argv: list[str]) -> int:
    per_doc = "--per-document" in argv
    dirs = [Path(a) for a in argv if not a.startswith("--")]
    if not dirs:
        dirs = [
            *sorted(p for p in (ROOT / "evals" / "corpora").iterdir() if p.is_dir()),
            ROOT / "rag_service" / "corpus",
        ]
    sets, docs = [], []
    t0 = time.perf_counter()
    for d in dirs:
        results = [
            r
            for r in measure_paths([d])
            if not r.source.endswith(".md")
            or not r.source.upper().startswith(("PROVENANCE", "README"))
        ]
        total = Fidelity(d.name, format=",".join(sorted({r.format for r in results if r.format})))
        for r in results:
            total.add(r)
        sets.append(total)
        docs.extend(results)
    elapsed = time.perf_counter() - t0
    console = Console(width=220)
    if per_doc:
        table = Table(*HEADER, title="per document")
        for row in table_rows(docs):
            table.add_row(*row)
        console.print(table)
    table = Table(*HEADER, title="per set")
    for row in table_rows(sets):
        table.add_row(*row)
    console.print(table)
    console.print(f"{len(docs)} documents parsed in {elapsed:.1f} s")
    return 1 if any(r.error for r in docs) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
