"""API keys (401), rate limits (429) and the production guard."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from rag_service.api.app import create_app
from rag_service.core.config import Settings
from tests.conftest import LiveServer

Q = {"question": "What is the median day rate for an AI Engineer?"}


def test_api_keys_guard_v1_but_not_health(settings, services) -> None:
    s = settings.model_copy(update={"api_keys": SecretStr("alpha-key, beta-key")})
    with LiveServer(create_app(s, services)) as live, httpx.Client(base_url=live.url) as c:
        missing = c.post("/v1/ask", json=Q)
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "unauthorized"
        assert missing.headers["www-authenticate"] == "Bearer"
        assert (
            c.post("/v1/ask", json=Q, headers={"authorization": "Bearer nope"}).status_code == 401
        )
        ok = c.post("/v1/ask", json=Q, headers={"authorization": "Bearer beta-key"})
        assert ok.status_code == 200 and ok.json()["answerable"] is True
        assert c.get("/v1/documents", headers={"x-api-key": "alpha-key"}).status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200
        assert c.get("/metrics").status_code == 401  # keyed like /v1 when keys are on
        assert 'status="401"' in c.get("/metrics", headers={"x-api-key": "alpha-key"}).text


def test_rate_limit_answers_429_with_retry_after(settings, services) -> None:
    s = settings.model_copy(update={"rate_limit_rps": 0.5, "rate_limit_burst": 2})
    with LiveServer(create_app(s, services)) as live, httpx.Client(base_url=live.url) as c:
        codes = [c.get("/v1/search", params={"q": "day rate"}).status_code for _ in range(4)]
        assert codes[:2] == [200, 200] and codes[2:] == [429, 429]
        limited = c.get("/v1/search", params={"q": "day rate"})
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert c.get("/healthz").status_code == 200  # never limited


def test_production_requires_api_keys() -> None:
    with pytest.raises(ValidationError, match="RAG_API_KEYS"):
        Settings(RAG_ENV="production")
    assert Settings(RAG_ENV="production", RAG_API_KEYS="k1").key_set == {"k1"}
