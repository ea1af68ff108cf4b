"""Anthropic's Messages API through the official SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic

from rag_service.core.config import Settings
from rag_service.generation.base import Draft, Passage
from rag_service.generation.llm import (
    SYSTEM_PROMPT,
    LLMConfig,
    StreamAccumulator,
    build_user_message,
    parse_answer,
    upstream_error,
)

PROVIDER = "Anthropic"


class AnthropicGenerator:
    name = "anthropic"

    def __init__(self, config: LLMConfig) -> None:
        self.model = config.model
        self.max_tokens = config.max_tokens
        self._client = anthropic.Anthropic(
            api_key=config.api_key or "unused",
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )

    @classmethod
    def from_settings(cls, s: Settings) -> AnthropicGenerator:
        return cls(LLMConfig.for_provider(s, "anthropic"))

    def _request(self, question: str, passages: list[Passage]) -> dict:
        return {
            "model": self.model,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": build_user_message(question, passages)}],
            "max_tokens": self.max_tokens,
        }

    def generate(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
    ) -> Draft:
        try:
            msg = self._client.messages.create(**self._request(question, passages))
            text = "".join(b.text for b in msg.content if b.type == "text")
            usage = {
                "input_tokens": msg.usage.input_tokens,
                "output_tokens": msg.usage.output_tokens,
            }
        except (anthropic.AnthropicError, json.JSONDecodeError) as exc:
            raise upstream_error(exc, anthropic, PROVIDER) from exc
        except (AttributeError, TypeError, ValueError) as exc:
            raise upstream_error(exc, anthropic, PROVIDER) from exc
        return parse_answer(text, passages, model=msg.model or self.model, usage=usage)

    def stream(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
    ) -> Iterator[str | Draft]:
        acc = StreamAccumulator()
        try:
            with self._client.messages.stream(**self._request(question, passages)) as events:
                for text in events.text_stream:
                    if out := acc.feed(text):
                        yield out
                final = events.get_final_message()
            usage = {
                "input_tokens": final.usage.input_tokens,
                "output_tokens": final.usage.output_tokens,
            }
            model = final.model or self.model
        except (anthropic.AnthropicError, json.JSONDecodeError) as exc:
            raise upstream_error(exc, anthropic, PROVIDER) from exc
        except (AttributeError, ValueError) as exc:  # a stream we cannot decode
            raise upstream_error(exc, anthropic, PROVIDER) from exc
        yield parse_answer(acc.text, passages, model=model, usage=usage)
