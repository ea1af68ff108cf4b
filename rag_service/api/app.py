"""FastAPI application factory; error mapping in one place."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag_service.api.access import AccessControl
from rag_service.api.metrics import Metrics
from rag_service.api.routes import ask, documents, health, search
from rag_service.core.config import Settings, get_settings
from rag_service.core.errors import RagError, RateLimited, Unauthorized, UpstreamBusy
from rag_service.services import Services, open_services

log = logging.getLogger("rag_service.api")
MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around an uploaded file


def _error(status: int, code: str, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def error_response(exc: RagError) -> JSONResponse:
    response = _error(exc.status, exc.code, exc.message)
    if isinstance(exc, RateLimited | UpstreamBusy):
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
    elif isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        provider = getattr(request.state, "provider", None) or "unknown"
        app.state.metrics.count_if_upstream(provider, exc)
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        first = details[0]["msg"] if details else "invalid request"
        return _error(422, "invalid_input", first, details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return _error(500, "internal_error", "internal error; see the server log")


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """With `services` given (tests, evals) the app uses them and does not close them."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or await run_in_threadpool(
            open_services, settings, ingest_bundled=settings.ingest_on_start
        )
        try:
            yield
        finally:
            if owned:
                await run_in_threadpool(app.state.services.close)

    app = FastAPI(
        title="RAG service",
        version="0.1.0",
        summary="Grounded, cited answers over your documents.",
        lifespan=lifespan,
    )
    app.state.metrics = Metrics()
    install_error_handlers(app)

    access = AccessControl(settings)

    @app.middleware("http")
    async def authorize(request: Request, call_next):
        """API keys and rate limits (when configured) before anything else runs."""
        try:
            access.check(request)
        except RagError as exc:
            return error_response(exc)
        return await call_next(request)

    @app.middleware("http")
    async def refuse_oversized_uploads(request: Request, call_next):
        """413 before a multipart body is parsed (and spooled to disk) when its declared size
        alone is over the limit; the route still counts the bytes it actually reads."""
        if request.method == "POST" and request.url.path == "/v1/documents":
            declared = request.headers.get("content-length", "")
            limit = settings.max_document_bytes
            if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
                return _error(413, "payload_too_large", f"upload exceeds the {limit:,}-byte limit")
        return await call_next(request)

    # Registered last, so it is the outermost: 401/413/429 answers are logged and counted too.
    @app.middleware("http")
    async def observe(request: Request, call_next):
        """Request id, a structured log line and Prometheus metrics for every request."""
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
        request.state.request_id = request_id
        t0 = time.perf_counter()
        response = await call_next(request)
        seconds = time.perf_counter() - t0
        response.headers["X-Request-Id"] = request_id
        route = request.scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        app.state.metrics.observe_request(template, request.method, response.status_code, seconds)
        extra = {
            "request_id": request_id,
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "latency_ms": round(seconds * 1000, 2),
        }
        for key in ("abstained", "provider", "trace_id"):
            if (value := getattr(request.state, key, None)) is not None:
                extra[key] = value
        log.info(
            "%s %s %d %.1fms",
            request.method,
            request.url.path,
            response.status_code,
            seconds * 1000,
            extra=extra,
        )
        return response

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(app.state.metrics.render(), media_type=app.state.metrics.content_type)

    for router in (health.router, ask.router, search.router, documents.router):
        app.include_router(router)
    return app
