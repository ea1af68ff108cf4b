"""`rag-ingest`: add, replace, delete and list documents in the index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ingestion.writer import files_under
from rag_service.core.config import get_settings
from rag_service.core.documents import list_documents
from rag_service.core.errors import RagError
from rag_service.core.logging import configure_logging
from rag_service.core.ports import Ingestor
from rag_service.services import open_services

app = typer.Typer(add_completion=False, help=__doc__)
console = Console(stderr=True)

TABLE_ROWS = 200
STATUS_STYLE = {"added": "green", "replaced": "yellow", "unchanged": "dim", "failed": "red"}


@app.command()
def main(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or directories (.txt, .md, .html, .pdf) to ingest."),
    ] = None,
    delete: Annotated[
        list[str] | None,
        typer.Option("--delete", help="Remove a document (by source name) and its chunks."),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the indexed documents.")] = False,
    bundled: Annotated[
        bool,
        typer.Option(
            "--bundled",
            help="Also ingest the bundled corpus (RAG_CORPUS_DIR; by default the one shipped"
            " inside the package), wherever the package is installed.",
        ),
    ] = False,
    report: Annotated[
        bool,
        typer.Option(
            "--report",
            help="Parse PATHS without indexing them and print the ingestion fidelity per"
            " document: units by kind, whole sentences vs fragments, furniture, navigation,"
            " table-of-contents lines and residue left out. Needs no database.",
        ),
    ] = False,
) -> None:
    """Ingest documents idempotently: unchanged files are skipped, changed ones replaced.

    Exit status: 0 when every file was ingested (or unchanged), 1 when any failed, 2 on usage
    errors or when the database cannot be reached.
    """
    configure_logging(get_settings().log_level, quiet=True)
    if bundled:
        paths = [*(paths or []), get_settings().corpus_dir]
    if not paths and not delete and not list_:
        raise typer.BadParameter("give PATHS to ingest, --bundled, --delete SOURCE or --list")
    missing = [p for p in paths or [] if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or directory: {', '.join(map(str, missing))}")
    if report:
        if not paths:
            raise typer.BadParameter("--report needs PATHS")
        raise typer.Exit(_report(paths))
    try:
        services = open_services(get_settings(), load_pipeline=False)
    except RagError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    failed = False
    try:
        for source in delete or []:
            if services.ingestor.delete(source):
                console.print(f"deleted {source}")
            else:
                console.print(f"[red]not found:[/red] {source}")
                failed = True
        if paths:
            failed |= _ingest(services.ingestor, paths)
        if list_:
            with services.db.connection() as conn:
                docs = list_documents(conn)
            table = Table("id", "source", "title", "chunks", "bytes", "updated")
            for d in docs:
                table.add_row(
                    str(d.id),
                    d.source,
                    d.title,
                    str(d.chunks),
                    f"{d.bytes:,}",
                    d.updated_at.strftime("%Y-%m-%d %H:%M"),
                )
            Console().print(table)
    finally:
        services.close()
    raise typer.Exit(1 if failed else 0)


def _report(paths: list[Path]) -> int:
    from ingestion.fidelity import HEADER, Fidelity, measure_paths, table_rows

    results = measure_paths(paths, max_chars=get_settings().chunk_max_chars)
    total = Fidelity("total")
    for r in results:
        total.add(r)
    table = Table(*HEADER, title="ingestion fidelity")
    for row in table_rows([*results, total]):
        table.add_row(*row)
    Console(width=200).print(table)
    return 1 if any(r.error for r in results) else 0


def _ingest(ingestor: Ingestor, paths: list[Path]) -> bool:
    total = len(files_under(paths))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("ingesting", total=total)
        outcomes = ingestor.ingest_paths(paths, progress=lambda o: progress.advance(task))
    # a row per file up to TABLE_ROWS files; beyond, only the failed ones (and the counts)
    shown = [o for o in outcomes if len(outcomes) <= TABLE_ROWS or o.status == "failed"]
    if shown:
        table = Table("source", "status", "chunks", "reason", title="ingest summary")
        for o in shown:
            style = STATUS_STYLE[o.status]
            table.add_row(
                o.source, f"[{style}]{o.status}[/{style}]", str(o.chunks or ""), o.reason or ""
            )
        Console().print(table)
    counts = {s: sum(o.status == s for o in outcomes) for s in STATUS_STYLE}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    embedded = getattr(ingestor, "embedded_texts", None)  # a plug-in ingestor may not count
    if isinstance(embedded, int):
        summary += f"; {embedded} texts embedded"
    console.print(summary)
    return counts["failed"] > 0
