"""`rag-serve`: run the API (embedded database and bundled corpus by default)."""

from __future__ import annotations

import uvicorn

from rag_service.core.config import get_settings
from rag_service.core.logging import configure_logging


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        "rag_service.api.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
