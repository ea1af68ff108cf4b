"""The offline default: answers made of verbatim passages, so every word is grounded.

It picks the best-scored answer unit (sentence, list item, table row), adds units that cover
question terms the first one leaves out (a comparison needs both figures), and turns a list
introduction into the list's item names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag_service.generation.base import Draft, DraftCitation, Passage
from rag_service.retrieval.rerank import COMPARISON, is_bare_heading
from rag_service.retrieval.search import UnitHit

_ITEM_LABEL = re.compile(r"^(?P<label>[^:—–]{3,60}?)\s*(?::|\s[—–]\s)")
_WORD_OR_SPACE = re.compile(r"\S+\s*")

MAX_UNITS = 3
MAX_LIST_ITEMS = 8
CLOSE_SCORE = 0.85  # extra units must score within this fraction of the best
MIN_GAIN = 0.12  # ... and add this much of the question's term weight
FULLER_SCORE = 0.9  # a unit restating all the best unit's figures, and more, within this
_FIGURE = re.compile(r"\d[\d,.]*")


def _fuller(unit: UnitHit, best: UnitHit, best_score: float) -> bool:
    """The same figures as the best unit and more ("58% demand vs 18% supply (40-point gap)"
    beside "58% employer demand but only 18%"): the fuller statement of the same fact."""
    mine, theirs = set(_FIGURE.findall(unit.display)), set(_FIGURE.findall(best.display))
    return bool(theirs) and theirs < mine and unit.score >= FULLER_SCORE * best_score


class ExtractiveGenerator:
    name = "extractive"

    def generate(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
    ) -> Draft:
        units = sorted(((u, p) for p in passages for u in p.units), key=lambda up: -up[0].score)
        if not units:
            return Draft(text="", citations=[], abstained=True)
        best, best_p = units[0]
        listed = self._list_answer(best, best_p)
        if listed is not None:
            return listed
        best_score = best.score
        if is_bare_heading(best):
            # The section answers the question: its lead unit says how.
            lead = next((u for u in best_p.units if u.ordinal == best.ordinal + 1), None)
            if lead is not None and not is_bare_heading(lead):
                best = lead
                units = [(best, best_p)] + [up for up in units if up[0] is not best]
        chosen = [(best, best_p)]
        covered = set(best.lexemes)
        weights = term_weights or {}
        total = sum(weights.values()) or 1.0
        comparing = bool(COMPARISON.search(question))
        for u, p in units[1:]:
            if len(chosen) >= MAX_UNITS or u.score < CLOSE_SCORE * best_score:
                break
            gain = sum(w for t, w in weights.items() if t in u.lexemes and t not in covered)
            # A comparison needs the other side: a parallel unit from another passage.
            parallel = comparing and p.chunk_id != best_p.chunk_id and len(chosen) == 1
            # one document answers, unless the question compares (then the other side may)
            if is_bare_heading(u) or (p.document != best_p.document and not comparing):
                continue
            if gain / total >= MIN_GAIN or parallel or _fuller(u, best, best_score):
                chosen.append((u, p))
                covered |= u.lexemes
        chosen.sort(key=lambda up: (up[1].document, up[0].start))
        text = " ".join(u.display for u, _ in chosen)
        cites = [DraftCitation(p.chunk_id, u.text, u.start, u.end, u.score) for u, p in chosen]
        return Draft(text=text, citations=cites)

    @staticmethod
    def _list_answer(best: UnitHit, passage: Passage) -> Draft | None:
        """A heading or a line ending in ':' followed by list items: answer with the items."""
        intro = best.display.rstrip()
        if not (best.kind == "heading" or intro.endswith(":")):
            return None
        following = [u for u in passage.units if u.ordinal > best.ordinal]
        items: list[UnitHit] = []
        for u in following:
            if u.kind != "item":
                if items:
                    break
                continue
            items.append(u)
        if len(items) < 2:
            return None
        items = items[:MAX_LIST_ITEMS]
        cites = [DraftCitation(passage.chunk_id, best.text, best.start, best.end, best.score)]
        names = []
        for u in items:
            m = _ITEM_LABEL.match(u.text)
            if m:
                label = m["label"].rstrip()
                end = u.start + len(label)
                cites.append(DraftCitation(passage.chunk_id, label, u.start, end, u.score))
                names.append(label)
            else:
                cites.append(DraftCitation(passage.chunk_id, u.text, u.start, u.end, u.score))
                names.append(u.text.rstrip("."))
        lead = intro if intro.endswith(":") else f"{intro}:"
        return Draft(text=f"{lead} " + "; ".join(names) + ".", citations=cites)

    def stream(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
    ) -> Iterator[str | Draft]:
        draft = self.generate(question, passages, term_weights=term_weights)
        yield from _WORD_OR_SPACE.findall(draft.text)
        yield draft
