"""`rag-eval`: score the pipeline on labelled questions and gate regressions against a baseline."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from evals import gate as gating
from evals.ci import junit_xml, summary_markdown, write_summary
from evals.dataset import load_dataset
from evals.langfuse_runs import langfuse_configured, record_dataset_runs
from evals.llm_standin import StandinLLM, wrong_figures_shipped
from evals.metrics import QuestionResult, summarize
from evals.ragas_metrics import JudgeConfig, RagasScorer
from evals.report import print_sets, print_tables, write_json, write_markdown
from evals.runner import evaluate
from evals.sets import BUNDLED, discover, settings_for
from rag_service.core.config import get_settings
from rag_service.core.errors import RagError
from rag_service.core.logging import configure_logging
from rag_service.ranking.models import WEIGHTS, FittedModels
from rag_service.services import open_services

if TYPE_CHECKING:
    from evals.dialogues import TurnResult  # imported lazily at run time

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console()


@app.callback()
def _root() -> None:
    """Evaluation suite of the RAG service."""


@app.command()
def run(
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Labelled set(s), each on its own corpus; default all."),
    ] = None,
    dataset: Annotated[
        list[Path] | None,
        typer.Option("--dataset", "-d", help="Ad-hoc JSONL set(s) asked of the service's index."),
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
    quiet: Annotated[bool, typer.Option("--quiet", help="Only the overall tables.")] = False,
    root: Annotated[
        Path | None,
        typer.Option(help="Your own sets: ROOT/datasets/<name>.jsonl + ROOT/corpora/<name>/."),
    ] = None,
    standin: Annotated[
        str | None,
        typer.Option(
            help="Answer with the scripted stand-in LLM on loopback (correct | wrong-figures): "
            "the LLM path, offline. --provider picks its wire format (default openai)."
        ),
    ] = None,
    with_dialogues: Annotated[
        bool,
        typer.Option(
            "--dialogues/--no-dialogues",
            help="With the bundled set, also score the multi-turn dialogues turn by turn "
            "(gated against the baseline's `dialogues` entry).",
        ),
    ] = True,
    junit: Annotated[
        Path | None,
        typer.Option(
            help="Also write JUnit XML here: a test case per question and per gated metric"
            " (with --gate a question fails only when it flipped from right to wrong)."
        ),
    ] = None,
    summary_path: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="Also write a short Markdown summary here; it is appended to"
            " $GITHUB_STEP_SUMMARY whenever that is set.",
        ),
    ] = None,
) -> None:
    """Run every question through the pipeline in-process; print, write reports, gate.

    Each labelled set (`evals/datasets/<name>.jsonl`) is asked of an index holding only its
    own corpus (`evals/corpora/<name>/`; `bundled` is dev + extra on corpus/), as a user's
    own documents would be. `--dataset` instead asks ad-hoc sets of the service's own index.
    With the bundled set, the dialogues (`evals/datasets/dialogues.jsonl`, about the bundled
    corpus) are asked too, each turn in its conversation and in its stand-alone form alone.
    When Langfuse is configured, each set's results are also recorded as a run on a Langfuse
    dataset (`rag-eval/<set>`) with every question's scores and the set's metrics.

    Exit status: 0 passed, 1 a gated metric regressed, 2 usage or database errors.
    """
    configure_logging(get_settings().log_level, quiet=True)
    settings = get_settings()
    if dataset:
        plan = [(p.stem, settings, load_dataset(p)) for p in dataset]
    else:
        try:
            plan = [(es.name, settings_for(es, settings), es.rows()) for es in discover(sets, root)]
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    llm = None
    if standin:
        llm = StandinLLM([r for _, _, rows in plan for r in rows], standin).__enter__()
        provider = provider or "openai"
        plan = [(n, llm.configure(cfg, provider), rows) for n, cfg, rows in plan]
    name = run_name or datetime.now(UTC).strftime("eval-%Y%m%dT%H%M%SZ")
    judge = JudgeConfig(judge_base_url, judge_model, judge_api_key) if judge_base_url else None
    scorer = RagasScorer(judge)
    outcome: dict[str, tuple[list[QuestionResult], dict[str, float]]] = {}
    # the dialogues were written for the bundled corpus, and are gated on the offline path
    dialogue_run = with_dialogues and not dataset and root is None and llm is None
    dialogues: tuple[list[TurnResult], dict[str, float]] | None = None
    for set_name, cfg, rows in plan:
        try:
            services = open_services(cfg, ingest_bundled=True)
        except RagError as exc:
            console.print(f"[red]error:[/red] {set_name}: {exc.message}")
            raise typer.Exit(2) from exc
        try:
            pipeline = services.pipeline
            assert pipeline is not None
            columns = (TextColumn(f"evaluating {set_name}"), BarColumn(), MofNCompleteColumn())
            with Progress(*columns, console=console, transient=True) as bar:
                task = bar.add_task("eval", total=len(rows))

                def advance(_: QuestionResult, t: TaskID = task) -> None:
                    bar.advance(t)

                results = evaluate(
                    pipeline,
                    rows,
                    provider=provider,
                    top_k=top_k,
                    scorer=scorer,
                    tags={"run": name, "set": set_name},
                    progress=advance,
                )
                if dialogue_run and set_name == BUNDLED:
                    dialogues = _dialogues(pipeline, bar, provider)
            pipeline.tracer.flush()
        finally:
            services.close()
        outcome[set_name] = (results, summarize(results))
    meta = {
        "run": name,
        "sets": list(outcome),
        "provider": provider or settings.provider,
        "profile": settings.profile,
        "judge": bool(judge),
    }
    for set_name, (results, summary) in outcome.items():
        print_tables(console, results, summary, per_question=not quiet, title=set_name)
    print_sets(console, {k: v[1] for k, v in outcome.items()})
    if dialogues is not None:
        _print_turns(dialogues[0])
        meta["dialogues"] = dialogues[1]
    gate_lines: list[str] = []
    failed = False
    verdicts: dict[str, gating.GateResult] | None = None
    if gate and not update_baseline:
        known = gating.load_baseline(baseline)
        verdicts = {}
        for set_name, (results, set_summary) in outcome.items():
            verdict = gating.compare_set(known, set_name, set_summary, results)
            verdicts[set_name] = verdict
            failed |= not verdict.passed
            gate_lines += [f"{set_name}: {line}" for line in verdict.lines()]
        if dialogues is not None:
            verdict = gating.compare_dialogues(known, dialogues[1], dialogues[0])
            verdicts[gating.DIALOGUES] = verdict
            failed |= not verdict.passed
            gate_lines += [f"{gating.DIALOGUES}: {line}" for line in verdict.lines()]
        for line in gate_lines:
            console.print(("[red]" if failed else "[green]") + line)
    if llm is not None:
        llm.__exit__()
        shipped = wrong_figures_shipped(llm, [r for res, _ in outcome.values() for r in res])
        console.print(
            f"stand-in ({standin}): {len(llm.injected)} wrong figures injected, "
            f"{len(shipped)} in verified answers {shipped or ''}"
        )
        failed |= bool(shipped)
    write_json(out / "report.json", meta, outcome)
    write_markdown(out / "report.md", meta, outcome, gate_lines)
    console.print(f"reports: {out / 'report.json'}, {out / 'report.md'}")
    ci_outcome: dict[str, tuple[Sequence[Any], dict[str, float]]] = dict(outcome)
    if dialogues is not None:
        ci_outcome[gating.DIALOGUES] = dialogues
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(junit_xml(name, ci_outcome, verdicts), encoding="utf-8")
        console.print(f"JUnit XML: {junit}")
    if summary_path is not None or os.environ.get("GITHUB_STEP_SUMMARY"):
        for where in write_summary(summary_markdown(name, ci_outcome, verdicts), summary_path):
            console.print(f"summary: {where}")
    if langfuse_configured(settings):
        rows_by_set = {n: rows for n, _, rows in plan}
        try:
            record_dataset_runs(
                settings,
                name,
                {n: (rows_by_set[n], res, summ) for n, (res, summ) in outcome.items()},
            )
            console.print(f"langfuse: recorded as dataset runs {name!r} ({', '.join(outcome)})")
        except Exception as exc:  # the scores are in the reports; Langfuse is a view of them
            console.print(f"[yellow]langfuse:[/yellow] dataset runs not recorded: {exc}")
    if update_baseline:
        body = gating.make_baseline(outcome, dialogues)
        if baseline.exists():  # the sets not run this time keep their entries
            body = gating.merged_baseline(gating.load_baseline(baseline), body)
        baseline.write_text(json.dumps(body, indent=1) + "\n")
        console.print(f"baseline updated: {baseline} ({', '.join(body['sets'])})")
    raise typer.Exit(1 if failed else 0)


@app.command()
def calibrate(
    sets: Annotated[
        list[str] | None, typer.Option("--set", "-s", help="Labelled sets (default: all).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the fitted weights go.")] = WEIGHTS,
    report: Annotated[Path, typer.Option(help="Leave-one-corpus-out report.")] = Path(
        "reports/calibration.json"
    ),
    write: Annotated[
        bool, typer.Option("--write/--dry-run", help="Write the weights (default) or only report.")
    ] = True,
    root: Annotated[
        Path | None,
        typer.Option(help="Your own sets: ROOT/datasets/<name>.jsonl + ROOT/corpora/<name>/."),
    ] = None,
) -> None:
    """Refit the answer selector and the gate on labelled sets, leave one corpus out.

    Each set is `evals/datasets/<name>.jsonl` with its documents in `evals/corpora/<name>/`
    (plus `bundled`: dev + extra on corpus/). Prints each held-out corpus' figures, then fits
    on all sets and writes the weights the service loads (RAG_RANKING_WEIGHTS).
    """
    from evals import calibrate as cal
    from rag_service.analysis import load_profile
    from rag_service.retrieval.embedder import build_embedder

    configure_logging(get_settings().log_level, quiet=True)
    settings = get_settings()
    try:
        chosen = discover(sets, root)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    embedder = build_embedder(settings)
    profile = load_profile(settings.profile)
    samples = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        for es in chosen:
            task = bar.add_task(f"retrieving {es.name}", total=len(es.rows()))

            def advance(_: str, t: TaskID = task) -> None:
                bar.advance(t)

            samples += cal.collect(es, settings, embedder, profile, progress=advance)
    if len({s.set for s in samples}) < 2:
        console.print("[red]error:[/red] leave-one-corpus-out needs at least two sets")
        raise typer.Exit(2)
    reports = cal.leave_one_corpus_out(samples)
    table = Table(title="leave one corpus out (each set scored by models fitted without it)")
    for col in ("set", "n", "answer", "abstain", "citation", "truthful", "ECE", "threshold"):
        table.add_column(col)
    for r in reports:
        table.add_row(
            r.name,
            str(r.questions),
            f"{r.answer_accuracy:.2f}",
            f"{r.abstention_accuracy:.2f}",
            f"{r.citation_accuracy:.2f}",
            f"{r.truthfulness:+.2f}",
            f"{r.ece:.3f}",
            f"{r.threshold:.2f}",
        )
    console.print(table)
    models, info = cal.fit_models(samples)
    meta = {
        "fitted_on": {es.name: [p.name for p in es.datasets] for es in chosen},
        "profile": profile.name,
        "questions": len(samples),
        "leave_one_corpus_out": {
            r.name: {
                "answer_accuracy": r.answer_accuracy,
                "abstention_accuracy": r.abstention_accuracy,
                "citation_accuracy": r.citation_accuracy,
                "truthfulness": r.truthfulness,
                "ece": r.ece,
            }
            for r in reports
        },
        **info,
    }
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps({"meta": meta, "sets": [asdict(r) for r in reports]}, indent=1))
    console.print(f"report: {report}; threshold {models.threshold:.2f}")
    if write:
        FittedModels(models.selector, models.gate, models.threshold, meta).save(out)
        console.print(f"weights written: {out}")


@app.command()
def dialogues(
    dataset: Annotated[Path | None, typer.Option(help="Dialogue set (JSONL).")] = None,
    max_gap: Annotated[
        float,
        typer.Option(help="Exit 1 when turn accuracy in conversation trails alone by more."),
    ] = 0.03,
) -> None:
    """Ask multi-turn dialogues in conversations (follow-ups rewritten from earlier turns) on
    the service's own index, and each turn's stand-alone form alone; score turn by turn."""
    from evals.dialogues import DIALOGUES, evaluate_dialogues, load_dialogues, summarize_turns

    configure_logging(get_settings().log_level, quiet=True)
    services = open_services(get_settings(), ingest_bundled=True)
    try:
        assert services.pipeline is not None
        results = evaluate_dialogues(services.pipeline, load_dialogues(dataset or DIALOGUES))
    finally:
        services.close()
    summary = summarize_turns(results)
    _print_turns(results)
    failed = False
    for name in ("answer (answerable turns)", "abstention (unanswerable turns)"):
        if name in summary and summary[name]["alone"] - summary[name]["conversation"] > max_gap:
            console.print(f"[red]{name}: more than {max_gap:.0%} below the stand-alone questions")
            failed = True
    raise typer.Exit(1 if failed else 0)


def _dialogues(
    pipeline: Any, bar: Progress, provider: str | None
) -> tuple[list[TurnResult], dict[str, float]]:
    """The dialogue set asked of the bundled index: (turn results, `dialogue_metrics`)."""
    from evals.dialogues import dialogue_metrics, evaluate_dialogues, load_dialogues

    dialogues = load_dialogues()
    task = bar.add_task("dialogues", total=sum(len(d["turns"]) for d in dialogues))
    turns = evaluate_dialogues(
        pipeline, dialogues, progress=lambda _: bar.advance(task), provider=provider
    )
    return turns, dialogue_metrics(turns)


def _print_turns(results: list[TurnResult]) -> None:
    from evals.dialogues import summarize_turns

    table = Table(title=f"{len(results)} turns: in conversation vs the stand-alone form alone")
    for col in ("turns", "n", "in conversation", "alone"):
        table.add_column(col)
    for name, v in summarize_turns(results).items():
        table.add_row(name, str(v["n"]), f"{v['conversation']:.3f}", f"{v['alone']:.3f}")
    console.print(table)


def main() -> None:
    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
    app()


if __name__ == "__main__":
    main()
