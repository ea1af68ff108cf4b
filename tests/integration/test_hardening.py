"""Issue 18, bad input: each input that answered 500 (or worse) answers the right 4xx with a
message of ours, at the HTTP boundary, against the real embedded PostgreSQL."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from rag_service.api.app import create_app
from rag_service.core.config import get_settings
from rag_service.core.database import database_error
from rag_service.core.errors import Conflict, DatabaseUnavailable, InvalidInput
from rag_service.services import open_services
from tests.conftest import LiveServer
from tests.integration.hardening_support import bomb_pdf, embedded_only

POSTGRES_WORDS = ("postgres", "psycopg", "sqlstate", "byte sequence", "index row", "btree")


def assert_ours(r: httpx.Response, status: int, code: str | None = None) -> dict:
    """`status`, the JSON error shape with a request id, nothing of PostgreSQL's."""
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and err["request_id"] == r.headers["x-request-id"]
    if code:
        assert err["code"] == code, err
    assert not any(w in r.text.lower() for w in POSTGRES_WORDS), r.text
    assert "Traceback" not in r.text
    return err


def raw_upload(http: httpx.Client, name: bytes, data: bytes) -> httpx.Response:
    """A multipart upload with the file name's bytes as given (httpx would escape them)."""
    body = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="'
        + name
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + data
        + b"\r\n--b0undary--\r\n"
    )
    headers = {"content-type": "multipart/form-data; boundary=b0undary"}
    return http.post("/v1/documents", content=body, headers=headers)


# -- NUL and other unstorable characters -------------------------------------------------


@pytest.mark.parametrize(
    "question", ["what is\\u0000 the day rate?", "day rate \\ud800?", "rate\\u001b[31m", "\\u007f"]
)
def test_control_characters_in_a_question_are_422(http: httpx.Client, question: str) -> None:
    """Sent as JSON escapes, as a client would: `\\u0000`, a lone surrogate `\\ud800`."""
    body = b'{"question": "' + question.encode() + b'"}'
    for path in ("/v1/ask", "/v1/ask/stream"):
        r = http.post(path, content=body, headers={"content-type": "application/json"})
        assert_ours(r, 422, "invalid_input")


def test_nul_in_a_search_query_is_422(http: httpx.Client) -> None:
    assert_ours(http.get("/v1/search", params={"q": "day\x00rate"}), 422, "invalid_input")


def test_nul_in_a_document_key_is_422(http: httpx.Client) -> None:
    for method in ("GET", "DELETE"):
        assert_ours(http.request(method, "/v1/documents/a%00b.txt"), 422, "invalid_input")


@pytest.mark.parametrize("name", [b"a\x00b.txt", b"line\nbreak.txt", b"tab\there.txt"])
def test_control_characters_in_an_uploaded_file_name_are_422(
    http: httpx.Client, name: bytes
) -> None:
    r = raw_upload(http, name, b"hello world, a document")
    assert_ours(r, 422, "invalid_input")


def test_a_text_file_with_nul_past_8_kb_is_422(http: httpx.Client) -> None:
    data = b"Plain text. " * 1000 + b"\x00 and then more text."
    assert len(data) > 8192
    r = http.post("/v1/documents", files={"file": ("nul-late.txt", data)})
    assert_ours(r, 422, "bad_document")
    assert http.get("/v1/documents/nul-late.txt").status_code == 404


# -- document keys ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["١", "¹", "²3", "٣", "1" * 40, "99999999999999999999"])
def test_unicode_and_huge_digits_are_not_ids(http: httpx.Client, key: str) -> None:
    """`١`.isdigit() is true and int('١') == 1: such keys must not name document 1."""
    r = http.get(f"/v1/documents/{key}")
    assert_ours(r, 404, "not_found")
    assert http.delete(f"/v1/documents/{key}").status_code == 404
    assert http.get("/v1/documents/1").status_code in (200, 404)


# -- file names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "x" * 3000 + ".txt",
        "é" * 200 + ".txt",  # 400 bytes in UTF-8
        "../escape.txt",
        "dir\\file.txt",
        ".hidden.txt",
        " padded.txt",
    ],
)
def test_bad_file_names_are_422(http: httpx.Client, name: str) -> None:
    r = http.post("/v1/documents", files={"file": (name, b"A short document about rates.")})
    err = assert_ours(r, 422, "invalid_input")
    assert "name" in err["message"]


def test_the_longest_name_allowed_is_stored(http: httpx.Client) -> None:
    name = "n" * 251 + ".txt"  # 255 bytes
    r = http.post("/v1/documents", files={"file": (name, b"The retention bonus is 4,321 pounds.")})
    assert r.status_code == 201, r.text
    assert http.delete(f"/v1/documents/{r.json()['document_id']}").status_code == 204


