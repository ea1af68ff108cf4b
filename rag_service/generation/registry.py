"""Which generators exist for this configuration: every factory registered in the
`rag_service.generators` entry-point group (pyproject.toml) that returns one. The built-ins
below are registered there like any plug-in; the extractive one always answers."""

from __future__ import annotations

from rag_service.core import plugins
from rag_service.core.config import Settings
from rag_service.generation.base import Generator
from rag_service.generation.extractive import ExtractiveGenerator
from rag_service.generation.llm import UpstreamLimiter


def build_generators(settings: Settings) -> dict[str, Generator]:
    """Every registered generator whose factory returns one for these settings (an LLM
    provider does when its key or endpoint is configured), keyed by entry-point name. LLM
    providers share one limit on calls in flight (RAG_LLM_MAX_CONCURRENCY).

    A factory is `(settings, limiter) -> Generator | None`."""
    limiter = UpstreamLimiter(settings.llm_max_concurrency)
    generators: dict[str, Generator] = {}
    for name, entry in sorted(plugins.registered(plugins.GENERATORS).items()):
        generator = entry.load()(settings, limiter)
        if generator is not None:
            generators[name] = generator
    return generators


def extractive(settings: Settings, limiter: UpstreamLimiter) -> Generator:
    """Offline, verbatim answers: always available."""
    return ExtractiveGenerator()


def openai(settings: Settings, limiter: UpstreamLimiter) -> Generator | None:
    """OpenAI or an OpenAI-compatible server, when a key or an endpoint is configured."""
    if not settings.llm_providers["openai"].configured:
        return None
    from rag_service.generation.openai_provider import OpenAIGenerator

    return OpenAIGenerator.from_settings(settings, limiter)


def anthropic(settings: Settings, limiter: UpstreamLimiter) -> Generator | None:
    """Anthropic, when a key or an endpoint is configured."""
    if not settings.llm_providers["anthropic"].configured:
        return None
    from rag_service.generation.anthropic_provider import AnthropicGenerator

    return AnthropicGenerator.from_settings(settings, limiter)
