"""OpenAI, or any OpenAI-compatible server (vLLM, TGI, Ollama) through `OPENAI_BASE_URL`.

Modes: `json` asks for structured output (`response_format` with a JSON schema: claims, each
with passage numbers and quotes); `text` asks for `[n]` markers and a `QUOTES:` block. `auto`
uses json against api.openai.com and text against other servers; a server that rejects the
schema is switched to text mode for the rest of the process. Both end in the same verifier.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anyio
import openai

from rag_service.core.config import Settings
from rag_service.generation.base import Draft, Passage
from rag_service.generation.llm import (
    ANSWER_SCHEMA,
    CONDENSE_MAX_TOKENS,
    Condensed,
    LLMConfig,
    Prepared,
    Slot,
    StreamAccumulator,
    TokenCounter,
    UpstreamLimiter,
    build_user_message,
    condense_message,
    condense_prompt,
    condense_timeout,
    condensed,
    finish_draft,
    held,
    parse_answer,
    prepare,
    upstream_error,
)

UPSTREAM = "the OpenAI-compatible server"


def _usage(u: Any) -> dict[str, int]:
    return {"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens} if u else {}


def _rejects_schema(exc: Exception) -> bool:
    """A 400/422 that names the structured-output parameters: the server cannot do json."""
    if not isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return False
    text = str(exc).lower()
    return any(w in text for w in ("response_format", "json_schema", "json schema", "structured"))


class OpenAIGenerator:
    name = "openai"

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.model = config.model
        self.max_tokens = config.max_tokens
        self.limiter = config.limiter
        self.min_relevance = config.min_relevance
        official = config.base_url is None or "api.openai.com" in config.base_url
        self.mode = config.output if config.output != "auto" else ("json" if official else "text")
        self.counter = TokenCounter.for_model("openai", config.model)
        common = config.client_args()
        self._client = openai.OpenAI(**common)
        self._aclient = openai.AsyncOpenAI(**common)

    @classmethod
    def from_settings(cls, s: Settings, limiter: UpstreamLimiter | None = None) -> OpenAIGenerator:
        return cls(LLMConfig.for_provider(s, "openai", limiter))

    def _request(self, question: str, passages: list[Passage]) -> tuple[dict[str, Any], Prepared]:
        prep = prepare(self.config, self.mode, question, passages, self.counter)
        req: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": prep.prompt.text},
                {"role": "user", "content": build_user_message(question, prep.passages)},
            ],
            "max_tokens": self.max_tokens,
            "temperature": 0,
        }
        if self.mode == "json":
            req["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "cited_answer", "strict": True, "schema": ANSWER_SCHEMA},
            }
        return req, prep

    def _draft(self, text: str, prep: Prepared, model: str | None, usage: dict[str, int]) -> Draft:
        draft = parse_answer(text, prep.passages, model=model, usage=usage, mode=self.mode)
        return finish_draft(draft, self.config, prep)

    def _fallback(self, exc: Exception) -> bool:
        """Switch a server that rejects structured output to text mode (once)."""
        if self.mode == "json" and self.config.output == "auto" and _rejects_schema(exc):
            self.mode = "text"
            return True
        return False

    def condense(
        self, question: str, previous: Sequence[str], *, slot: Slot | None = None
    ) -> Condensed:
        """A follow-up rewritten by the model as a question that stands alone, given the
        earlier questions (plain text, one short call, no retries); upstream failures raise
        our errors, and the caller falls back to the offline rewrite."""
        with held(self.limiter, slot):
            try:
                client = self._client.with_options(
                    timeout=condense_timeout(self.config), max_retries=0
                )
                resp = client.chat.completions.create(
                    model=self.model,
                    messages=[
                        {"role": "system", "content": condense_prompt().text},
                        {"role": "user", "content": condense_message(question, previous)},
                    ],
                    max_tokens=CONDENSE_MAX_TOKENS,
                    temperature=0,
                )
                text = resp.choices[0].message.content or ""
                usage = _usage(resp.usage)
            except (openai.OpenAIError, ValueError, IndexError, AttributeError, TypeError) as exc:
                raise upstream_error(exc, openai, UPSTREAM) from exc
        return condensed(text, resp.model or self.model, usage, self.config)

    def generate(
        self, question: str, passages: list[Passage], *, slot: Slot | None = None, **_: Any
    ) -> Draft:
        with held(self.limiter, slot):
            while True:
                req, prep = self._request(question, passages)
                try:
                    resp = self._client.chat.completions.create(**req)
                    break
                except (openai.OpenAIError, json.JSONDecodeError) as exc:
                    if self._fallback(exc):
                        continue
                    raise upstream_error(exc, openai, UPSTREAM) from exc
        try:  # a 200 whose body is not a chat completion
            text = resp.choices[0].message.content or ""
            usage = _usage(resp.usage)
        except (IndexError, AttributeError, TypeError) as exc:
            raise upstream_error(exc, openai, UPSTREAM) from exc
        return self._draft(text, prep, resp.model or self.model, usage)

    def stream(
        self, question: str, passages: list[Passage], *, slot: Slot | None = None, **_: Any
    ) -> Iterator[str | Draft]:
        acc = StreamAccumulator()
        usage: dict[str, int] = {}
        model = self.model
        with held(self.limiter, slot):
            req, prep = self._request(question, passages)
            try:
                with self._client.chat.completions.create(
                    **req, stream=True, stream_options={"include_usage": True}
                ) as events:
                    for chunk in events:
                        model = chunk.model or model
                        usage = _usage(chunk.usage) or usage
                        for choice in chunk.choices:
                            piece = choice.delta.content if choice.delta else None
                            if piece and (out := acc.feed(piece)) and self.mode == "text":
                                yield out
            except (openai.OpenAIError, json.JSONDecodeError, AttributeError, ValueError) as exc:
                raise upstream_error(exc, openai, UPSTREAM) from exc
        yield self._draft(acc.text, prep, model, usage)

    async def astream(
        self, question: str, passages: list[Passage], *, slot: Slot | None = None, **_: Any
    ) -> AsyncIterator[str | Draft]:
        """`stream` on the async client: closing this iterator (a client that went away)
        closes the upstream connection, which ends the model's work."""
        acc = StreamAccumulator()
        usage: dict[str, int] = {}
        model = self.model
        with held(self.limiter, slot):
            req, prep = self._request(question, passages)
            events = None
            try:
                events = await self._aclient.chat.completions.create(
                    **req, stream=True, stream_options={"include_usage": True}
                )
                async for chunk in events:
                    model = chunk.model or model
                    usage = _usage(chunk.usage) or usage
                    for choice in chunk.choices:
                        piece = choice.delta.content if choice.delta else None
                        if piece and (out := acc.feed(piece)) and self.mode == "text":
                            yield out
            except (openai.OpenAIError, json.JSONDecodeError, AttributeError, ValueError) as exc:
                raise upstream_error(exc, openai, UPSTREAM) from exc
            finally:
                if events is not None:
                    with anyio.CancelScope(shield=True):
                        await events.close()
        yield self._draft(acc.text, prep, model, usage)