def test_a_bundled_corpus_name_is_reserved(http: httpx.Client) -> None:
    name = "uk-ai-engineer-skills-gaps-2026.txt"
    before = http.get(f"/v1/documents/corpus/{name}").json()
    r = http.post("/v1/documents", files={"file": (name, b"Shadowing the corpus.")})
    assert_ours(r, 409, "conflict")
    assert http.get(f"/v1/documents/corpus/{name}").json()["sha256"] == before["sha256"]


def test_two_file_parts_are_422(http: httpx.Client) -> None:
    files = [("file", ("a.txt", b"first part text")), ("file", ("b.txt", b"second part text"))]
    assert_ours(http.post("/v1/documents", files=files), 422, "invalid_input")


def test_an_unchanged_upload_is_200_with_its_chunks(http: httpx.Client) -> None:
    files = {"file": ("same-again.md", b"# Notice\nThe notice period is 3 months.\n")}
    first = http.post("/v1/documents", files=files)
    try:
        assert first.status_code == 201
        again = http.post("/v1/documents", files=files)
        assert again.status_code == 200
        assert again.json()["status"] == "unchanged"
        assert again.json()["chunks"] == first.json()["chunks"] >= 1
    finally:
        http.delete("/v1/documents/same-again.md")


# -- strict types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"question": "ok?", "top_k": True},
        {"question": "ok?", "top_k": 2.5},
        {"question": "ok?", "top_k": "3"},
        {"question": "ok?", "provider": "made-up"},
        {"question": ["a list"]},
    ],
)
def test_strict_types(http: httpx.Client, body: dict) -> None:
    assert_ours(http.post("/v1/ask", json=body), 422, "invalid_input")


def test_a_malformed_body_is_422_on_every_route(http: httpx.Client) -> None:
    for path in ("/v1/ask", "/v1/ask/stream"):
        r = http.post(path, content=b"{not json", headers={"content-type": "application/json"})
        assert_ours(r, 422, "invalid_input")


def test_405_says_what_is_allowed(http: httpx.Client) -> None:
    r = http.put("/v1/ask", json={"question": "x"})
    assert r.status_code == 405
    assert "POST" in r.headers["allow"]


# -- API keys ----------------------------------------------------------------------------


def test_non_ascii_api_keys(settings, services) -> None:
    from pydantic import SecretStr

    s = settings.model_copy(update={"api_keys": SecretStr("clé-secrète, plain-key")})
    with LiveServer(create_app(s, services)) as live, httpx.Client(base_url=live.url) as c:
        wrong = c.get("/v1/documents", headers={"x-api-key": "ключ".encode()})
        assert_ours(wrong, 401, "unauthorized")
        right = c.get("/v1/documents", headers={"x-api-key": "clé-secrète".encode()})
        assert right.status_code == 200
        assert c.get("/v1/documents", headers={"x-api-key": "plain-key"}).status_code == 200


# -- PDF bombs ---------------------------------------------------------------------------


def test_a_pdf_bomb_is_refused_in_bounded_time(http: httpx.Client, monkeypatch) -> None:
    """1.2 KB that draws 2 M characters: the parse runs in a child process with limits."""
    monkeypatch.setenv("RAG_MAX_PARSE_SECONDS", "2")
    get_settings.cache_clear()
    try:
        r = http.post("/v1/documents", files={"file": ("bomb.pdf", bomb_pdf(2_000_000))})
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    err = assert_ours(r, 422, "bad_document")
    assert "PDF" in err["message"]
    assert r.elapsed.total_seconds() < 10
    assert http.get("/v1/documents/bomb.pdf").status_code == 404


def test_too_many_characters_is_422(http: httpx.Client, monkeypatch) -> None:
    monkeypatch.setenv("RAG_MAX_DOCUMENT_CHARS", "1000")
    get_settings.cache_clear()
    try:
        r = http.post("/v1/documents", files={"file": ("long.txt", b"Words and words. " * 100)})
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert "limit is 1,000" in assert_ours(r, 422, "bad_document")["message"]


# -- PostgreSQL errors, by class ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT 1/0", InvalidInput),  # 22012: a data exception
        ("SELECT repeat('x', 10)::varchar(2)::char(1)::int", InvalidInput),  # 22P02
        ("SELECT pg_sleep(2)", DatabaseUnavailable),  # 57014 by statement_timeout
        ("CREATE TEMP TABLE t (x int PRIMARY KEY); INSERT INTO t VALUES (1), (1)", Conflict),
    ],
)
def test_postgres_errors_are_mapped_by_class(services, sql: str, error: type) -> None:
    with pytest.raises(error) as caught, services.db.connection() as conn:
        conn.execute("SET LOCAL statement_timeout = 200")
        for statement in sql.split("; "):
            conn.execute(statement)
    assert not any(w in caught.value.message.lower() for w in POSTGRES_WORDS)
    assert isinstance(caught.value.__cause__, psycopg.Error)
    assert database_error(caught.value.__cause__).code == caught.value.code


