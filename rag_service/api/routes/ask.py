"""POST /v1/ask and POST /v1/ask/stream."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from sse_starlette import EventSourceResponse

from rag_service.api.deps import PipelineDep
from rag_service.api.schemas import AskRequest, AskResponse
from rag_service.core.errors import RagError
from rag_service.pipeline import AskResult, RagPipeline, validate_question

router = APIRouter(prefix="/v1", tags=["ask"])


def _record(request: Request, result: AskResult) -> None:
    """For the request log and /metrics (never the answer or the documents)."""
    request.state.abstained = not result.answerable
    request.state.trace_id = result.trace_id
    if not result.answerable:
        request.app.state.metrics.abstentions.labels(result.reason).inc()


@router.post("/ask", response_model=AskResponse)
def ask(
    body: AskRequest, pipeline: PipelineDep, request: Request, response: Response
) -> dict[str, Any]:
    """Answer from the documents with verified citations, or abstain (`answerable: false`)."""
    request.state.provider = body.provider or pipeline.default_provider
    with pipeline.tracer.request("ask", body.question) as trace:
        result = pipeline.ask(body.question, top_k=body.top_k, provider=body.provider)
        result.trace_id = trace.trace_id
        trace.update(output={"answerable": result.answerable, "reason": result.reason})
    _record(request, result)
    response.headers["X-Abstained"] = "false" if result.answerable else "true"
    if result.trace_id:
        response.headers["X-Trace-Id"] = result.trace_id
    return result.body()


def _produce(
    pipeline: RagPipeline,
    body: AskRequest,
    request: Request,
    loop: asyncio.AbstractEventLoop,
    queue: asyncio.Queue,
) -> None:
    """Runs the whole stream in one thread, so the trace's context stays with it."""

    def put(item: tuple[str, Any] | None) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, item)

    try:
        with pipeline.tracer.request("ask", body.question) as trace:
            for name, data in pipeline.ask_stream(
                body.question, top_k=body.top_k, provider=body.provider
            ):
                if isinstance(data, AskResult):
                    data.trace_id = trace.trace_id
                    _record(request, data)
                    put((name, data.body()))
                else:
                    put((name, data))
    except RagError as exc:
        provider = body.provider or pipeline.default_provider
        request.app.state.metrics.count_if_upstream(provider, exc)
        put(("error", {"error": {"code": exc.code, "message": exc.message, "status": exc.status}}))
    except Exception:  # the HTTP status is already sent: report in-band, never a trace
        put(("error", {"error": {"code": "internal_error", "message": "internal error"}}))
    finally:
        put(None)


@router.post("/ask/stream", response_class=EventSourceResponse)
async def ask_stream(
    body: AskRequest, pipeline: PipelineDep, request: Request
) -> EventSourceResponse:
    """Server-Sent Events: `citations` (the passages offered), `delta` (answer text, in order),
    then `done` with the same body as /v1/ask (verified citations). A failure after the stream
    has started arrives as an `error` event."""
    # Bad input and unknown providers are refused before the stream starts, with a status.
    validate_question(body.question, pipeline.max_question_chars)
    request.state.provider = pipeline.generator(body.provider).name
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    threading.Thread(
        target=_produce, args=(pipeline, body, request, loop, queue), daemon=True
    ).start()

    async def frames() -> AsyncIterator[dict[str, str]]:
        while (item := await queue.get()) is not None:
            name, data = item
            yield {"event": name, "data": json.dumps(data, ensure_ascii=False)}

    return EventSourceResponse(frames(), ping=15)
