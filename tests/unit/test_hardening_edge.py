"""Issue 18, the edge without a database: an unhandled error is one log line, one metric and a
JSON 500 with the request id on a connection that stays usable; token buckets forget the least
recently seen client, not everyone; the input rules."""

from __future__ import annotations

import logging

import httpx
import pytest

from rag_service.api.access import AccessControl, TokenBuckets
from rag_service.api.app import Edge
from rag_service.api.metrics import Metrics
from rag_service.core.config import Settings
from rag_service.core.errors import InvalidInput
from rag_service.core.inputs import (
    check_document_key,
    check_source_name,
    check_text,
    document_id,
)


async def _broken(scope, receive, send) -> None:
    if scope["path"] == "/ok":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"fine"})
        return
    raise RuntimeError("a bug")


@pytest.mark.asyncio
async def test_an_unhandled_error_is_a_logged_json_500(caplog) -> None:
    settings = Settings()
    metrics = Metrics()
    edge = Edge(_broken, settings=settings, access=AccessControl(settings), metrics=metrics)
    transport = httpx.ASGITransport(app=edge)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        with caplog.at_level(logging.ERROR, logger="rag_service.api"):
            r = await c.get("/v1/boom", headers={"x-request-id": "req-42"})
        assert r.status_code == 500
        assert r.json()["error"] == {
            "code": "internal_error",
            "message": "internal error; see the server log",
            "request_id": "req-42",
        }
        assert r.headers["x-request-id"] == "req-42"
        assert (await c.get("/ok")).status_code == 200
    errors = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].request_id == "req-42"
    assert 'status="500"' in metrics.render().decode()


def test_a_request_id_that_is_not_plain_is_replaced() -> None:
    import asyncio

    settings = Settings()
    edge = Edge(_broken, settings=settings, access=AccessControl(settings), metrics=Metrics())

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=edge)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.get("/ok", headers={"x-request-id": "a b\tc" + "x" * 100})

    r = asyncio.run(go())
    assert r.headers["x-request-id"] != "a b\tc" + "x" * 100
    assert len(r.headers["x-request-id"]) == 16


def test_token_buckets_forget_the_least_recently_seen_client_only() -> None:
    buckets = TokenBuckets(rate=0.001, burst=1, max_clients=3)
    for client in ("a", "b", "c"):
        assert buckets.take(client) == 0
    assert buckets.take("a") > 0  # a is limited, and now the most recently seen
    assert buckets.take("d") == 0  # b, the least recently seen, is forgotten
    assert buckets.take("a") > 0 and buckets.take("c") > 0  # still limited
    assert buckets.take("b") == 0  # forgotten: starts full again


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\x1b", "\x9b"])
def test_unstorable_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        check_text(text, "question")


def test_text_with_tabs_and_line_breaks_is_fine() -> None:
    assert check_text("two\nlines\tand a tab\r\n", "question")


@pytest.mark.parametrize(
    ("key", "expected"),
    [("1", 1), ("0042", 42), ("١", None), ("¹", None), ("1" * 19, None), ("a1", None)],
)
def test_document_ids_are_ascii_digits(key: str, expected: int | None) -> None:
    assert document_id(key) == expected


def test_names_and_keys() -> None:
    assert check_source_name("Q3 report (final).pdf") == "Q3 report (final).pdf"
    assert check_source_name("é" * 126 + ".md")  # 255 bytes in UTF-8
    with pytest.raises(InvalidInput, match="255 bytes"):
        check_source_name("é" * 127 + ".md")
    assert check_document_key("sub/dir/a.md") == "sub/dir/a.md"  # corpus names hold folders
    with pytest.raises(InvalidInput):
        check_document_key("k" * 256)
