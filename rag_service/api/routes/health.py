"""Liveness and readiness: answered on the event loop, never queued behind request threads."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rag_service.core.documents import index_counts

router = APIRouter(tags=["health"])

# The one database round trip of /readyz runs on threads of its own: a request pool saturated
# by /v1 work does not make the service look dead to its orchestrator.
_READY_THREADS = anyio.CapacityLimiter(2)
READY_TIMEOUT_S = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready to answer: database reachable, model loaded, index non-empty (503 otherwise)."""
    services = getattr(request.app.state, "services", None)
    checks: dict[str, Any] = {"database": False, "model": False, "documents": 0, "chunks": 0}
    if services is not None:
        checks["model"] = services.embedder is not None

        def counts() -> tuple[int, int]:
            with services.db.connection() as conn:
                return index_counts(conn)

        try:
            with anyio.fail_after(READY_TIMEOUT_S):
                checks["documents"], checks["chunks"] = await anyio.to_thread.run_sync(
                    counts, abandon_on_cancel=True, limiter=_READY_THREADS
                )
            checks["database"] = True
        except Exception:
            checks["database"] = False
    ready = checks["database"] and checks["model"] and checks["chunks"] > 0
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", **checks}, status_code=200 if ready else 503
    )
