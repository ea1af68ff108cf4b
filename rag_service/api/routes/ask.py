"""POST /v1/ask and POST /v1/ask/stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Response
from sse_starlette import EventSourceResponse
from starlette.concurrency import iterate_in_threadpool

from rag_service.api.deps import PipelineDep
from rag_service.api.schemas import AskRequest, AskResponse
from rag_service.core.errors import RagError
from rag_service.pipeline import AskResult

router = APIRouter(prefix="/v1", tags=["ask"])


def _observe(response: Response, result: AskResult) -> None:
    response.headers["X-Abstained"] = "false" if result.answerable else "true"
    if result.trace_id:
        response.headers["X-Trace-Id"] = result.trace_id


@router.post("/ask", response_model=AskResponse)
def ask(body: AskRequest, pipeline: PipelineDep, response: Response) -> dict[str, Any]:
    """Answer from the documents with verified citations, or abstain (`answerable: false`)."""
    result = pipeline.ask(body.question, top_k=body.top_k, provider=body.provider)
    _observe(response, result)
    return result.body()


@router.post("/ask/stream", response_class=EventSourceResponse)
def ask_stream(body: AskRequest, pipeline: PipelineDep) -> EventSourceResponse:
    """Server-Sent Events: `citations` (the passages offered), `delta` (answer text, in order),
    then `done` with the same body as /v1/ask (verified citations). A failure after the stream
    has started arrives as an `error` event."""
    # Validation and provider errors surface before the stream starts, as normal HTTP errors.
    events = pipeline.ask_stream(body.question, top_k=body.top_k, provider=body.provider)
    first = next(events)

    def frames() -> Iterator[dict[str, str]]:
        try:
            for name, data in _chain(first, events):
                payload = data.body() if isinstance(data, AskResult) else data
                yield {"event": name, "data": json.dumps(payload, ensure_ascii=False)}
        except RagError as exc:
            err = {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}
            yield {"event": "error", "data": json.dumps(err)}

    return EventSourceResponse(iterate_in_threadpool(frames()), ping=15)


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
