"""Reports: a terminal table, a JSON file and a Markdown file that lists every miss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.metrics import QuestionResult


def print_tables(
    console: Console,
    results: list[QuestionResult],
    summary: dict[str, float],
    *,
    per_question: bool = True,
    title: str = "",
) -> None:
    if per_question:
        table = Table(
            "id", "ok", "said", "reason", "rr", "ms", "answer", title=f"{title} per question"
        )
        for r in results:
            table.add_row(
                r.id,
                "[green]✓[/green]" if r.ok else "[red]✗[/red]",
                "answer" if r.said_answerable else "abstain",
                r.reason,
                "" if r.reciprocal_rank is None else f"{r.reciprocal_rank:.2f}",
                f"{r.latency_ms:.0f}",
                r.answer[:70],
            )
        console.print(table)
    if per_question:
        overall = Table("metric", "value", title=f"{title} overall")
        for k, v in summary.items():
            overall.add_row(k, f"{v:.4g}")
        console.print(overall)


SET_COLUMNS = (
    "questions",
    "answer_accuracy",
    "abstention_accuracy",
    "citation_accuracy",
    "truthfulness",
    "context_recall_at_k",
    "mrr",
    "latency_p50_ms",
)


def print_sets(console: Console, summaries: dict[str, dict[str, float]]) -> None:
    """One row per labelled set: each is reported on its own, never pooled."""
    table = Table("set", *SET_COLUMNS, title="per set")
    for name, summary in summaries.items():
        table.add_row(name, *(f"{summary.get(c, 0):.4g}" for c in SET_COLUMNS))
    console.print(table)


Outcome = dict[str, tuple[list[QuestionResult], dict[str, float]]]


def write_json(path: Path, meta: dict[str, Any], outcome: Outcome) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        **meta,
        "sets": {
            name: {"summary": summary, "results": [r.to_dict() for r in results]}
            for name, (results, summary) in outcome.items()
        },
    }
    path.write_text(json.dumps(body, indent=1, ensure_ascii=False) + "\n")


def write_markdown(
    path: Path, meta: dict[str, Any], outcome: Outcome, gate_lines: list[str]
) -> None:
    lines = [f"# Evaluation: {meta.get('run', '')}", ""]
    lines += [f"- {k}: `{v}`" for k, v in meta.items() if k != "run"]
    lines += ["", "## Per set", "", "| set | " + " | ".join(SET_COLUMNS) + " |"]
    lines += ["|---" * (len(SET_COLUMNS) + 1) + "|"]
    for name, (_, summary) in outcome.items():
        cells = " | ".join(f"{summary.get(c, 0):.4g}" for c in SET_COLUMNS)
        lines.append(f"| {name} | {cells} |")
    if gate_lines:
        lines += ["", "## Gate", "", *[f"- {g}" for g in gate_lines]]
    for name, (results, _) in outcome.items():
        misses = [r for r in results if not r.ok]
        lines += ["", f"## Misses in {name} ({len(misses)})", ""]
        if not misses:
            lines.append("None.")
        for r in misses:
            lines += [
                f"### {r.id}: {r.question}",
                "",
                f"- expected: {r.expected}",
                f"- got ({'answer' if r.said_answerable else 'abstain'}, {r.reason}): {r.answer}",
                f"- cited: {', '.join(r.cited) or '(nothing)'}",
                f"- evidence in top k: {r.recall_at_k}; reciprocal rank: {r.reciprocal_rank}",
                "",
            ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
