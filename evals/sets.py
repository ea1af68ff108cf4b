"""Labelled sets and the corpora they ask about: each set is scored on an index of its own
corpus only, as a user's own documents would be."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from evals.dataset import DATASETS, Row, load_dataset
from rag_service.core.config import BUNDLED_CORPUS, Settings

CORPORA = Path(__file__).resolve().parent / "corpora"
BUNDLED = "bundled"


@dataclass(frozen=True)
class EvalSet:
    name: str
    corpus: Path
    datasets: tuple[Path, ...]

    def rows(self) -> list[Row]:
        return [r for p in self.datasets for r in load_dataset(p)]


def discover(names: list[str] | None = None, root: Path | None = None) -> list[EvalSet]:
    """The bundled corpus (dev + extra) and every `datasets/<name>.jsonl` whose corpus
    `corpora/<name>/` exists; with `root`, the sets laid out the same way under it (a user's
    own labelled documents) instead."""
    if root is None:
        datasets, corpora = DATASETS, CORPORA
        sets = [
            EvalSet(
                BUNDLED,
                BUNDLED_CORPUS,
                (DATASETS / "dev.jsonl", DATASETS / "extra.jsonl"),
            )
        ]
    else:
        datasets, corpora, sets = root / "datasets", root / "corpora", []
    for path in sorted(datasets.glob("*.jsonl")):
        corpus = corpora / path.stem
        if corpus.is_dir():
            sets.append(EvalSet(path.stem, corpus, (path,)))
    if names:
        known = {s.name for s in sets}
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValueError(f"unknown set(s) {', '.join(unknown)}; known: {', '.join(known)}")
        sets = [s for s in sets if s.name in names]
    return sets


def settings_for(es: EvalSet, settings: Settings) -> Settings:
    """Settings whose index holds this set's corpus only: an embedded server of its own under
    `RAG_DATA_DIR/eval/<set>`, or a database of its own (`<db>_eval_<set>`, created when
    missing) on the server DATABASE_URL points at."""
    update: dict[str, object] = {"corpus_dir": es.corpus}
    if settings.database_url:
        info = psycopg.conninfo.conninfo_to_dict(settings.database_url)
        name = f"{info.get('dbname') or 'postgres'}_eval_{es.name}".replace("-", "_")
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        update["database_url"] = psycopg.conninfo.make_conninfo(settings.database_url, dbname=name)
    else:
        update["data_dir"] = settings.data_dir / "eval" / es.name
    return settings.model_copy(update=update)
