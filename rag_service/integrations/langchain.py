"""A LangChain retriever over a running rag-service: `RagServiceRetriever` asks the service over
HTTP and returns LangChain `Document`s that carry their citation (document key, chunk id, the
exact character span in the stored text, the score), so a LangChain chain can quote and link
what it used.

    pip install "rag-service[langchain]"

    from rag_service.integrations.langchain import RagServiceRetriever
    retriever = RagServiceRetriever(base_url="http://127.0.0.1:8000", api_key="...")
    docs = retriever.invoke("What is the notice period?")

Two modes. `search` (default): the service's ranked passages (`GET /v1/search`), the whole
chunk as `page_content`; for chains that generate their own answer. `ask`: the service answers
(`POST /v1/ask`) and only the verified citations come back, each quote as `page_content` and
the answer in the metadata; nothing when the service abstains. Only this module imports
LangChain; the service never does.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import Field, SecretStr


class RagServiceError(RuntimeError):
    """The service refused or failed a request; `code` and `status` are the service's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"rag-service {status} {code}: {message}")
        self.status = status
        self.code = code


class RagServiceRetriever(BaseRetriever):
    """Retrieve from a running rag-service (see the module docstring)."""

    base_url: str = Field(description="Where the service listens, e.g. http://127.0.0.1:8000.")
    api_key: SecretStr | None = Field(None, description="A key with the `read` scope, if set.")
    mode: Literal["search", "ask"] = "search"
    k: int = Field(5, ge=1, le=50, description="Passages to return (search) or read (ask).")
    provider: str | None = Field(None, description="ask: a provider configured on the server.")
    timeout_s: float = 60.0

    def _headers(self) -> dict[str, str]:
        key = self.api_key.get_secret_value() if self.api_key else ""
        return {"authorization": f"Bearer {key}"} if key else {}

    def _request(self, query: str) -> tuple[str, str, dict[str, Any]]:
        if self.mode == "search":
            return "GET", "/v1/search", {"params": {"q": query, "k": self.k}}
        body: dict[str, Any] = {"question": query, "top_k": self.k}
        if self.provider:
            body["provider"] = self.provider
        return "POST", "/v1/ask", {"json": body}

    def _documents(self, response: httpx.Response) -> list[Document]:
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise RagServiceError(
                response.status_code,
                error.get("code", "http_error"),
                error.get("message", response.text[:200]),
            )
        return search_documents(body) if self.mode == "search" else ask_documents(body)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        method, path, kwargs = self._request(query)
        with httpx.Client(
            base_url=self.base_url, headers=self._headers(), timeout=self.timeout_s
        ) as client:
            return self._documents(client.request(method, path, **kwargs))

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        method, path, kwargs = self._request(query)
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers(), timeout=self.timeout_s
        ) as client:
            return self._documents(await client.request(method, path, **kwargs))


def search_documents(body: dict[str, Any]) -> list[Document]:
    """`/v1/search` hits as Documents: the chunk's text, its span in the stored document."""
    return [
        Document(
            page_content=hit["text"],
            id=str(hit["chunk_id"]),
            metadata={
                "document": hit["document"],
                "chunk_id": hit["chunk_id"],
                "start": hit["start"],
                "end": hit["end"],
                "score": hit["score"],
                "heading": hit["heading"],
                "truncated": hit.get("truncated", False),
            },
        )
        for hit in body.get("hits", [])
    ]


def ask_documents(body: dict[str, Any]) -> list[Document]:
    """`/v1/ask` citations as Documents (none when the service abstained): each verbatim quote,
    its span, and the answer it supports."""
    if not body.get("answerable"):
        return []
    return [
        Document(
            page_content=c["quote"],
            id=f"{c['chunk_id']}:{c['start']}-{c['end']}",
            metadata={
                "document": c["document"],
                "chunk_id": c["chunk_id"],
                "start": c["start"],
                "end": c["end"],
                "score": c["score"],
                "answer": body.get("answer", ""),
                "provider": body.get("provider"),
                "trace_id": body.get("trace_id"),
            },
        )
        for c in body.get("citations", [])
    ]
