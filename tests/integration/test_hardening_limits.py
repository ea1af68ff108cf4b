"""Issue 18, bounded memory and load: bodies counted while they stream, header limits, bounded
search responses, fast 503s past the admission limit. The server runs in this process, so
the process's RSS is the server's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest

from rag_service.api.app import create_app
from tests.conftest import LiveServer
from tests.integration.hardening_support import HardenedServer, embedded_only

# Nothing here depends on which PostgreSQL serves the index: not run again externally.
pytestmark = embedded_only

MB = 1 << 20


@pytest.fixture()
def hardened(settings, services) -> Iterator[str]:
    with HardenedServer(create_app(settings, services), settings) as live:
        yield live.url


def _stream(total: int, piece: bytes, head: bytes = b"", pause: float = 0.0) -> Iterator[bytes]:
    yield head
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)
        if pause:
            time.sleep(pause)


def _rss() -> int:
    return psutil.Process().memory_info().rss


def test_a_large_chunked_json_body_is_413_before_it_is_buffered(hardened: str) -> None:
    """200 MB of JSON, chunked (no Content-Length): refused at 64 KB; the process does not
    grow by the body."""
    before = _rss()
    piece = b"x" * MB
    with httpx.Client(base_url=hardened, timeout=30) as c:
        try:
            r = c.post(
                "/v1/ask",
                content=_stream(200 * MB, piece, b'{"question": "'),
                headers={"content-type": "application/json"},
            )
        except httpx.HTTPError:  # the server may close while we still send: also a refusal
            r = None
        if r is not None:
            assert r.status_code == 413
            assert r.json()["error"]["code"] == "payload_too_large"
        assert c.get("/healthz").status_code == 200
    assert _rss() - before < 50 * MB


def test_a_large_chunked_upload_is_413_at_the_document_limit(hardened: str, settings) -> None:
    before = _rss()
    head = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
    )
    with httpx.Client(base_url=hardened, timeout=30) as c:
        try:
            r = c.post(
                "/v1/documents",
                content=_stream(100 * MB, b"a" * MB, head),
                headers={"content-type": "multipart/form-data; boundary=b0undary"},
            )
            assert r.status_code == 413
            assert f"{settings.max_document_bytes + 65536:,}" in r.json()["error"]["message"]
        except httpx.HTTPError:
            pass
        assert c.get("/v1/documents/big.txt").status_code == 404
    assert _rss() - before < 50 * MB


def test_a_declared_oversize_body_is_refused_before_reading(hardened: str) -> None:
    with httpx.Client(base_url=hardened, timeout=10) as c:
        r = c.post(
            "/v1/ask",
            content=b'{"question": "' + b"x" * 70_000 + b'"}',
            headers={"content-type": "application/json"},
        )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


def test_huge_headers_are_refused(hardened: str) -> None:
    t0 = time.perf_counter()
    with httpx.Client(base_url=hardened, timeout=10) as c:
        try:
            r = c.get("/healthz", headers={f"x-pad-{i}": "v" * 4000 for i in range(64)})
            assert 400 <= r.status_code < 500
        except httpx.HTTPError:
            pass  # refused by closing the connection
        assert c.get("/healthz").status_code == 200
    assert time.perf_counter() - t0 < 5


def test_search_responses_are_bounded(settings, services) -> None:
    s = settings.model_copy(update={"search_max_bytes": 10_000})
    with LiveServer(create_app(s, services)) as live, httpx.Client(base_url=live.url) as c:
        r = c.get("/v1/search", params={"q": "AI engineer salary day rate London", "k": 50})
        assert r.status_code == 200
        assert len(r.content) < 10_000 + 500
        body = r.json()
        assert body["truncated"] is True and body["hits"]


def test_past_the_admission_limit_requests_get_503_at_once(settings, services) -> None:
    """A slow upload holds the one slot while its body trickles in; meanwhile another /v1
    request is shed with 503 + Retry-After in milliseconds, and health checks still answer."""
    s = settings.model_copy(update={"max_in_flight": 1})
    with LiveServer(create_app(s, services)) as live, httpx.Client(base_url=live.url) as c:
        head = (
            b'--b0undary\r\nContent-Disposition: form-data; name="file"; '
            b'filename="slow.txt"\r\nContent-Type: text/plain\r\n\r\n'
        )
        slow = threading.Thread(
            target=lambda: httpx.post(
                live.url + "/v1/documents",
                content=_stream(2000, b"Slow words. " * 20, head, pause=0.2),
                headers={"content-type": "multipart/form-data; boundary=b0undary"},
                timeout=30,
            )
        )
        slow.start()
        time.sleep(0.5)
        t0 = time.perf_counter()
        shed = c.get("/v1/documents")
        assert shed.status_code == 503 and shed.json()["error"]["code"] == "overloaded"
        assert int(shed.headers["retry-after"]) >= 1
        assert time.perf_counter() - t0 < 0.5
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        slow.join(30)
        assert c.get("/v1/documents").status_code == 200
