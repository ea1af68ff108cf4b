"""API keys and rate limiting for /v1/* (both off unless configured)."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from fastapi import Request

from rag_service.core.config import Settings
from rag_service.core.errors import RateLimited, Unauthorized


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key")


class TokenBuckets:
    """Per-client token buckets, in this process (each replica limits its own share)."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 if allowed, else the seconds until a token is available."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                if len(self._buckets) >= self.max_clients and client not in self._buckets:
                    self._buckets.clear()  # bounded memory under many distinct clients
                self._buckets[client] = (tokens - 1, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1 - tokens) / self.rate


class AccessControl:
    def __init__(self, settings: Settings) -> None:
        self._keys = settings.key_set
        self._buckets = (
            TokenBuckets(settings.rate_limit_rps, settings.rate_limit_burst)
            if settings.rate_limit_rps > 0
            else None
        )

    def check(self, request: Request) -> None:
        if not request.url.path.startswith("/v1/"):
            return
        key = presented_key(request)
        if self._keys and not (key and any(hmac.compare_digest(key, k) for k in self._keys)):
            raise Unauthorized("missing or invalid API key (Authorization: Bearer <key>)")
        if self._buckets is not None:
            # clients are told apart by key when keys are on (never logged), else by address
            ident = (
                hashlib.sha256(key.encode()).hexdigest()
                if key
                else (request.client.host if request.client else "unknown")
            )
            wait = self._buckets.take(ident)
            if wait > 0:
                raise RateLimited(f"rate limit exceeded; retry in {wait:.1f} s", wait)
