"""OpenAI, or any OpenAI-compatible server (vLLM, TGI, Ollama) through `OPENAI_BASE_URL`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai

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

UPSTREAM = "the OpenAI-compatible server"


class OpenAIGenerator:
    name = "openai"

    def __init__(self, config: LLMConfig) -> None:
        self.model = config.model
        self.max_tokens = config.max_tokens
        self._client = openai.OpenAI(
            api_key=config.api_key or "unused",
            base_url=config.base_url,
            timeout=config.timeout_s,
            max_retries=config.max_retries,
        )

    @classmethod
    def from_settings(cls, s: Settings) -> OpenAIGenerator:
        return cls(LLMConfig.for_provider(s, "openai"))

    def _messages(self, question: str, passages: list[Passage]) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": build_user_message(question, passages)},
        ]

    def generate(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
    ) -> Draft:
        try:
            resp = self._client.chat.completions.create(
                model=self.model,
                messages=self._messages(question, passages),
                max_tokens=self.max_tokens,
                temperature=0,
            )
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise upstream_error(exc, openai, UPSTREAM) from exc
        try:  # a 200 whose body is not a chat completion
            text = resp.choices[0].message.content or ""
            usage = (
                {
                    "input_tokens": resp.usage.prompt_tokens,
                    "output_tokens": resp.usage.completion_tokens,
                }
                if resp.usage
                else {}
            )
        except (IndexError, AttributeError, TypeError) as exc:
            raise upstream_error(exc, openai, UPSTREAM) from exc
        return parse_answer(text, passages, model=resp.model or self.model, usage=usage)

    def stream(
        self,
        question: str,
        passages: list[Passage],
        *,
        term_weights: dict[str, float] | None = None,
    ) -> Iterator[str | Draft]:
        acc = StreamAccumulator()
        usage: dict[str, int] = {}
        model = self.model
        try:
            events = self._client.chat.completions.create(
                model=self.model,
                messages=self._messages(question, passages),
                max_tokens=self.max_tokens,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
            for chunk in events:
                model = chunk.model or model
                if chunk.usage:
                    usage = {
                        "input_tokens": chunk.usage.prompt_tokens,
                        "output_tokens": chunk.usage.completion_tokens,
                    }
                for choice in chunk.choices:
                    if (
                        choice.delta
                        and choice.delta.content
                        and (out := acc.feed(choice.delta.content))
                    ):
                        yield out
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            raise upstream_error(exc, openai, UPSTREAM) from exc
        except (AttributeError, ValueError) as exc:  # a stream we cannot decode
            raise upstream_error(exc, openai, UPSTREAM) from exc
        yield parse_answer(acc.text, passages, model=model, usage=usage)
