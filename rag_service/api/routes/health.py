"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rag_service.core.documents import index_counts

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready to answer: database reachable, model loaded, index non-empty."""
    services = getattr(request.app.state, "services", None)
    checks: dict[str, Any] = {"database": False, "model": False, "documents": 0, "chunks": 0}
    if services is not None:
        checks["model"] = services.embedder is not None
        try:
            with services.db.connection() as conn:
                checks["documents"], checks["chunks"] = index_counts(conn)
            checks["database"] = True
        except Exception:
            checks["database"] = False
    ready = checks["database"] and checks["model"] and checks["chunks"] > 0
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", **checks}, status_code=200 if ready else 503
    )
