"""Language data and domain profiles, loaded from JSON files (knowledge as data, not code)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROFILES = HERE / "profiles"


@dataclass(frozen=True)
class Language:
    """What the analysis knows of English: cue patterns per answer type (in priority order),
    the shape of each kind of value, framing words ("mention", "say") and function words."""

    framing: frozenset[str]
    stop: frozenset[str]
    negation: frozenset[str]
    answer_types: tuple[tuple[str, re.Pattern[str]], ...]
    value_patterns: dict[str, re.Pattern[str]]
    number_words: dict[str, int]


@dataclass(frozen=True)
class DomainProfile:
    """Optional domain knowledge: query synonyms and extra answer-type cues. The neutral
    profile is empty, and every quality target must hold with it alone."""

    name: str = "neutral"
    description: str = ""
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=dict)
    answer_type_cues: dict[str, re.Pattern[str]] = field(default_factory=dict)

    def expand(self, question: str) -> str:
        """The question plus the synonyms of its words (for search and term coverage)."""
        if not self.synonyms:
            return question
        words = {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*", question)}
        extra = [s for w in sorted(words) for s in self.synonyms.get(w, ())]
        return f"{question} {' '.join(extra)}" if extra else question


@lru_cache
def load_language(path: Path | None = None) -> Language:
    raw = json.loads((path or HERE / "data" / "en.json").read_text(encoding="utf-8"))
    return Language(
        framing=frozenset(raw["framing"]),
        stop=frozenset(raw["stop"]),
        negation=frozenset(raw["negation"]),
        answer_types=tuple((name, re.compile(p, re.I)) for name, p in raw["answer_types"]),
        value_patterns={k: re.compile(v, re.I) for k, v in raw["value_patterns"].items()},
        number_words=dict(raw["number_words"]),
    )


@lru_cache
def load_profile(name_or_path: str = "neutral") -> DomainProfile:
    """A profile by name (a file in `profiles/`) or by path; errors name the choices."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES / f"{name_or_path}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.json")))
        raise ValueError(f"unknown domain profile {name_or_path!r}; known: {known}, or a path")
    raw = json.loads(path.read_text(encoding="utf-8"))
    return DomainProfile(
        name=str(raw.get("name", path.stem)),
        description=str(raw.get("description", "")),
        synonyms={k.lower(): tuple(v) for k, v in raw.get("synonyms", {}).items()},
        answer_type_cues={
            k: re.compile(v, re.I) for k, v in raw.get("answer_type_cues", {}).items()
        },
    )
