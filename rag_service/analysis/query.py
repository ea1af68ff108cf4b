"""`QueryAnalysis`: what a question asks for, built once and passed to every later stage.

Two steps, because half of it needs the index: `question_shape` reads the text alone (answer
type, entities, comparison sides or parts, negation); `analyze` adds the index's view of the
question's words (IDF weights, words the corpus never contains) once retrieval has looked them up.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from rag_service.analysis.profile import DomainProfile, Language, load_language
from rag_service.retrieval.text import searchable
from rag_service.retrieval.types import QueryTerms

_WORD = re.compile(r"[A-Za-z0-9][\w'’.-]*[\w]|[A-Za-z0-9]")
_TOKEN = re.compile(r"[a-z0-9%]+")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_QUOTED = re.compile(r"[\"“']([^\"”']{2,60})[\"”']")
# A code-like name: a letter, then letters, digits, dots or underscores with a digit among
# them ("f16", "RKE2", "base58", "v1.19.2"). The index splits it into pieces every document
# has ("f", "16"), so it is looked for whole in the evidence.
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z][A-Za-z_.]*\d[\w.]*")
# Shorter initials ("FM", "CE") are too often some other word to vouch for a name.
MIN_ABBREVIATION = 3

_SIDES = [
    re.compile(r"\bdifferences? between (?:the )?(?P<a>.+?) and (?:the )?(?P<b>.+?)[?.]?$", re.I),
    re.compile(
        r"\bcompare (?:between )?(?:the )?(?P<a>.+?) (?:with|to|and|against)"
        r" (?:the )?(?P<b>.+?)[?.]?$",
        re.I,
    ),
    re.compile(r"(?P<a>[^,]+?) compare[sd]? (?:with|to|against) (?:the )?(?P<b>.+?)[?.]?$", re.I),
    re.compile(r"(?P<a>[^,]+?) (?:vs\.?|versus) (?:the )?(?P<b>.+?)[?.]?$", re.I),
    re.compile(r"\bdiffers? between (?:the )?(?P<a>.+?) and (?:the )?(?P<b>.+?)[?.]?$", re.I),
    re.compile(r"\bhow (?:does|do) (?:the )?(?P<a>.+?) differ from (?P<b>.+?)[?.]?$", re.I),
    re.compile(r"\bdistinguish(?:es)? (?:the )?(?P<a>.+?) from (?:the )?(?P<b>.+?)[?.]?$", re.I),
    re.compile(r"(?P<a>[^,]+?),? (?:as )?compared (?:with|to) (?:the )?(?P<b>.+?)[?.]?$", re.I),
    re.compile(
        r" (?P<p>for|in|from|on|of|by) (?P<a>[^,]+?),? and (?P=p) (?:the )?(?P<b>[^,?]+?)[?.]?$",
        re.I,
    ),
    re.compile(r",\s*(?P<a>[^,]+?),? or (?P<b>[^,]+?)[?.]?$", re.I),
]
_PART_SPLIT = re.compile(
    r"(?:\?\s+|,?\s+and\s+|;\s*)"
    r"(?=(?:(?:in|on|for|at|by|from|to|with|under) )?"
    r"(?:what|how|which|who|when|why|where|whose)\b)",
    re.I,
)
_LEAD = re.compile(
    r"^\s*(?:(?:how does|how do|what is|what are|what's|which is|is|are)\s+)?(?:(?:the|an|a)\s+)?",
    re.I,
)


@dataclass(frozen=True)
class QueryAnalysis:
    """One question, analysed. Later stages read these attributes; none re-derives them."""

    question: str
    answer_type: str  # comparison, reason, percentage, duration, date, amount, figure, ...
    value: re.Pattern[str] | None  # what a unit answering this type must contain, if anything
    tokens: tuple[str, ...]  # crude stems of content words, in order (phrase matching)
    entities: tuple[str, ...]  # capitalised names, acronyms, numbers, quoted strings
    sides: tuple[str, ...] = ()  # the things a comparison compares
    parts: tuple[str, ...] = ()  # sub-questions of a multi-part question
    negated: bool = False
    search_text: str = ""  # the question plus profile synonyms, as searched
    identifiers: tuple[str, ...] = ()  # code-like names ("f16", "base58"), matched whole
    # Filled by `analyze` from the index:
    terms: dict[str, float] = field(default_factory=dict)  # content lexeme -> IDF
    unknown: frozenset[str] = frozenset()  # lexemes the corpus never contains
    unknown_entities: tuple[str, ...] = ()
    entity_lexemes: tuple[frozenset[str], ...] = ()  # per entity, its lexemes
    unknown_share: float = 0.0  # IDF share of the question's words the corpus never contains

    @property
    def wants_value(self) -> bool:
        return self.value is not None

    def side_terms(self) -> list[dict[str, float]]:
        """Each comparison side (or part) as its own question terms (lexeme -> IDF), minus
        the terms every side shares (those say what is compared, not which side)."""
        groups = [_lexemes(g, self.terms) for g in (self.sides or self.parts)]
        shared = set.intersection(*groups) if len(groups) > 1 else set()
        return [{t: self.terms[t] for t in g - shared} for g in groups]


def _stem(tok: str) -> str:
    return tok[:-1] if len(tok) > 3 and tok.endswith("s") and not tok.endswith("ss") else tok


def phrase_tokens(text: str, lang: Language | None = None) -> tuple[str, ...]:
    """Crudely stemmed content tokens, in order, for phrase (bigram) matching."""
    if lang is None:
        return _default_tokens(text)
    return tuple(_stem(t) for t in _TOKEN.findall(searchable(text).lower()) if t not in lang.stop)


@lru_cache(maxsize=65536)
def _default_tokens(text: str) -> tuple[str, ...]:
    """Cached: the same units come back question after question."""
    return phrase_tokens(text, load_language())


def _lexemes(text: str, terms: dict[str, float]) -> set[str]:
    """The question lexemes (keys of `terms`) that a fragment of it contributes."""
    toks = set(phrase_tokens(text))
    return {t for t in terms if any(tok.startswith(t) or t.startswith(tok) for tok in toks)}


def _entities(question: str, lang: Language) -> tuple[str, ...]:
    """Capitalised names (runs of them), acronyms, numbers — spelled-out numbers as digits,
    so "five direct reports" finds the row labelled 5 — and quoted strings."""
    words = list(_WORD.finditer(question))
    found: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            found.append(" ".join(run))
            run.clear()

    for i, m in enumerate(words):
        w = m.group(0)
        is_num = bool(_NUMBER.search(w))
        upper_inside = any(c.isupper() for c in w[1:])
        capital = w[0].isupper() and (i > 0 or upper_inside or (len(w) <= 4 and w.isupper()))
        if capital or upper_inside or (is_num and run):
            run.append(w)
        else:
            flush()
            if is_num:
                found.append(w.rstrip(".,"))
            elif lang.number_words.get(w.lower(), 1) > 1:
                found.append(str(lang.number_words[w.lower()]))
    flush()
    found.extend(m.group(1) for m in _QUOTED.finditer(question))
    return tuple(dict.fromkeys(e for e in found if e))


def _abbreviations(name: str, stop: frozenset[str]) -> set[str]:
    """Short forms of a multi-word name: the initials of its words (with and without its
    function words), an all-capitals word kept whole ("TTS Consulting" → "ttsc")."""
    words = _WORD.findall(name)
    if len(words) < 2:
        return set()
    forms = set()
    for keep_stop in (True, False):
        ws = [w for w in words if keep_stop or w.lower() not in stop]
        form = "".join(w if w.isupper() and len(w) > 1 else w[0] for w in ws)
        if len(ws) >= 2 and len(form) >= MIN_ABBREVIATION:
            forms.add(form.lower())
    return forms


def _spelled_out(acronym: str, words: list[str], stop: frozenset[str]) -> bool:
    """Whether some run of `words` has the acronym's letters as initials, function words
    skipped ("ABC" in "Alpha Beta and Charlie")."""
    letters = acronym.lower()
    initials = [(w[0].lower(), w.lower() in stop) for w in words]
    for start, (first, _) in enumerate(initials):
        if first != letters[0]:
            continue
        i, j = 1, start + 1
        while i < len(letters) and j < len(initials):
            char, is_stop = initials[j]
            if char == letters[i]:
                i, j = i + 1, j + 1
            elif is_stop:
                j += 1
            else:
                break
        if i == len(letters):
            return True
    return False


def _mentions(text: str, word: str) -> bool:
    """Whether lower-cased `text` holds `word` whole (not inside a longer name or number)."""
    return re.search(rf"(?<![\w.]){re.escape(word.lower())}(?![\w])", text) is not None


def _abbreviated(name: str, evidence: Sequence[str], text: str, stop: frozenset[str]) -> bool:
    """Whether `evidence` names `name` in its other form: its initials as a word, or, for an
    acronym, its words spelled out."""
    if any(_mentions(text, form) for form in _abbreviations(name, stop)):
        return True
    if name.isupper() and name.isalpha() and MIN_ABBREVIATION <= len(name) <= 6:
        return any(_spelled_out(name, _WORD.findall(t), stop) for t in evidence)
    return False


def _clean_side(text: str) -> str:
    return _LEAD.sub("", text).strip(" ,.?")


def question_shape(
    question: str, lang: Language | None = None, profile: DomainProfile | None = None
) -> QueryAnalysis:
    """Everything the text alone tells: answer type, entities, sides or parts, negation."""
    lang = lang or load_language()
    answer_type = "other"
    cues = profile.answer_type_cues if profile else {}
    for name, pattern in lang.answer_types:
        if pattern.search(question) or (name in cues and cues[name].search(question)):
            answer_type = name
            break
    value = lang.value_patterns.get(answer_type)
    if answer_type == "comparison":
        # A comparison of values wants them: "which pays more" needs the figures.
        for name, pattern in lang.answer_types:
            if name in ("percentage", "amount", "figure", "duration") and (
                pattern.search(question) or (name in cues and cues[name].search(question))
            ):
                value = lang.value_patterns[name]
                break
    sides: tuple[str, ...] = ()
    if not _PART_SPLIT.search(question):
        for pattern in _SIDES:
            m = pattern.search(question)
            if m:
                a, b = _clean_side(m["a"]), _clean_side(m["b"])
                if a and b:
                    sides = (a, b)
                break
    pieces = [p.strip(" ,;") for p in _PART_SPLIT.split(question) if p.strip(" ,;?")]
    parts = tuple(pieces) if len(pieces) > 1 else ()
    words = {w.lower().replace("’", "'") for w in re.findall(r"[\w'’]+", question)}
    negated = bool(words & lang.negation) or "n't" in question.lower()
    expanded = profile.expand(question) if profile else question
    return QueryAnalysis(
        question=question,
        answer_type=answer_type,
        value=value,
        tokens=phrase_tokens(question, lang),
        entities=_entities(question, lang),
        sides=sides,
        parts=parts,
        negated=negated,
        search_text=expanded,
        identifiers=tuple(
            dict.fromkeys(m.group(0).rstrip(".") for m in _IDENTIFIER.finditer(question))
        ),
    )


def analyze(
    shape: QueryAnalysis,
    terms: QueryTerms,
    lang: Language | None = None,
    *,
    evidence: Sequence[str] = (),
) -> QueryAnalysis:
    """Add the index's knowledge: IDF-weighted content terms and what the corpus never says.
    A code-like name found whole in none of the retrieved `evidence` texts counts as an entity
    the documents do not mention (when evidence is given)."""
    lang = lang or load_language()
    content = {t: w for t, w in terms.idf.items() if t not in lang.framing and t not in lang.stop}
    by_word: dict[str, set[str]] = {}
    for lexeme, word in terms.surface.items():
        by_word.setdefault(word.strip(".,;:!?\"'()“”‘’").lower(), set()).add(lexeme)
    entity_lexemes: list[frozenset[str]] = []
    unknown_entities: list[str] = []
    for ent in shape.entities:
        lx: set[str] = set()
        for w in _WORD.findall(ent):
            # a spelled-out number has no question word of its own; the index keeps digits as is
            lx |= by_word.get(w.lower(), {w} if w.isdigit() else set())
        lx -= lang.framing
        entity_lexemes.append(frozenset(lx))
        if lx and lx <= terms.unknown:
            unknown_entities.append(ent)
        elif lx and len(lx) > 1 and len(lx & terms.unknown) * 2 >= len(lx):
            unknown_entities.append(ent)  # most of a multi-word name is never mentioned
    if evidence:
        text = "\n".join(evidence).lower()
        # "Centers of Excellence" where the documents write "CoE", "ABC" where they spell it
        # out: a name known under its other form is not unknown.
        unknown_entities = [
            e for e in unknown_entities if not _abbreviated(e, evidence, text, lang.stop)
        ]
        for name in shape.identifiers:
            if name not in unknown_entities and not _mentions(text, name):
                unknown_entities.append(name)
    asked = {t: w for t, w in terms.idf.items() if t not in lang.framing}
    total = sum(asked.values())
    share = sum(w for t, w in asked.items() if t in terms.unknown) / total if total else 0.0
    return replace(
        shape,
        terms={t: w for t, w in content.items() if t not in terms.unknown},
        unknown=terms.unknown,
        unknown_entities=tuple(unknown_entities),
        entity_lexemes=tuple(entity_lexemes),
        unknown_share=share,
    )
