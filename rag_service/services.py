"""Builds and owns the long-lived parts (database, model, pipeline) for the API, CLIs and evals."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg

from rag_service.analysis import load_profile
from rag_service.core.config import Settings
from rag_service.core.database import Database
from rag_service.core.documents import index_counts, source_key
from rag_service.core.errors import RagError
from rag_service.core.ports import Ingestor, IngestOutcome, load_ingestor
from rag_service.generation.grounding import CitationVerifier
from rag_service.generation.registry import build_generators
from rag_service.pipeline import RagPipeline
from rag_service.ranking.selector import CalibratedGate, load_models
from rag_service.retrieval.embedder import Embedder, build_embedder
from rag_service.retrieval.rerank import Reranker, build_reranker
from rag_service.retrieval.search import HybridRetriever
from rag_service.tracing import Tracer, build_tracer

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    embedder: Embedder
    ingestor: Ingestor
    pipeline: RagPipeline | None = None

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.tracer.shutdown()
        self.db.close()


def build_pipeline(
    settings: Settings,
    db: Database,
    embedder: Embedder,
    *,
    reranker: Reranker | None = None,
    retriever: HybridRetriever | None = None,
    tracer: Tracer | None = None,
) -> RagPipeline:
    selector, gate = load_models(settings.ranking_weights)
    if settings.abstain_threshold is not None:
        gate = CalibratedGate(gate.model, settings.abstain_threshold)
    if reranker is None and settings.reranker != "learned":
        reranker = build_reranker(settings.reranker, settings.cross_encoder_model)
    return RagPipeline(
        retriever or HybridRetriever(db, embedder, candidates=settings.candidates),
        selector,
        gate,
        CitationVerifier(db),
        build_generators(settings),
        default_provider=settings.provider,
        top_k=settings.top_k,
        max_question_chars=settings.max_question_chars,
        tracer=tracer,
        profile=load_profile(settings.profile),
        reranker=reranker,
    )


def bundled_files(folder: Path) -> dict[str, Path]:
    """The bundled corpus by document key (`source_key`: the folder's name and the path
    relative to it, as `rag-ingest` keys a folder's files); hidden files are not documents."""
    folder = folder.resolve()
    return {
        source_key(folder, f): f
        for f in sorted(folder.rglob("*"))
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    }


def adopt_legacy_keys(conn: psycopg.Connection, files: dict[str, Path]) -> int:
    """Rename bundled documents indexed under their old key (the path relative to the folder,
    before keys carried the folder's name) to their key now, in place: content, chunks and
    vectors stay, so an existing index is neither re-embedded nor left with a second copy.
    Uploads never hold a bundled file's name (reserved), so the old key is the bundled file."""
    renamed = 0
    for key in files:
        old = key.partition("/")[2]
        renamed += conn.execute(
            "UPDATE documents SET source = %s WHERE source = %s"
            " AND NOT EXISTS (SELECT 1 FROM documents WHERE source = %s)",
            (key, old, key),
        ).rowcount
    return renamed


def sync_bundled_corpus(settings: Settings, db: Database, ingestor: Ingestor) -> None:
    """Into an empty index, the whole bundled corpus; otherwise only its files already in the
    index (so a deleted document stays deleted), which re-indexes those changed on disk or
    indexed by an older version of the pipeline. Unchanged files cost a hash each.

    Indexed names are only looked up among the files found in the folder, never turned into
    paths: whatever an upload was called, start-up does not depend on it."""
    folder = settings.corpus_dir
    files = bundled_files(folder)
    with db.connection() as conn:
        if renamed := adopt_legacy_keys(conn, files):
            log.info("bundled corpus: %d document(s) renamed to folder-qualified keys", renamed)
        docs, _ = index_counts(conn)
        indexed = {r[0] for r in conn.execute("SELECT source FROM documents")}
    keep = sorted(indexed & files.keys())
    if docs == 0 or (keep and len(keep) == len(files)):
        outcomes = ingestor.ingest_paths([folder])  # batched; the folder keys its files
    else:
        outcomes = [_ingest_file(ingestor, key, files[key]) for key in keep]
    if outcomes:
        log.info("bundled corpus: %s", ", ".join(f"{o.source}={o.status}" for o in outcomes))


def _ingest_file(ingestor: Ingestor, key: str, path: Path) -> IngestOutcome:
    """One bundled file under its folder key; a bad file is reported, not raised."""
    try:
        return ingestor.ingest_bytes(key, path.read_bytes())
    except (RagError, OSError) as exc:
        reason = exc.message if isinstance(exc, RagError) else str(exc)
        return IngestOutcome(key, "failed", reason=reason)


def lexicon_is_stale(conn: psycopg.Connection) -> bool:
    """The term statistics disagree with the chunks. Each chunk's distinct lexemes are counted
    once in the document frequencies, so the two sums are equal when the lexicon is current.
    Triggers keep it current in every write's own transaction (migration 0004); this check at
    start-up catches statistics edited by hand or restored apart from their chunks."""
    row = conn.execute(
        "SELECT (SELECT coalesce(sum(ndoc), 0) FROM lexicon),"
        " (SELECT coalesce(sum(length(tsv)), 0) FROM chunks),"
        " (SELECT n_chunks FROM corpus_stats), (SELECT count(*) FROM chunks)"
    ).fetchone()
    return row is not None and (int(row[0]) != int(row[1]) or row[2] != row[3])


def repair_lexicon(db: Database) -> bool:
    """Rebuild the statistics when they are stale (see `lexicon_is_stale`); True when they were."""
    with db.connection() as conn:
        stale = lexicon_is_stale(conn)
        conn.commit()
        if stale:
            log.warning("lexicon: stale (disagrees with the chunks); rebuilding")
            conn.execute("SELECT rebuild_lexicon()")
            conn.commit()
    return stale


def open_services(
    settings: Settings,
    *,
    load_pipeline: bool = True,
    ingest_bundled: bool = False,
    embedded_delete_on_stop: bool = False,
    attach: bool = True,
    embedder: Embedder | None = None,
) -> Services:
    """Load the embedder, open (and migrate) the database, repair derived data, and optionally
    ingest the bundled corpus. Closes what it opened if anything fails.

    `attach`: with the embedded server, a data directory owned by a running service is used
    as a guest (tools, evals); the service itself passes False, so a second service on the same
    directory is refused instead. `embedder`: one already loaded (tests share one model among
    many databases), else built from the settings."""
    embedder = embedder or build_embedder(settings)
    db = Database(settings, embedded_delete_on_stop=embedded_delete_on_stop, attach=attach)
    db.open(embedding_model=embedder.name, embedding_dim=embedder.dim)
    try:
        ingestor = load_ingestor(settings, db, embedder)
        if ingest_bundled and settings.corpus_dir.is_dir():
            try:
                sync_bundled_corpus(settings, db, ingestor)
            except Exception:  # the service starts on the index it has
                log.exception("bundled corpus: refresh failed; serving the existing index")
        repair_lexicon(db)
        services = Services(settings, db, embedder, ingestor)
        if load_pipeline:
            services.pipeline = build_pipeline(
                settings, db, embedder, tracer=build_tracer(settings)
            )
        return services
    except Exception:
        db.close()
        raise
