"""FastAPI application factory; the edge of the service and error mapping in one place."""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag_service.api.access import AccessControl
from rag_service.api.jobs import IngestJobs
from rag_service.api.metrics import Metrics
from rag_service.api.openapi import document_errors
from rag_service.api.routes import ask, conversations, documents, health, jobs, search
from rag_service.core.config import Settings, get_settings
from rag_service.core.database import database_error
from rag_service.core.errors import Overloaded, RagError, Unauthorized
from rag_service.services import Services, open_services
from rag_service.web import mount_web

log = logging.getLogger("rag_service.api")
MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around an uploaded file
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _error(
    status: int,
    code: str,
    message: str,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    if request_id:
        body["request_id"] = request_id
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def error_response(exc: RagError, request_id: str | None = None) -> JSONResponse:
    response = _error(exc.status, exc.code, exc.message, request_id)
    if exc.retry_after_s is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _request_id(scope: Scope) -> str | None:
    request_id: str | None = scope.get("state", {}).get("request_id")
    return request_id


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        provider = getattr(request.state, "provider", None) or "unknown"
        app.state.metrics.count_if_upstream(provider, exc)
        return error_response(exc, _request_id(request.scope))

    @app.exception_handler(psycopg.Error)
    async def database(request: Request, exc: psycopg.Error) -> JSONResponse:
        """PostgreSQL errors by class (data -> 422, integrity -> 409, unavailable -> 503);
        anything else is a bug, answered as a 500 by the edge."""
        mapped = database_error(exc)
        if mapped is None:
            raise exc
        log.warning("database error %s (sqlstate %s)", type(exc).__name__, exc.sqlstate)
        return error_response(mapped, _request_id(request.scope))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = details[0]["msg"] if details else "invalid request"
        return _error(422, "invalid_input", first, _request_id(request.scope), details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        message = str(exc.detail)
        if status == 413:
            limit = request.scope.get("state", {}).get("body_limit")
            message = f"request body exceeds the {limit:,}-byte limit" if limit else message
        elif status == 400:  # a body FastAPI could not parse: invalid input, as elsewhere
            status, message = 422, "the request body could not be parsed"
        headers = dict(exc.headers or {})
        if status == 405 and (allowed := _allowed(app, request.scope["path"])):
            headers["Allow"] = ", ".join(allowed)  # every method of the path, as documented
        code = HTTP_CODES.get(status, "invalid_input" if status == 422 else "http_error")
        return _error(status, code, message, _request_id(request.scope), headers)


def _allowed(app: FastAPI, path: str) -> list[str]:
    """The methods the OpenAPI document lists for `path` (Starlette's 405 names only those of
    the first route whose path matched)."""
    methods: set[str] = set()
    for template, operations in app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            methods |= {m.upper() for m in operations}
    return sorted(methods)


class BodyTooLarge(StarletteHTTPException):
    def __init__(self) -> None:
        super().__init__(413, "request body too large", {"Connection": "close"})


def _counted(receive: Receive, limit: int) -> Receive:
    """`receive` that raises BodyTooLarge (an HTTP 413, which FastAPI's body parsing passes
    through to the handler) once more than `limit` body bytes have arrived: JSON or
    multipart, with a Content-Length or chunked, nothing past the limit is buffered."""
    total = 0

    async def counted() -> Message:
        nonlocal total
        message = await receive()
        if message["type"] == "http.request":
            total += len(message.get("body", b""))
            if total > limit:
                raise BodyTooLarge()
        return message

    return counted


class Edge:
    """The outermost layer: a request id, access control (keys, scopes, limits), admission
    (at most RAG_MAX_IN_FLIGHT /v1 requests in progress, else 503 at once), the body limit
    for the route (counted while the body streams in, chunked or not), one access-log line and
    the metrics, and the last word on errors: an exception nobody handled is logged once with
    the request id and answered as a JSON 500, and the connection stays usable.

    The access log holds the path without its query string (which may hold a question or a
    key), the status, the latency and what the routes recorded (abstained, provider, trace)."""

    def __init__(self, app: ASGIApp, settings: Settings, access: AccessControl, metrics: Metrics):
        self.app = app
        self.access = access
        self.metrics = metrics
        self.max_in_flight = settings.in_flight_limit
        self.json_limit = settings.max_json_bytes
        self.upload_limit = settings.max_document_bytes + MULTIPART_OVERHEAD
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        headers = Headers(scope=scope)
        given = headers.get("x-request-id", "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        method, path = scope["method"], scope["path"]
        client = scope.get("client")
        address = client[0] if client else "unknown"
        started, admitted = False, False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start" and not started:
                started = True
                # logged and counted as the response starts, as the client sees it begin
                self._observe(scope, method, path, message["status"], time.perf_counter() - t0)
                extra = (b"x-request-id", request_id.encode())
                message = {**message, "headers": [*message.get("headers", []), extra]}
            await send(message)

        try:
            refusal = self.access.refuse(method, path, headers, address)
            if refusal is None and self.max_in_flight and path.startswith("/v1/"):
                if self.in_flight >= self.max_in_flight:
                    refusal = Overloaded(
                        f"the server is at capacity ({self.max_in_flight} requests in progress);"
                        " retry shortly"
                    )
                else:
                    self.in_flight += 1
                    admitted = True
            if refusal is not None:
                await error_response(refusal, request_id)(scope, receive, send_with_id)
            else:
                upload = method == "POST" and path == "/v1/documents"
                limit = self.upload_limit if upload else self.json_limit
                state["body_limit"] = limit
                declared = headers.get("content-length", "")
                if declared.isdigit() and int(declared) > limit:
                    response = _error(
                        413,
                        "payload_too_large",
                        f"request body exceeds the {limit:,}-byte limit",
                        request_id,
                        {"Connection": "close"},
                    )
                    await response(scope, receive, send_with_id)
                else:
                    await self.app(scope, _counted(receive, limit), send_with_id)
        except Exception:
            log.exception(
                "unhandled error in %s %s",
                method,
                path,
                extra={"request_id": request_id, "method": method, "path": path, "status": 500},
            )
            if not started:
                response = _error(
                    500, "internal_error", "internal error; see the server log", request_id
                )
                await response(scope, receive, send_with_id)
        finally:
            if admitted:
                self.in_flight -= 1

    def _observe(self, scope: Scope, method: str, path: str, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        self.metrics.observe_request(template, method, status, seconds)
        state = scope.get("state", {})
        extra = {
            "request_id": state.get("request_id"),
            "method": method,
            "path": path,
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
        }
        for key in ("abstained", "provider", "trace_id"):
            if (value := state.get(key)) is not None:
                extra[key] = value
        log.info("%s %s %d %.1fms", method, path, status, seconds * 1000, extra=extra)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """With `services` given (tests, evals) the app uses them and does not close them."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or await run_in_threadpool(
            partial(open_services, settings, ingest_bundled=settings.ingest_on_start, attach=False)
        )
        app.state.jobs = IngestJobs(
            app.state.services,
            workers=settings.ingest_workers,
            max_pending=settings.max_pending_uploads,
        )
        try:
            yield
        finally:
            await run_in_threadpool(app.state.jobs.close)
            if owned:
                await run_in_threadpool(app.state.services.close)

    docs = settings.docs_enabled
    app = FastAPI(
        title="RAG service",
        version="0.1.0",
        summary="Grounded, cited answers over your documents.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.metrics = Metrics()
    app.state.settings = settings
    install_error_handlers(app)

    if settings.metrics_enabled:

        @app.get("/metrics", include_in_schema=False)
        def metrics() -> Response:
            return Response(app.state.metrics.render(), media_type=app.state.metrics.content_type)

    for router in (
        health.router,
        ask.router,
        search.router,
        conversations.router,
        documents.router,
        jobs.router,
    ):
        app.include_router(router)
    mount_web(app)
    document_errors(app, settings)
    access = AccessControl(settings)
    app.add_middleware(Edge, settings=settings, access=access, metrics=app.state.metrics)
    return app
