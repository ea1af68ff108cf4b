"""Anthropic's Messages API through the official SDK.

Modes: `native` (default) sends each passage as a `document` content block with citations
enabled; the reply's text blocks carry `char_location` citations whose offsets index the
passage text exactly. `text` asks for `[n]` markers and a `QUOTES:` block like any model.
Both end in the same verifier.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import anthropic
import anyio

from rag_service.core.config import Settings
from rag_service.generation.base import Draft, GivenQuote, Passage
from rag_service.generation.citations import reply_from_blocks
from rag_service.generation.llm import (
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

PROVIDER = "Anthropic"
_ERRORS = (anthropic.AnthropicError, json.JSONDecodeError, AttributeError, TypeError, ValueError)


class AnthropicGenerator:
    name = "anthropic"

    def __init__(self, config: LLMConfig) -> None:
        self.config = config
        self.model = config.model
        self.max_tokens = config.max_tokens
        self.limiter = config.limiter
        self.min_relevance = config.min_relevance
        self.mode = "native" if config.output in ("auto", "native") else "text"
        self.counter = TokenCounter.for_model("anthropic", config.model)
        common = config.client_args()
        self._client = anthropic.Anthropic(**common)
        self._aclient = anthropic.AsyncAnthropic(**common)

    @classmethod
    def from_settings(
        cls, s: Settings, limiter: UpstreamLimiter | None = None
    ) -> AnthropicGenerator:
        return cls(LLMConfig.for_provider(s, "anthropic", limiter))

    def _request(self, question: str, passages: list[Passage]) -> tuple[dict[str, Any], Prepared]:
        prep = prepare(self.config, self.mode, question, passages, self.counter)
        if self.mode == "native":
            content: Any = [
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": p.text},
                    "title": f"Passage {p.n}",
                    "context": f"From {p.document}"
                    + (f", section {p.heading}" if p.heading else ""),
                    "citations": {"enabled": True},
                }
                for p in prep.passages
            ]
            content.append({"type": "text", "text": f"Question: {question}"})
        else:
            content = build_user_message(question, prep.passages)
        req = {
            "model": self.model,
            "system": prep.prompt.text,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": self.max_tokens,
        }
        return req, prep

    def _draft(self, msg: Any, prep: Prepared) -> Draft:
        usage = {"input_tokens": msg.usage.input_tokens, "output_tokens": msg.usage.output_tokens}
        model = msg.model or self.model
        texts = [b for b in msg.content if b.type == "text"]
        raw = "".join(b.text for b in texts)
        if self.mode != "native":
            draft = parse_answer(raw, prep.passages, model=model, usage=usage)
            return finish_draft(draft, self.config, prep)
        blocks: list[tuple[str, list[GivenQuote]]] = []
        for b in texts:
            cites = []
            for c in getattr(b, "citations", None) or []:
                i = getattr(c, "document_index", None)
                if c.type != "char_location" or i is None or not 0 <= i < len(prep.passages):
                    continue
                cites.append(
                    GivenQuote(
                        prep.passages[i].n, c.cited_text, c.start_char_index, c.end_char_index
                    )
                )
            blocks.append((b.text, cites))
        reply = reply_from_blocks(blocks)
        draft = Draft(raw.strip(), [], reply.abstained, usage, model, reply=reply)
        return finish_draft(draft, self.config, prep)

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
                msg = client.messages.create(
                    model=self.model,
                    system=condense_prompt().text,
                    messages=[{"role": "user", "content": condense_message(question, previous)}],
                    max_tokens=CONDENSE_MAX_TOKENS,
                )
                text = "".join(b.text for b in msg.content if b.type == "text")
                usage = {
                    "input_tokens": msg.usage.input_tokens,
                    "output_tokens": msg.usage.output_tokens,
                }
            except _ERRORS as exc:
                raise upstream_error(exc, anthropic, PROVIDER) from exc
        return condensed(text, msg.model or self.model, usage, self.config)

    def generate(
        self, question: str, passages: list[Passage], *, slot: Slot | None = None, **_: Any
    ) -> Draft:
        with held(self.limiter, slot):
            req, prep = self._request(question, passages)
            try:
                msg = self._client.messages.create(**req)
                return self._draft(msg, prep)
            except _ERRORS as exc:
                raise upstream_error(exc, anthropic, PROVIDER) from exc

    def stream(
        self, question: str, passages: list[Passage], *, slot: Slot | None = None, **_: Any
    ) -> Iterator[str | Draft]:
        acc = StreamAccumulator()
        with held(self.limiter, slot):
            req, prep = self._request(question, passages)
            try:
                with self._client.messages.stream(**req) as events:
                    for text in events.text_stream:
                        if out := acc.feed(text):
                            yield out
                    final = events.get_final_message()
                draft = self._draft(final, prep)
            except _ERRORS as exc:
                raise upstream_error(exc, anthropic, PROVIDER) from exc
        yield draft

    async def astream(
        self, question: str, passages: list[Passage], *, slot: Slot | None = None, **_: Any
    ) -> AsyncIterator[str | Draft]:
        """`stream` on the async client: closing this iterator (a client that went away)
        closes the upstream connection, which ends the model's work."""
        acc = StreamAccumulator()
        with held(self.limiter, slot):
            req, prep = self._request(question, passages)
            manager = self._aclient.messages.stream(**req)
            events = None
            try:
                events = await manager.__aenter__()
                async for text in events.text_stream:
                    if out := acc.feed(text):
                        yield out
                final = await events.get_final_message()
                draft = self._draft(final, prep)
            except _ERRORS as exc:
                raise upstream_error(exc, anthropic, PROVIDER) from exc
            finally:
                if events is not None:
                    with anyio.CancelScope(shield=True):
                        await manager.__aexit__(None, None, None)
        yield draft
