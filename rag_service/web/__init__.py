"""The web page: a static ES-module app served at `/` (no build step, no CDN, no network).

It talks to the same /v1 API as any client: it streams answers from /v1/ask/stream, keeps the
conversation id for follow-ups, and shows each citation's span in the document text from
/v1/documents/{key}/text.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(str(resources.files("rag_service.web") / "static"))


def mount_web(app: FastAPI) -> None:
    """`/` serves the page, `/static/*` its modules and styles."""

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
