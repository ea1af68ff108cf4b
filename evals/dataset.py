"""Labelled question sets (JSONL), in the schema of the shared dev set."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DATASETS = Path(__file__).resolve().parent / "datasets"
DEFAULT_DATASETS = (DATASETS / "dev.jsonl", DATASETS / "extra.jsonl")


@dataclass(frozen=True)
class Row:
    id: str
    question: str
    answerable: bool
    reference: str
    expect: list[list[str]]  # every group must match; one alternative per group suffices
    sources: list[str]
    evidence: list[str]  # verbatim quotes that support the answer
    type: str = ""


def cites_source(cited: Iterable[str], sources: Iterable[str]) -> bool:
    """Whether any cited document key names a labelled source. Datasets name a file relative
    to its corpus folder (`report.txt`, as a user writes them); the index keys it with the
    folder's name in front (`corpus/report.txt`); either form matches."""
    wanted = set(sources)
    return any(key in wanted or key.partition("/")[2] in wanted for key in cited)


def load_dataset(path: Path) -> list[Row]:
    """Parse and validate; a bad row fails with its file and line, not deep inside a run."""
    rows: list[Row] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            row = Row(
                id=str(raw["id"]),
                question=str(raw["question"]),
                answerable=bool(raw["answerable"]),
                reference=str(raw.get("reference", "")),
                expect=[list(map(str, g)) for g in raw.get("expect", [])],
                sources=list(map(str, raw.get("sources", []))),
                evidence=list(map(str, raw.get("evidence", []))),
                type=str(raw.get("type", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: not a valid labelled row ({exc})") from exc
        if row.answerable and not row.expect:
            raise ValueError(f"{path}:{n}: answerable row {row.id} has no `expect` groups")
        rows.append(row)
    ids = [r.id for r in rows]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate ids")
    return rows
