"""Issue 18, faults: term statistics that disagree with the chunks are repaired at start-up;
one data directory has one owner; the embedded server killed under load comes back by itself
within 10 s, with 503 + Retry-After meanwhile and no chunk lost or duplicated."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from rag_service.api.app import create_app
from rag_service.core.embedded import DataDirInUse, postmaster_running
from rag_service.services import Services, lexicon_is_stale, open_services
from tests.conftest import LiveServer
from tests.integration.hardening_support import embedded_only, scratch_settings

pytestmark = embedded_only

DOC = b"# Allowance\nThe annual learning allowance for AI engineers is 2,468 pounds.\n"
QUESTION = {"question": "What is the annual learning allowance for AI engineers?"}


@pytest.fixture(scope="module")
def own_settings(base_settings, tmp_path_factory):
    return scratch_settings(base_settings, tmp_path_factory.mktemp("faults"))


@pytest.fixture(scope="module")
def own(own_settings) -> Iterator[Services]:
    first = open_services(own_settings, ingest_bundled=True, attach=False)
    try:
        # the statistics change in the document's own transaction: nothing to refresh after it
        first.ingestor.ingest_bytes("allowance.md", DOC, refresh=False)
        with first.db.connection() as conn:
            assert not lexicon_is_stale(conn)
            # statistics that disagree with the chunks anyway (edited, restored apart)
            conn.execute("UPDATE lexicon SET ndoc = ndoc + 1 WHERE word = 'allow'")
            conn.commit()
            assert lexicon_is_stale(conn)
    finally:
        first.close()
    second = open_services(own_settings, ingest_bundled=True, attach=False)
    yield second
    second.close()


def test_a_stale_lexicon_is_repaired_at_start_up(own: Services) -> None:
    with own.db.connection() as conn:
        assert not lexicon_is_stale(conn)
    with LiveServer(create_app(own.settings, own)) as live:
        body = httpx.post(live.url + "/v1/ask", json=QUESTION, timeout=30).json()
    assert body["answerable"] and "2,468" in body["answer"]


def test_one_data_directory_has_one_owner(own: Services, own_settings) -> None:
    with pytest.raises(DataDirInUse, match="in use by another rag-service process"):
        open_services(own_settings, load_pipeline=False, attach=False)
    guest = open_services(own_settings, load_pipeline=False)  # rag-ingest, evals
    try:
        with guest.db.connection() as conn:
            assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] >= 2
    finally:
        guest.close()
    assert postmaster_running(own_settings.pgdata)  # a guest never stops the owner's server
    with own.db.connection() as conn:
        conn.execute("SELECT 1")


def _chunks(services: Services) -> list[tuple[int, int]]:
    with services.db.connection() as conn:
        return conn.execute(
            "SELECT document_id, count(*) FROM chunks GROUP BY 1 ORDER BY 1"
        ).fetchall()


def test_the_killed_server_comes_back_within_10_s(own: Services, own_settings) -> None:
    """SIGKILL the postmaster under load, then keep the load on for 8 s: every failure is a
    503 with Retry-After answered within 10 s of the kill, and from some moment well inside
    those 10 s every request started is answered 200."""
    before = _chunks(own)
    log: list[tuple[float, float, int, str | None]] = []  # started, answered, status, R-A
    stop = threading.Event()

    def load(url: str) -> None:
        with httpx.Client(base_url=url, timeout=15) as c:
            while not stop.is_set():
                t0 = time.monotonic()
                r = c.get("/v1/search", params={"q": "learning allowance", "k": 3})
                log.append((t0, time.monotonic(), r.status_code, r.headers.get("retry-after")))

    with LiveServer(create_app(own_settings, own)) as live:
        clients = [threading.Thread(target=load, args=(live.url,)) for _ in range(2)]
        for t in clients:
            t.start()
        time.sleep(1.0)
        pid = int((own_settings.pgdata / "postmaster.pid").read_text().split()[0])
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        time.sleep(8.0)
        stop.set()
        for t in clients:
            t.join(20)
    after = [(t0 - killed, t1 - killed, s, ra) for t0, t1, s, ra in log if t1 > killed]
    failed = [(t0, t1, s, ra) for t0, t1, s, ra in after if s != 200]
    assert failed and {s for *_, s, _ in failed} == {503}, failed
    assert all(ra and int(ra) >= 1 for *_, ra in failed)
    assert max(t1 for _, t1, _, _ in failed) < 10
    back = max(t0 for t0, *_ in failed)  # every request started later was answered 200
    assert back < 10 and any(t0 > back and s == 200 for t0, _, s, _ in after)
    assert own.db.restarts == 1
    assert _chunks(own) == before
