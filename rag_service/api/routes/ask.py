"""POST /v1/ask and POST /v1/ask/stream."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse

from rag_service.api.deps import PipelineDep, ServicesDep
from rag_service.api.routes.conversations import begin_turn, record_turn
from rag_service.api.schemas import AskRequest, AskResponse, ask_body
from rag_service.core.errors import InvalidInput, RagError
from rag_service.pipeline import AskResult, validate_question

router = APIRouter(prefix="/v1", tags=["ask"])
log = logging.getLogger(__name__)


def _record(request: Request, result: AskResult) -> None:
    """For the request log and /metrics (never the answer or the documents)."""
    request.state.abstained = not result.answerable
    request.state.trace_id = result.trace_id
    if not result.answerable:
        request.app.state.metrics.abstentions.labels(result.reason).inc()


def check_length(text: str, max_chars: int, what: str = "question") -> None:
    """As sent, white space included: the limit the OpenAPI document states (maxLength)."""
    if len(text) > max_chars:
        raise InvalidInput(f"{what} is {len(text)} characters; the limit is {max_chars}")


@router.post("/ask", response_model=AskResponse)
def ask(
    body: AskRequest,
    pipeline: PipelineDep,
    services: ServicesDep,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Answer from the documents with verified citations, or abstain (`answerable: false`).
    With `conversation_id`, a follow-up is read in the light of the turns before it."""
    check_length(body.question, pipeline.max_question_chars)
    request.state.provider = body.provider or pipeline.default_provider
    turn = begin_turn(request, services, body.conversation_id)
    with pipeline.tracer.request("ask", body.question) as trace:
        result = pipeline.ask(
            body.question,
            top_k=body.top_k,
            provider=body.provider,
            conversation=turn.conversation,
        )
        result.trace_id = trace.trace_id
        trace.update(output={"answerable": result.answerable, "reason": result.reason})
    _record(request, result)
    response.headers["X-Abstained"] = "false" if result.answerable else "true"
    if result.trace_id:
        response.headers["X-Trace-Id"] = result.trace_id
    out = ask_body(result)
    record_turn(turn, body.question, out)
    return out


@router.post("/ask/stream", response_class=EventSourceResponse)
async def ask_stream(
    body: AskRequest, pipeline: PipelineDep, services: ServicesDep, request: Request
) -> EventSourceResponse:
    """Server-Sent Events: `citations` (the passages offered), `delta` (answer text, in order),
    then `done` with the same body as /v1/ask (verified claims and citations). A failure after
    the stream has started arrives as an `error` event. A client that disconnects cancels the
    upstream LLM call."""
    # Bad input, unknown providers and a full upstream (503 + Retry-After) are refused before
    # the stream starts, with a status.
    check_length(body.question, pipeline.max_question_chars)
    validate_question(body.question, pipeline.max_question_chars)
    gen = pipeline.generator(body.provider)
    request.state.provider = gen.name
    turn = await run_in_threadpool(begin_turn, request, services, body.conversation_id)
    limiter = getattr(gen, "limiter", None)
    slot = limiter.reserve() if limiter is not None else None

    async def frames() -> AsyncIterator[dict[str, str]]:
        try:
            with pipeline.tracer.request("ask", body.question) as trace:
                events = pipeline.ask_stream_async(
                    body.question,
                    top_k=body.top_k,
                    provider=body.provider,
                    slot=slot,
                    conversation=turn.conversation,
                )
                try:
                    async for name, item in events:
                        data = item
                        if isinstance(item, AskResult):
                            item.trace_id = trace.trace_id
                            _record(request, item)
                            data = ask_body(item)
                            await run_in_threadpool(record_turn, turn, body.question, data)
                        yield {"event": name, "data": json.dumps(data, ensure_ascii=False)}
                finally:
                    await events.aclose()
        except RagError as exc:
            request.app.state.metrics.count_if_upstream(gen.name, exc)
            error = {"code": exc.code, "message": exc.message, "status": exc.status}
            yield {"event": "error", "data": json.dumps({"error": error})}
        except Exception:  # the HTTP status is already sent: report in-band, never a trace
            log.exception("stream failed")
            error = {"code": "internal_error", "message": "internal error"}
            yield {"event": "error", "data": json.dumps({"error": error})}
        finally:
            if slot is not None:
                slot.release()

    return EventSourceResponse(frames(), ping=15)
