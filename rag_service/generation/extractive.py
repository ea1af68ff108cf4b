"""The offline default: answers made of verbatim passages, so every word is grounded.

It answers with the best-scored answer unit (sentence, list item, table row); a comparison or a
multi-part question gets the best unit for each side or part (from any document); units that
cover question terms the first one leaves out may follow; a list introduction is answered with
the list's items, unless the question asks for a value (then the value's own sentence wins).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag_service.analysis.query import QueryAnalysis
from rag_service.generation.base import Draft, DraftCitation, Passage
from rag_service.ranking.features import is_bare_heading
from rag_service.retrieval.types import UnitHit

_ITEM_LABEL = re.compile(r"^(?P<label>[^:—–]{3,60}?)\s*(?::|\s[—–]\s)")
_WORD_OR_SPACE = re.compile(r"\S+\s*")

MAX_UNITS = 3
MAX_ANSWER_CHARS = 400  # runners-up join only while the answer stays this short
MAX_LIST_ITEMS = 8
CLOSE_SCORE = 0.1  # extra units must score at least this share of the best (LOCO plateau 0.05–0.15)
MIN_GAIN = 0.0  # ... and add this much of the question's term weight
SIDE_SCORE = 0.1  # a side's unit must score at least this fraction of the best
SIDE_COVERAGE = 0.5  # ... and hold this share of the side's own term weight
FULLER_SCORE = 0.9  # a unit restating all the best unit's figures, and more, within this
_FIGURE = re.compile(r"\d[\d,.]*")

Pick = tuple[UnitHit, Passage]


def _fuller(unit: UnitHit, best: UnitHit, best_score: float) -> bool:
    """The same figures as the best unit and more: the fuller statement of the same fact."""
    mine, theirs = set(_FIGURE.findall(unit.display)), set(_FIGURE.findall(best.display))
    return bool(theirs) and theirs < mine and unit.score >= FULLER_SCORE * best_score


def _lead_of(best: Pick) -> Pick:
    """A bare heading answers through its section's lead unit."""
    u, p = best
    if not is_bare_heading(u):
        return best
    lead = next((x for x in p.units if x.ordinal == u.ordinal + 1), None)
    return (lead, p) if lead is not None and not is_bare_heading(lead) else best


class ExtractiveGenerator:
    name = "extractive"

    def generate(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
        analysis: QueryAnalysis | None = None,
    ) -> Draft:
        units = sorted(((u, p) for p in passages for u in p.units), key=lambda up: -up[0].score)
        if not units or units[0][0].score <= 0:
            return Draft(text="", citations=[], abstained=True)
        if analysis is None or not analysis.wants_value:
            listed = self._list_answer(*units[0])
            if listed is not None:
                return listed
        best = _lead_of(units[0])
        weights = (analysis.terms if analysis else None) or term_weights or {}
        groups = analysis.side_terms() if analysis else []
        chosen: list[Pick] = [best]
        unsupported: list[int] = []
        if len(groups) > 1:
            chosen, unsupported = self._per_side(units, groups, best)
        if len(chosen) == 1:
            chosen = self._complete(units, best, weights)
        chosen.sort(key=lambda up: (up[1].document, up[0].start))
        text = " ".join(u.display for u, _ in chosen)
        cites = [DraftCitation(p.chunk_id, u.text, u.start, u.end, u.score) for u, p in chosen]
        # a part of a multi-part question that no passage touches is named, not left silent
        # (groups are the sides, or else the parts, in order)
        parts = analysis.parts if analysis and not analysis.sides else ()
        missing = [parts[i] for i in unsupported] if parts else []
        if missing and len(missing) < len(parts):
            text += "".join(f' The documents do not answer "{p.rstrip("?. ")}".' for p in missing)
        return Draft(text=text, citations=cites, meta={"unanswered_parts": missing})

    @staticmethod
    def _per_side(
        units: list[Pick], groups: list[dict[str, float]], best: Pick
    ) -> tuple[list[Pick], list[int]]:
        """For each side or part the best answer already leaves uncovered, the unit that
        scores best times its coverage of that side's own terms (its heading counts); and the
        indexes of the groups that no candidate unit touches at all."""
        chosen: list[Pick] = [best]
        unsupported: list[int] = []
        floor = SIDE_SCORE * best[0].score
        pool = [up for up in units if up[0].score >= floor and not is_bare_heading(up[0])]
        heads = {id(p): _heading(p) for _, p in units}
        read = {id(u): u.lexemes | heads[id(p)] for u, p in [best, *pool]}
        for i, group in enumerate(groups):
            total = sum(group.values())
            if not total:
                continue
            if not any(t in read[id(up[0])] for up in [best, *pool] for t in group):
                unsupported.append(i)
                continue

            def cov(pick: Pick, group: dict[str, float] = group, total: float = total) -> float:
                lex = read[id(pick[0])]
                return sum(w for t, w in group.items() if t in lex) / total

            if any(cov(c) >= SIDE_COVERAGE for c in chosen):
                continue
            scored = [(up[0].score * c, up) for up in pool if (c := cov(up)) >= SIDE_COVERAGE]
            if scored:
                chosen.append(max(scored, key=lambda t: t[0])[1])
        return chosen[: MAX_UNITS + 1], unsupported

    @staticmethod
    def _complete(units: list[Pick], best: Pick, weights: dict[str, float]) -> list[Pick]:
        """Add close runners-up from the same document that cover terms the best leaves out."""
        chosen = [best]
        b, bp = best
        covered = set(b.lexemes)
        total = sum(weights.values()) or 1.0
        length = len(b.display)
        for u, p in units[1:]:
            if len(chosen) >= MAX_UNITS or u.score < CLOSE_SCORE * b.score:
                break
            if is_bare_heading(u) or p.document != bp.document or u is b:
                continue
            if length + len(u.display) > MAX_ANSWER_CHARS:
                continue
            gain = sum(w for t, w in weights.items() if t in u.lexemes and t not in covered)
            if gain / total >= MIN_GAIN or _fuller(u, b, b.score):
                chosen.append((u, p))
                covered |= u.lexemes
                length += len(u.display)
        return chosen

    @staticmethod
    def _list_answer(best: UnitHit, passage: Passage) -> Draft | None:
        """A heading or a line ending in ':' followed by list items: answer with the items."""
        intro = best.display.rstrip()
        if not (best.kind == "heading" or intro.endswith(":")):
            return None
        following = sorted((u for u in passage.units if u.ordinal > best.ordinal), key=_ordinal)
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
            m = _ITEM_LABEL.match(u.display)
            if m and u.text.startswith(m["label"]):
                label = m["label"].rstrip()
                cites.append(
                    DraftCitation(passage.chunk_id, label, u.start, u.start + len(label), u.score)
                )
                names.append(label)
            else:
                cites.append(DraftCitation(passage.chunk_id, u.text, u.start, u.end, u.score))
                names.append(u.display.rstrip("."))
        lead = intro if intro.endswith(":") else f"{intro}:"
        return Draft(text=f"{lead} " + "; ".join(names) + ".", citations=cites)

    def stream(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
        analysis: QueryAnalysis | None = None,
    ) -> Iterator[str | Draft]:
        draft = self.generate(question, passages, term_weights=term_weights, analysis=analysis)
        yield from _WORD_OR_SPACE.findall(draft.text)
        yield draft


def _ordinal(u: UnitHit) -> int:
    return u.ordinal


def _heading(p: Passage) -> frozenset[str]:
    """Lexemes of a passage's heading path (units carry their own; headings are read along)."""
    return frozenset(u for x in p.units if x.kind == "heading" for u in x.lexemes)
