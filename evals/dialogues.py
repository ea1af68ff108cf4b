"""Multi-turn dialogues (`datasets/dialogues.jsonl`), scored turn by turn.

Each dialogue is asked in one conversation, as the page asks it: every follow-up is rewritten
from the turns before it. Each turn is also asked as its hand-written stand-alone question,
alone: the conversation should cost (almost) nothing against that. A row:
`{"id", "turns": [{"question", "kind", "standalone", "answerable", "expect"?, "sources"?}]}`,
`kind` one of first, ellipsis, substitution, aspect, pronoun, switch (a topic switch that must
not inherit), unanswerable (a follow-up the documents cannot answer).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.dataset import DATASETS
from evals.metrics import answer_matches
from rag_service.conversations import Conversation
from rag_service.pipeline import RagPipeline

DIALOGUES = DATASETS / "dialogues.jsonl"


@dataclass(frozen=True)
class TurnResult:
    dialogue: str
    n: int  # 1-based position in the dialogue
    kind: str
    question: str
    standalone_question: str  # as the service rewrote it
    answerable: bool
    ok: bool  # in the conversation
    ok_alone: bool  # the hand-written stand-alone question, asked alone

    @property
    def id(self) -> str:
        """The turn's name in reports and the baseline: `<dialogue>#<n>`."""
        return f"{self.dialogue}#{self.n}"


def load_dialogues(path: Path = DIALOGUES) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for r in rows:
        if not r.get("turns") or not all("question" in t and "standalone" in t for t in r["turns"]):
            raise ValueError(f"{path}: dialogue {r.get('id')} needs turns with question/standalone")
    return rows


def _ok(turn: dict[str, Any], answer: str, answerable: bool) -> bool:
    if turn["answerable"]:
        return answerable and answer_matches(answer, turn["expect"])
    return not answerable


def evaluate_dialogues(
    pipeline: RagPipeline,
    dialogues: list[dict[str, Any]],
    progress: Callable[[TurnResult], None] | None = None,
    provider: str | None = None,
) -> list[TurnResult]:
    """Every turn asked in its dialogue's conversation and, alone, in its stand-alone form."""
    out: list[TurnResult] = []
    for d in dialogues:
        convo = Conversation(str(uuid.uuid4()))
        for n, turn in enumerate(d["turns"], 1):
            r = pipeline.ask(turn["question"], conversation=convo, provider=provider)
            convo.previous.append(r.standalone_question or turn["question"])
            alone = pipeline.ask(turn["standalone"], provider=provider)
            out.append(
                TurnResult(
                    d["id"],
                    n,
                    turn.get("kind", ""),
                    turn["question"],
                    r.standalone_question or turn["question"],
                    bool(turn["answerable"]),
                    _ok(turn, r.answer, r.answerable),
                    _ok(turn, alone.answer, alone.answerable),
                )
            )
            if progress is not None:
                progress(out[-1])
    return out


def summarize_turns(results: list[TurnResult]) -> dict[str, dict[str, float]]:
    """Accuracy in the conversation and alone: overall, answerable / unanswerable turns, by
    position and by kind. Each value: {"n", "conversation", "alone"}."""
    groups: dict[str, list[TurnResult]] = defaultdict(list)
    for r in results:
        groups["all turns"].append(r)
        if r.answerable:
            groups["answer (answerable turns)"].append(r)
        else:
            groups["abstention (unanswerable turns)"].append(r)
        groups[f"turn {r.n}"].append(r)
        groups[f"kind: {r.kind}"].append(r)
    return {
        name: {
            "n": len(rs),
            "conversation": sum(r.ok for r in rs) / len(rs),
            "alone": sum(r.ok_alone for r in rs) / len(rs),
        }
        for name, rs in groups.items()
    }


# What the regression gate reads: turn-level accuracy in conversation and of the same turns
# asked stand-alone (higher is better), and the target on the gap between them.
MAX_GAP = 0.03
TARGETS = {
    "answer_accuracy": "answer (answerable turns)",
    "abstention_accuracy": "abstention (unanswerable turns)",
}


def dialogue_metrics(results: list[TurnResult]) -> dict[str, float]:
    """`answer_accuracy` / `abstention_accuracy` in conversation, the same with `_alone` for
    the stand-alone forms, and `all_turns` (both kinds of turn) in conversation."""
    summary = summarize_turns(results)
    out = {"all_turns": round(summary["all turns"]["conversation"], 4)}
    for metric, group in TARGETS.items():
        if group in summary:
            out[metric] = round(summary[group]["conversation"], 4)
            out[f"{metric}_alone"] = round(summary[group]["alone"], 4)
    return out


def gap_failures(metrics: dict[str, float], max_gap: float = MAX_GAP) -> list[str]:
    """The target: in conversation within `max_gap` of the same questions asked stand-alone."""
    out = []
    for metric in TARGETS:
        if metric in metrics and metrics[f"{metric}_alone"] - metrics[metric] > max_gap + 1e-9:
            out.append(
                f"{metric}: {metrics[metric]:.4f} in conversation, more than {max_gap:.0%} "
                f"below {metrics[f'{metric}_alone']:.4f} stand-alone"
            )
    return out
