"""Follow-up questions rewritten into stand-alone ones, offline, from the previous turns' analysis.

A follow-up leans on the question before it: "And in Berlin?" (ellipsis: the previous question
with one more or another place), "What about contractors?" (substitution: the previous
question with one named thing swapped), "What does it pay?" (a pronoun standing for the
previous subject), "And the deposit?" (the same subject, another thing asked). Each is
rewritten into a question that retrieval, the selector and the gate can read on its own; the
previous question's frame carries its subject, entities and asked-for type along.

A question with its own subject (named things, no pronoun standing for one, no leading "and" /
"what about") stands alone and is left exactly as it is: a topic switch inherits nothing.
Nothing here knows a subject: the rules read words, capitals and the `QueryAnalysis` of each
question (`question_shape`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag_service.analysis.profile import DomainProfile
from rag_service.analysis.query import QueryAnalysis, phrase_tokens, question_shape

_LEAD = re.compile(
    r"^\s*(?:(?:and|but|so|ok(?:ay)?|also)\b[\s,]*)?"
    r"(?:(?:what|how)\s+about|what\s+of|same\s+(?:for|in)|and)?\s*",
    re.I,
)
_CUE = re.compile(r"^\s*(?:and|but|also)\b|^\s*(?:what|how)\s+about\b|^\s*what\s+of\b", re.I)
_PREPOSITIONS = ("in", "for", "at", "from", "with", "on", "outside", "within", "across", "by")
_PRONOUN = re.compile(
    r"\b(?:(?P<poss>its|their)|(?P<subj>it|they|them|this role|that role|this one|that one|"
    r"this job|that job|those roles|these roles)|(?P<place>there))\b",
    re.I,
)
_DUMMY_IT = re.compile(
    r"\bit\s+(?:take|takes|took|mean|means|worth)\b|\bis it\b(?!\s+\w+ing)", re.I
)
_QUESTION_WORD = re.compile(
    r"^\s*(?:what|how|which|who|whom|whose|when|where|why|is|are|do|does|did|can|could|should|"
    r"will|would|was|were|has|have|list|name|tell|give|describe|explain|compare)\b",
    re.I,
)
_WORD = re.compile(r"[A-Za-z0-9][\w'’.+/&-]*[\w+]|[A-Za-z0-9]")
_PHRASE_END = r"\s+(?:in|for|at|from|with|on|to|by)\b|\s*[?.,;!]|\s*$"
_ARTICLE = re.compile(r"\b(?:an?|the)\s+$", re.I)


@dataclass(frozen=True)
class Rewrite:
    """The question as asked, the question as searched, and which rule made it."""

    question: str
    standalone: str
    kind: str  # standalone | ellipsis | substitution | aspect | pronoun

    @property
    def rewritten(self) -> bool:
        return self.standalone != self.question


def _tokens(text: str) -> set[str]:
    return set(phrase_tokens(text))


def _ends(text: str) -> str:
    return text.rstrip(" ?.!")


def _subject(prev: QueryAnalysis) -> str | None:
    """The thing the previous question was about: the named thing it asks "for" (the skills gap
    "for students"), else its first named thing that is not a number."""
    names = [e for e in prev.entities if not any(c.isdigit() for c in e)]
    for ent in names:
        i = prev.question.find(ent)
        if i >= 0 and re.search(r"\bfor\s+(?:(?:an?|the)\s+)?$", prev.question[:i], re.I):
            return ent
    return names[0] if names else None


def _span_of(question: str, words: set[str]) -> tuple[int, int] | None:
    """The run of words in `question` around those whose stems are in `words`, widened to the
    capitalised words next to it ("release manager" for `manager`): the phrase a substitute
    replaces."""
    found = list(_WORD.finditer(question))
    hit = [i for i, m in enumerate(found) if _tokens(m.group(0)) & words]
    if not hit:
        return None
    lo, hi = hit[0], hit[-1]
    while lo > 0 and found[lo - 1].group(0)[0].isupper() and lo - 1 > 0:
        lo -= 1
    while hi + 1 < len(found) and found[hi + 1].group(0)[0].isupper():
        hi += 1
    return found[lo].start(), found[hi].end()


def _entity_span(question: str, entity: str) -> tuple[int, int] | None:
    i = question.find(entity)
    return (i, i + len(entity)) if i >= 0 else None


def _replace(question: str, span: tuple[int, int], new: str) -> str:
    start, end = span
    before = question[:start]
    if new.lower().startswith(("the ", "a ", "an ")) or new.endswith("s") or new[:1].isupper():
        before = _ARTICLE.sub("", before)  # "for a student" -> "for contractors"
    return before + new + question[end:]


def _place_span(prev: QueryAnalysis, preposition: str | None = None) -> tuple[int, int] | None:
    """The span of a prepositional phrase naming something (`in the UK`): with `preposition`,
    only one that starts with it."""
    q = prev.question
    preps = (preposition,) if preposition else ("in", "at", "across", "outside", "within")
    for ent in reversed(prev.entities):
        i = q.find(ent)
        if i < 0:
            continue
        m = re.search(r"\b(" + "|".join(preps) + r")\s+(?:the\s+)?$", q[:i], re.I)
        if m:
            return m.start(), i + len(ent)
    return None


def _with_phrase(prev: QueryAnalysis, phrase: str) -> str:
    """Ellipsis: the previous question with `phrase` ("in Berlin", "for contractors") in place
    of its phrase with the same preposition, or added at its end."""
    prep = phrase.split(maxsplit=1)[0].lower()
    span = _place_span(prev, prep)
    if span is None and prep in ("in", "at", "outside", "within", "across"):
        span = _place_span(prev)
    q = prev.question
    if span is None:  # a phrase of common words: "from the old scheme"
        found = list(re.finditer(rf"\b{re.escape(prep)}\s+[^,?;]+?(?={_PHRASE_END})", q, re.I))
        if found and prep not in ("for", "with", "on", "by"):
            span = found[-1].span()
    if span is not None:
        return q[: span[0]] + phrase + q[span[1] :]
    return f"{_ends(q)} {phrase}?"


def _substitute(prev: QueryAnalysis, fragment: str) -> str:
    """Substitution: the named thing of the previous question that the fragment replaces."""
    q = prev.question
    span = _span_of(q, _tokens(fragment))
    if span is None and len(_WORD.findall(fragment)) <= 2 and fragment[:1].isupper():
        place = _place_span(prev)  # a bare name against a question asked about a place
        if place is not None:
            prep = q[place[0] : place[1]].split()[0]
            return q[: place[0]] + f"{prep} {fragment}" + q[place[1] :]
    if span is None and (subject := _subject(prev)):
        span = _entity_span(q, subject)
    if span is None:
        return f"{_ends(q)} for {fragment}?"
    return _replace(q, span, fragment)


def _keep_kind(question: str, fragment: str) -> str:
    """ "the mid-level band" after "the junior ... salary band": the same kind of thing with
    another qualifier, so the word that said which kind ("salary") stays."""
    words = fragment.split()
    head = words[-1].lower().strip("?.,")
    asked = question.rstrip("?. ").split()
    for i in range(1, len(asked)):
        if asked[i].lower().strip("?.,") == head:
            kind = asked[i - 1]
            fresh = kind not in {w.lower() for w in words} and kind not in ("the", "a", "an")
            if kind.isalpha() and kind.islower() and fresh:
                return " ".join([*words[:-1], kind, words[-1]])
            break
    return fragment


def _aspect(prev: QueryAnalysis, fragment: str) -> str:
    """Another thing asked about the same subject: "and the deposit?" after a rent question
    keeps the subject ("for a student") and its place ("in Berlin")."""
    q = prev.question
    subject = _subject(prev)
    tail = ""
    if subject and (i := q.find(subject)) >= 0:
        m = re.search(r"\b(?:for|of|with|by)\s+(?:(?:an?|the)\s+)?$", q[:i])
        tail = " " + q[m.start() : i + len(subject)] if m else " for " + subject
        place = _place_span(prev)
        if place is not None and place[0] >= i + len(subject):
            tail += " " + q[place[0] : place[1]]
    fragment = _keep_kind(q, fragment)
    frag = fragment if fragment.lower().startswith(("the ", "a ", "an ")) else "the " + fragment
    verb = "are" if fragment.endswith("s") and not fragment.endswith("ss") else "is"
    return f"What {verb} {frag}{tail}?"


def _resolve_pronouns(question: str, prev: QueryAnalysis) -> str | None:
    subject = _subject(prev)
    if subject is None:
        return None
    place_span = _place_span(prev)
    place = prev.question[place_span[0] : place_span[1]] if place_span else None
    changed = False

    def sub(m: re.Match[str]) -> str:
        nonlocal changed
        if m.group("place"):
            if place is None:
                return m.group(0)
            changed = True
            return place
        if m.group("subj") and m.group(0).lower() == "it" and _DUMMY_IT.search(question):
            return m.group(0)
        changed = True
        if m.group("poss"):
            return subject + ("'" if subject.endswith("s") else "'s")
        return subject

    out = _PRONOUN.sub(sub, question)
    return out if changed else None


def rewrite_followup(
    question: str,
    previous: Sequence[QueryAnalysis],
    *,
    profile: DomainProfile | None = None,
    shape: QueryAnalysis | None = None,
) -> Rewrite:
    """`question` as a stand-alone question, given the analyses of the previous turns'
    stand-alone questions (oldest first). Stands alone (unchanged) when it names its own
    subject, when there is no previous turn, or when no rule applies."""
    question = question.strip()
    prev = next((p for p in reversed(previous) if _subject(p)), previous[-1] if previous else None)
    if prev is None:
        return Rewrite(question, question, "standalone")
    shape = shape or question_shape(question, profile=profile)
    rest = question
    if _CUE.search(question):
        fragment = _ends(_LEAD.sub("", question, count=1)).strip(" ,")
        if fragment and not _QUESTION_WORD.search(fragment):
            return Rewrite(question, *_fragment(prev, fragment, shape))
        # "And what does it pay?": a question of its own follows the cue
        rest = _LEAD.sub("", question, count=1).strip(" ,") or question
    elif not _QUESTION_WORD.search(question) and len(_WORD.findall(question)) <= 5:
        return Rewrite(question, *_fragment(prev, _ends(question), shape))  # "Berlin?"
    if (m := _PRONOUN.search(rest)) and not (m.group(0).lower() == "it" and _DUMMY_IT.search(rest)):
        named_before = [e for e in shape.entities if 0 <= rest.find(e) < m.start()]
        if not named_before and (resolved := _resolve_pronouns(rest, prev)):
            return Rewrite(question, resolved[:1].upper() + resolved[1:], "pronoun")
    if not shape.entities and not m and re.search(r"\bthe\s+\w", rest, re.I):
        # "What is the typical price range?": asks about a thing of no one named: the
        # previous subject's (and its place's)
        subject = _subject(prev)
        if subject:
            place = _place_span(prev)
            where = " " + prev.question[place[0] : place[1]] if place else ""
            if subject.lower() not in rest.lower():
                carried = f"{_ends(rest)} for {subject}{where}?"
                return Rewrite(question, carried[:1].upper() + carried[1:], "carried")
    return Rewrite(question, question, "standalone")


def _fragment(prev: QueryAnalysis, fragment: str, shape: QueryAnalysis) -> tuple[str, str]:
    """(stand-alone question, kind) for a fragment: a phrase, a name, or another thing asked."""
    first = fragment.split(maxsplit=1)[0].lower()
    if first in _PREPOSITIONS:
        return _with_phrase(prev, fragment), "ellipsis"
    if re.match(r"(?:the|a|an)\s", fragment, re.I):  # "the deposit": another thing asked
        return _aspect(prev, fragment), "aspect"
    named = fragment[:1].isupper() or any(c.isupper() for c in fragment[1:]) or shape.entities
    if named or _tokens(fragment) & _tokens(prev.question):
        return _substitute(prev, fragment), "substitution"
    return _aspect(prev, fragment), "aspect"


def own_terms(question: str) -> set[str]:
    """The words a follow-up brings itself (stemmed content tokens), leaving out its lead
    ("and", "what about", "same for") and the pronouns that stand for earlier words."""
    rest = _LEAD.sub("", question.strip(), count=1)
    return _tokens(_PRONOUN.sub(" ", rest))


def keeps_terms(question: str, standalone: str) -> bool:
    """Whether a stand-alone form (a language model's condensed question) keeps every word the
    follow-up brings itself: a rewrite may add from earlier turns but not lose or swap the
    follow-up's own content ("And in London?" must still name London)."""
    return bool(standalone.strip()) and own_terms(question) <= _tokens(standalone)
