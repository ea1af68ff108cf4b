"""`rag-eval`: score the pipeline on labelled questions and gate regressions against a baseline."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from evals import gate as gating
from evals.dataset import DEFAULT_DATASETS, load_dataset
from evals.metrics import summarize
from evals.ragas_metrics import JudgeConfig, RagasScorer
from evals.report import print_tables, write_json, write_markdown
from evals.runner import evaluate
from rag_service.core.config import get_settings
from rag_service.core.errors import RagError
from rag_service.core.logging import configure_logging
from rag_service.services import open_services

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console()


@app.callback()
def _root() -> None:
    """Evaluation suite of the RAG service."""


@app.command()
def run(
    dataset: Annotated[
        list[Path] | None, typer.Option("--dataset", "-d", help="JSONL set(s); default: dev+extra")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="Generator to evaluate.")] = None,
    top_k: Annotated[int | None, typer.Option(help="Passages per question.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for report.json / report.md.")] = Path(
        "reports"
    ),
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 if a metric regressed.")] = False,
    update_baseline: Annotated[
        bool, typer.Option("--update-baseline", help="Rewrite the baseline from this run.")
    ] = False,
    baseline: Annotated[Path, typer.Option(help="Baseline file.")] = gating.BASELINE,
    judge_base_url: Annotated[
        str | None, typer.Option(envvar="RAG_JUDGE_BASE_URL", help="OpenAI-compatible judge.")
    ] = None,
    judge_model: Annotated[str, typer.Option(envvar="RAG_JUDGE_MODEL")] = "gpt-4o-mini",
    judge_api_key: Annotated[str, typer.Option(envvar="RAG_JUDGE_API_KEY")] = "unused",
    run_name: Annotated[str | None, typer.Option(help="Tags the run's traces.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="Only the overall table.")] = False,
) -> None:
    """Run every question through the pipeline in-process; print, write reports, gate."""
    configure_logging(get_settings().log_level, quiet=True)
    paths = dataset or list(DEFAULT_DATASETS)
    rows = [row for p in paths for row in load_dataset(p)]
    name = run_name or datetime.now(UTC).strftime("eval-%Y%m%dT%H%M%SZ")
    judge = JudgeConfig(judge_base_url, judge_model, judge_api_key) if judge_base_url else None
    try:
        services = open_services(get_settings(), ingest_bundled=True)
    except RagError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    try:
        pipeline = services.pipeline
        assert pipeline is not None
        scorer = RagasScorer(judge)
        columns = (TextColumn("evaluating"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("eval", total=len(rows))
            results = evaluate(
                pipeline,
                rows,
                provider=provider,
                top_k=top_k,
                scorer=scorer,
                tags={"run": name},
                progress=lambda _: bar.advance(task),
            )
        pipeline.tracer.flush()
    finally:
        services.close()
    summary = summarize(results)
    meta = {
        "run": name,
        "datasets": [p.name for p in paths],
        "provider": provider or get_settings().provider,
        "judge": bool(judge),
    }
    print_tables(console, results, summary, per_question=not quiet)
    gate_lines: list[str] = []
    failed = False
    if gate and not update_baseline:
        verdict = gating.compare(gating.load_baseline(baseline), summary, results)
        gate_lines = verdict.lines()
        failed = not verdict.passed
        for line in gate_lines:
            console.print(("[red]" if failed else "[green]") + line)
    write_json(out / "report.json", meta, summary, results)
    write_markdown(out / "report.md", meta, summary, results, gate_lines)
    console.print(f"reports: {out / 'report.json'}, {out / 'report.md'}")
    if update_baseline:
        body = gating.make_baseline(summary, results, [p.name for p in paths])
        baseline.write_text(json.dumps(body, indent=1) + "\n")
        console.print(f"baseline updated: {baseline}")
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    app()


if __name__ == "__main__":
    main()
