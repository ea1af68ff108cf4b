"""Which generators exist for this configuration. The extractive one always does."""

from __future__ import annotations

from rag_service.core.config import Settings
from rag_service.generation.base import Generator
from rag_service.generation.extractive import ExtractiveGenerator
from rag_service.generation.llm import UpstreamLimiter


def build_generators(settings: Settings) -> dict[str, Generator]:
    """Every provider whose credentials or endpoint are configured, keyed by name. LLM
    providers share one limit on calls in flight (RAG_LLM_MAX_CONCURRENCY)."""
    generators: dict[str, Generator] = {"extractive": ExtractiveGenerator()}
    limiter = UpstreamLimiter(settings.llm_max_concurrency)
    if settings.openai_api_key or settings.openai_base_url:
        from rag_service.generation.openai_provider import OpenAIGenerator

        generators["openai"] = OpenAIGenerator.from_settings(settings, limiter)
    if settings.anthropic_api_key or settings.anthropic_base_url:
        from rag_service.generation.anthropic_provider import AnthropicGenerator

        generators["anthropic"] = AnthropicGenerator.from_settings(settings, limiter)
    return generators
