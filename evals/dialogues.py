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
from dataclasses import dataclass
from pathlib import Path

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


def load_dialogues(path: Path = DIALOGUES) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for r in rows:
        if not r.get("turns") or not all("question" in t and "standalone" in t for t in r["turns"]):
            raise ValueError(f"{path}: dialogue {r.get('id')} needs turns with question/standalone")
    return rows


def _ok(turn: dict, answer: str, answerable: bool) -> bool:
    if turn["answerable"]:
        return answerable and answer_matches(answer, turn["expect"])
    return not answerable


def evaluate_dialogues(pipeline: RagPipeline, dialogues: list[dict]) -> list[TurnResult]:
    out: list[TurnResult] = []
    for d in dialogues:
        convo = Conversation(str(uuid.uuid4()))
        for n, turn in enumerate(d["turns"], 1):
            r = pipeline.ask(turn["question"], conversation=convo)
            convo.previous.append(r.standalone_question or turn["question"])
            alone = pipeline.ask(turn["standalone"])
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
