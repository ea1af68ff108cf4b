"""POST /v1/ask and POST /v1/ask/stream."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter
from sse_starlette import EventSourceResponse

from rag_service.api.deps import PipelineDep, ServicesDep
from rag_service.api.routes.conversations import begin_turn, record_turn
from rag_service.api.schemas import AskRequest, AskResponse, ask_body
from rag_service.core.errors import InvalidInput, RagError
from rag_service.pipeline import AskResult, RagPipeline, validate_question
from rag_service.services import Services

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


# The /v1/ask body as FastAPI would make it from the response model (validated, then dumped
# to JSON by pydantic), but in the request's worker thread: see `ask`.
_ASK_RESPONSE = TypeAdapter(AskResponse)


@router.post("/ask", response_model=AskResponse)
async def ask(
    body: AskRequest, pipeline: PipelineDep, services: ServicesDep, request: Request
) -> Response:
    """Answer from the documents with verified citations, or abstain (`answerable: false`).
    With `conversation_id`, a follow-up is read in the light of the turns before it."""
    check_length(body.question, pipeline.max_question_chars)
    request.state.provider = body.provider or pipeline.default_provider
    # One thread hop for the whole answer. A plain `def` route costs two: FastAPI runs it in
    # a worker thread, then validates its returned dict against the response model in
    # another; under load each hop waits for a thread and the GIL.
    return await run_in_threadpool(answer, body, pipeline, services, request)


def answer(
    body: AskRequest, pipeline: RagPipeline, services: Services, request: Request
) -> Response:
    """The blocking part of /v1/ask (database, model, CPU): the answer, the conversation's
    turn recorded, and the JSON body the response model defines."""
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
    headers = {"X-Abstained": "false" if result.answerable else "true"}
    if result.trace_id:
        headers["X-Trace-Id"] = result.trace_id
    out = ask_body(result)
    record_turn(turn, body.question, out)
    content = _ASK_RESPONSE.dump_json(_ASK_RESPONSE.validate_python(out), by_alias=True)
    return Response(content, media_type="application/json", headers=headers)


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
