"""Issue 18, logs and access: no questions or query-string secrets in logs, no secrets in
settings errors, key scopes, throttled failed authentication, docs and metrics behind keys."""

from __future__ import annotations

import logging
import traceback

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from rag_service.api.access import key_digest, match_key
from rag_service.api.app import create_app
from rag_service.core.config import Settings
from rag_service.core.logging import configure_logging
from tests.conftest import LiveServer
from tests.integration.hardening_support import embedded_only

# Nothing here depends on which PostgreSQL serves the index: not run again externally.
pytestmark = embedded_only

READ, ADMIN = "reader-key-1", "admin-key-1"


@pytest.fixture()
def keyed(settings, services):
    s = settings.model_copy(
        update={
            "api_keys": SecretStr(READ),
            "admin_api_keys": SecretStr(ADMIN),
            "auth_failures_per_minute": 5,
        }
    )
    with LiveServer(create_app(s, services)) as live:
        yield live.url


def test_access_log_has_no_question_and_no_query_string(http: httpx.Client, caplog) -> None:
    secret = "my-secret-question-7781"
    with caplog.at_level(logging.DEBUG):
        http.get("/v1/search", params={"q": secret, "api_key": "sk-leak-123"})
        http.post("/v1/ask", json={"question": secret})
    lines = [r for r in caplog.records if r.name == "rag_service.api"]
    assert {r.path for r in lines} >= {"/v1/search", "/v1/ask"}
    for r in caplog.records:
        if r.name.startswith(("httpx", "httpcore")):
            continue  # this test's own client
        text = r.getMessage() + repr(r.__dict__)
        assert secret not in text and "sk-leak-123" not in text


def test_debug_logging_keeps_sdk_request_dumps_off() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("debug")
    try:
        for name in ("openai", "anthropic", "httpcore"):
            assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING
        assert logging.getLogger("uvicorn.access").disabled
    finally:  # its handler writes to this test's captured stderr, closed after the test
        root.handlers[:], level = saved
        root.setLevel(level)


@pytest.mark.parametrize(
    "env",
    [
        {"RAG_TOP_K": "many"},
        {"RAG_ENV": "production"},
        {"RAG_DB_POOL_MAX": "0"},
    ],
)
def test_settings_errors_do_not_print_secrets(env: dict, monkeypatch) -> None:
    secrets = {
        "OPENAI_API_KEY": "sk-very-secret-1",
        "LANGFUSE_SECRET_KEY": "lf-very-secret-2",
        "ANTHROPIC_API_KEY": "ant-very-secret-3",
    }
    for k, v in {**secrets, **env}.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError) as caught:
        Settings()
    printed = "".join(traceback.format_exception(caught.value))  # what a failed start shows
    assert not any(v in printed for v in secrets.values())


def test_scopes(keyed: str) -> None:
    files = {"file": ("scoped.md", b"# Scope\nThe scoped bonus is 1,111 pounds.\n")}
    with httpx.Client(base_url=keyed) as c:
        read = {"authorization": f"Bearer {READ}"}
        admin = {"x-api-key": ADMIN}
        assert c.get("/v1/documents", headers=read).status_code == 200
        assert c.post("/v1/ask", json={"question": "day rate?"}, headers=read).status_code == 200
        denied = c.post("/v1/documents", files=files, headers=read)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
        assert c.delete("/v1/documents/1", headers=read).status_code == 403
        assert c.post("/v1/documents", files=files, headers=admin).status_code == 201
        assert c.delete("/v1/documents/scoped.md", headers=admin).status_code == 204


def test_failed_authentication_is_throttled_per_address(keyed: str) -> None:
    with httpx.Client(base_url=keyed) as c:
        codes = [
            c.get("/v1/documents", headers={"x-api-key": f"guess-{i}"}).status_code
            for i in range(7)
        ]
        assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
        # throttled: even the right key waits (a guess that happens to be right is no signal)
        blocked = c.get("/v1/documents", headers={"x-api-key": READ})
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
        assert c.get("/healthz").status_code == 200


def test_docs_and_metrics_need_a_key_or_are_off(keyed: str, settings, services) -> None:
    with httpx.Client(base_url=keyed) as c:
        for path in ("/docs", "/openapi.json", "/metrics"):
            assert c.get(path).status_code in (401, 429), path
    s = settings.model_copy(update={"docs_enabled": False, "metrics_enabled": False})
    with LiveServer(create_app(s, services)) as live, httpx.Client(base_url=live.url) as c:
        for path in ("/docs", "/redoc", "/openapi.json", "/metrics"):
            assert c.get(path).status_code == 404, path


def test_openapi_declares_security_and_errors(settings, services) -> None:
    s = settings.model_copy(update={"api_keys": SecretStr(READ)})
    spec = create_app(s, services).openapi()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    ask = spec["paths"]["/v1/ask"]["post"]
    assert ask["security"] == [{"bearer": []}, {"apiKey": []}]
    assert {"401", "413", "422", "429", "503", "502", "504"} <= set(ask["responses"])
    error = ask["responses"]["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert "Retry-After" in ask["responses"]["503"]["headers"]
    upload = spec["paths"]["/v1/documents"]["post"]["responses"]
    assert {"200", "201", "403", "409", "413", "415"} <= set(upload)


def test_key_matching_compares_every_key() -> None:
    keys = [(key_digest("k1"), "read"), (key_digest("k2"), "admin")]
    assert match_key("k2", keys) == "admin" and match_key("k1", keys) == "read"
    assert match_key("k3", keys) is None and match_key(None, keys) is None
    assert match_key("ключ".encode().decode("latin-1"), [(key_digest("ключ"), "read")])