# -- one upload must not brick the service ----------------------------------------------


@embedded_only
def test_restart_on_the_same_data_dir_after_bad_input(settings, tmp_path: Path) -> None:
    """Everything above is sent to a service on its own data directory, plus rows no
    upload can make today (names of 300 and 2,000 characters, path-like names, written as an
    older version or another tool could have); the service then restarts on the same data
    directory, refreshes its bundled corpus and is ready."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    src = Path(settings.corpus_dir) / "uk-ai-engineer-skills-gaps-2026.txt"
    shutil.copy(src, corpus / src.name)
    s = settings.model_copy(
        update={"data_dir": tmp_path / "data", "corpus_dir": corpus, "database_url": None}
    )
    first = open_services(s, ingest_bundled=True)
    try:
        with LiveServer(create_app(s, first)) as live, httpx.Client(base_url=live.url) as c:
            for name in ("x" * 300 + ".txt", "a\x00.txt", "../../etc/passwd", "é" * 127 + ".md"):
                c.post("/v1/documents", files={"file": (name, b"The bonus is 1,234 pounds.")})
            c.post("/v1/ask", json={"question": "rate\x00?"})
            c.get("/v1/documents/١")
        with first.db.connection() as conn:
            for name in ("y" * 300 + ".txt", "../" * 600 + "z.txt", "sub/dir/" + "w" * 260):
                conn.execute(
                    "INSERT INTO documents (source, title, sha256, bytes, content)"
                    " VALUES (%s, 't', 'x', 1, 'text')",
                    (name,),
                )
            conn.commit()
    finally:
        first.close()
    (corpus / src.name).write_text(src.read_text() + "\nAdded line: the tea budget is £5.\n")
    second = open_services(s, ingest_bundled=True)
    try:
        with LiveServer(create_app(s, second)) as live, httpx.Client(base_url=live.url) as c:
            ready = c.get("/readyz")
            assert ready.status_code == 200, ready.text
            doc = c.get(f"/v1/documents/corpus/{src.name}").json()
            assert doc["bytes"] == (corpus / src.name).stat().st_size  # refreshed
    finally:
        second.close()


# -- uploads as jobs ---------------------------------------------------------------------

ASYNC = {"prefer": "respond-async"}


def _follow(http: httpx.Client, location: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(location).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job not done in {timeout} s: {job}")


def test_an_upload_can_be_a_job(http: httpx.Client) -> None:
    files = {"file": ("job-upload.md", b"# Perks\nThe cycle-to-work allowance is 1,357 pounds.\n")}
    r = http.post("/v1/documents", files=files, headers=ASYNC)
    assert r.status_code == 202, r.text
    assert r.headers["preference-applied"] == "respond-async"
    location = r.headers["location"]
    assert location == f"/v1/jobs/{r.json()['id']}" and r.json()["source"] == "job-upload.md"
    try:
        job = _follow(http, location)
        assert job["status"] == "succeeded" and job["error"] is None
        assert job["outcome"]["status"] == "added" and job["outcome"]["chunks"] >= 1
        doc = http.get(f"/v1/documents/{job['outcome']['document_id']}").json()
        assert doc["source"] == "job-upload.md"
        again = http.post("/v1/documents", files=files)  # waiting for its job: as before
        assert again.status_code == 200 and again.json()["job_id"]
    finally:
        http.delete("/v1/documents/job-upload.md")


def test_a_failed_job_says_why(http: httpx.Client) -> None:
    r = http.post("/v1/documents", files={"file": ("empty-job.txt", b"   ")}, headers=ASYNC)
    assert r.status_code == 202
    job = _follow(http, r.headers["location"])
    assert job["status"] == "failed" and job["outcome"] is None
    assert job["error"]["code"] == "bad_document" and job["error"]["status"] == 422


def test_a_job_whose_process_died_is_reported_failed(http: httpx.Client, services) -> None:
    job_id = str(uuid.uuid4())
    with services.db.connection() as conn:
        conn.execute(
            "INSERT INTO ingest_jobs (id, source, status, heartbeat_at)"
            " VALUES (%s, 'lost.md', 'running', now() - interval '5 minutes')",
            (job_id,),
        )
        conn.commit()
    job = http.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "failed" and job["error"]["code"] == "interrupted"


def test_unknown_and_malformed_job_ids(http: httpx.Client) -> None:
    assert_ours(http.get(f"/v1/jobs/{uuid.uuid4()}"), 404, "not_found")
    assert_ours(http.get("/v1/jobs/not-a-uuid"), 422, "invalid_input")
