"""The LangChain retriever (the `langchain` extra) against the live service on loopback: the
Documents it returns carry citations that point at the exact span of the stored text; the
service itself never imports LangChain."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest
from pydantic import SecretStr

from rag_service.integrations.langchain import RagServiceError, RagServiceRetriever
from tests.conftest import LiveServer

pytestmark = pytest.mark.integration

QUESTION = "What is the median AI Engineer salary in the UK?"
KEY = "corpus/uk-ai-engineer-skills-gaps-2026.txt"


def stored_text(url: str, key: str) -> str:
    return httpx.get(f"{url}/v1/documents/{key}/text", timeout=30).json()["text"]


def test_search_mode_returns_ranked_chunks_with_their_spans(live_url: str) -> None:
    docs = RagServiceRetriever(base_url=live_url, k=3).invoke(QUESTION)
    assert len(docs) == 3
    assert docs[0].metadata["document"] == KEY
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)
    for d in docs:
        m = d.metadata
        assert set(m) >= {"document", "chunk_id", "start", "end", "score", "heading"}
        assert not m["truncated"]
        assert stored_text(live_url, m["document"])[m["start"] : m["end"]] == d.page_content
        assert d.id == str(m["chunk_id"])


def test_ask_mode_returns_the_verified_citations_and_the_answer(live_url: str) -> None:
    docs = RagServiceRetriever(base_url=live_url, mode="ask").invoke(QUESTION)
    assert docs
    assert "72,000" in docs[0].metadata["answer"]
    for d in docs:
        m = d.metadata
        assert m["document"] == KEY
        assert stored_text(live_url, m["document"])[m["start"] : m["end"]] == d.page_content
    abstained = RagServiceRetriever(base_url=live_url, mode="ask").invoke(
        "What is the capital of France?"
    )
    assert abstained == []


def test_async_use_gives_the_same_documents(live_url: str) -> None:
    retriever = RagServiceRetriever(base_url=live_url, k=2)
    sync_docs = retriever.invoke(QUESTION)
    async_docs = asyncio.run(retriever.ainvoke(QUESTION))
    assert [d.metadata for d in async_docs] == [d.metadata for d in sync_docs]


def test_the_key_is_sent_and_a_refusal_is_an_error(settings, services) -> None:
    keyed = settings.model_copy(update={"api_keys": SecretStr("reader-key-1")})
    from rag_service.api.app import create_app

    with LiveServer(create_app(keyed, services)) as live:
        with pytest.raises(RagServiceError) as refused:
            RagServiceRetriever(base_url=live.url).invoke(QUESTION)
        assert refused.value.status == 401
        docs = RagServiceRetriever(
            base_url=live.url, api_key=SecretStr("reader-key-1"), k=1
        ).invoke(QUESTION)
        assert docs[0].metadata["document"] == KEY


def test_the_service_never_imports_langchain() -> None:
    code = (
        "import sys, rag_service.api.app, rag_service.services, ingestion.cli, rag_service.cli;"
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('langchain')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
