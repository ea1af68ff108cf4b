"""Who may call what: API keys with scopes, throttling of failed authentication, rate limits.

All off in local mode with no keys configured. With keys on:
- `/v1/*`, `/metrics` and the API docs need a key (`Authorization: Bearer <key>` or
  `X-API-Key`); `/healthz` and `/readyz` never do;
- a `read` key (RAG_API_KEYS) may ask, search, list and get; uploading and deleting need an
  `admin` key (RAG_ADMIN_API_KEYS), else 403;
- keys are compared as SHA-256 digests against every configured key, so the time taken says
  nothing about a key's content or length;
- a client address that fails authentication more than RAG_AUTH_FAILURES_PER_MINUTE times gets
  429 for everything until its allowance refills, whether its next key is right or not.
Keys are never logged; a limited client is told apart by the digest of its key.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Literal

from rag_service.core.config import Settings
from rag_service.core.errors import Forbidden, RagError, RateLimited, Unauthorized

Scope = Literal["read", "admin"]
ADMIN_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ADMIN_PATHS = ("/v1/documents",)  # writes under these need the admin scope
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def presented_key(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("x-api-key")


def key_digest(key: str, *, from_header: bool = False) -> bytes:
    """SHA-256 of a key's bytes. Header values arrive decoded as Latin-1, so a key sent as
    UTF-8 is re-encoded the same way to get its bytes back; a configured key is UTF-8."""
    raw = key.encode("latin-1", "replace") if from_header else key.encode("utf-8")
    return hashlib.sha256(raw).digest()


def match_key(presented: str | None, keys: list[tuple[bytes, Scope]]) -> Scope | None:
    """The scope of the presented key, or None. Every configured key is compared (no early
    exit), each in constant time over digests of one length."""
    if presented is None:
        return None
    candidate = key_digest(presented, from_header=True)
    scope: Scope | None = None
    for digest, key_scope in keys:
        if hmac.compare_digest(candidate, digest):
            scope = key_scope
    return scope


class TokenBuckets:
    """Per-client token buckets, in this process (each replica limits its own share). At most
    `max_clients` are kept: the least recently seen client is forgotten first, and a client
    whose bucket has refilled loses nothing by being forgotten."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate, self.burst, self.max_clients = rate, burst, max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _level(self, client: str, now: float) -> float:
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def _store(self, client: str, tokens: float, now: float) -> None:
        self._buckets[client] = (tokens, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def take(self, client: str) -> float:
        """0 if allowed (a token is taken), else the seconds until a token is available."""
        now = time.monotonic()
        with self._lock:
            tokens = self._level(client, now)
            if tokens >= 1:
                self._store(client, tokens - 1, now)
                return 0.0
            self._store(client, tokens, now)
            return (1 - tokens) / self.rate

    def wait(self, client: str) -> float:
        """Like `take` but takes nothing: 0 while the client has a token left."""
        now = time.monotonic()
        with self._lock:
            if client not in self._buckets:
                return 0.0
            tokens = self._level(client, now)
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


class AccessControl:
    def __init__(self, settings: Settings) -> None:
        self._keys: list[tuple[bytes, Scope]] = [
            (key_digest(k), "read") for k in sorted(settings.read_key_set)
        ] + [(key_digest(k), "admin") for k in sorted(settings.admin_key_set)]
        self.enabled = bool(self._keys)
        per_minute = settings.auth_failures_per_minute
        self._failures = TokenBuckets(per_minute / 60.0, per_minute)
        self._buckets = (
            TokenBuckets(settings.rate_limit_rps, settings.rate_limit_burst)
            if settings.rate_limit_rps > 0
            else None
        )

    @staticmethod
    def guarded(path: str) -> bool:
        return path.startswith("/v1/") or path == "/metrics" or path in DOC_PATHS

    def check(self, method: str, path: str, headers: Mapping[str, str], address: str) -> None:
        """Raises the RagError to answer with (401, 403, 429) or returns: the call may go on."""
        if not self.guarded(path):
            return
        key = presented_key(headers)
        ident = address
        if self.enabled:
            if wait := self._failures.wait(address):
                raise RateLimited(f"too many failed authentications; retry in {wait:.0f} s", wait)
            scope = match_key(key, self._keys)
            if scope is None:
                self._failures.take(address)
                raise Unauthorized("missing or invalid API key (Authorization: Bearer <key>)")
            if scope != "admin" and method in ADMIN_METHODS and path.startswith(ADMIN_PATHS):
                raise Forbidden("this key has the read scope; uploads and deletes need admin")
            ident = key_digest(key or "", from_header=True).hex()
        if self._buckets is not None and path.startswith("/v1/"):
            wait = self._buckets.take(ident)
            if wait > 0:
                raise RateLimited(f"rate limit exceeded; retry in {wait:.1f} s", wait)

    def refuse(
        self, method: str, path: str, headers: Mapping[str, str], address: str
    ) -> RagError | None:
        """The error to answer with, or None."""
        try:
            self.check(method, path, headers, address)
        except RagError as exc:
            return exc
        return None
