"""Ingestion fidelity on the eval corpora, tracked in CI: the share of answer units that are
fragments stays under each corpus' ceiling (measured + a margin; bench/ingest_fidelity.py
prints the figures), and no page furniture or table-of-contents line becomes a unit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingestion.chunker import chunk_document
from ingestion.fidelity import measure_paths
from ingestion.loaders import load_document

ROOT = Path(__file__).resolve().parents[2]
# issue 17: at least 95% of answer units are whole sentences, items or table rows
CEILINGS = {"html": 0.05, "markdown": 0.05, "pdf": 0.05, "rfc": 0.05, "rst": 0.05}
# Corpora added after parsing was tuned, measured on first sight (manuals 0.237, reports 0.133,
# webdocs 0.096): above the target, tracked so they only go down.
CEILINGS |= {"manuals": 0.25, "reports": 0.145, "webdocs": 0.105}


@pytest.mark.parametrize(("corpus", "ceiling"), sorted(CEILINGS.items()))
def test_fragment_share_stays_under_its_ceiling(corpus: str, ceiling: float) -> None:
    results = measure_paths([ROOT / "evals" / "corpora" / corpus])
    assert results and not any(r.error for r in results)
    units = sum(r.answer_units for r in results)
    fragments = sum(r.fragments for r in results)
    assert units > 100
    assert fragments / units <= ceiling, f"{corpus}: {fragments}/{units} fragments"


FURNITURE = re.compile(
    r"\[Page \d+\]|\.{5,}\s*\d+$|^RFC \d+ .* (19|20)\d\d$|All rights reserved|^\d+ of \d+$"
)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "evals" / "corpora").glob("*/*.txt"))
    + sorted((ROOT / "evals" / "corpora").glob("*/*.pdf")),
    ids=lambda p: p.name,
)
def test_no_furniture_or_toc_line_is_a_unit(path: Path) -> None:
    doc = load_document(path.name, path.read_bytes(), max_bytes=50_000_000)
    shown = [u.display for c in chunk_document(doc, doc.title) for u in c.units]
    assert shown
    assert not [d for d in shown if FURNITURE.search(d)]
