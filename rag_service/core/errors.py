"""One exception hierarchy for the service; the API maps each class to an HTTP status in one
place."""

from __future__ import annotations


class RagError(Exception):
    """Base class. `status` is the HTTP status the API answers with; `code` a stable error name;
    `retry_after_s`, when set, becomes a `Retry-After` header (the condition is temporary)."""

    status: int = 500
    code: str = "internal_error"
    retry_after_s: float | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(RagError):
    status, code = 422, "invalid_input"


class NotFound(RagError):
    status, code = 404, "not_found"


class Unauthorized(RagError):
    status, code = 401, "unauthorized"


class Forbidden(RagError):
    """A valid key without the scope the operation needs (e.g. a `read` key deleting)."""

    status, code = 403, "forbidden"


class Conflict(RagError):
    """The request clashes with what is stored (an upload named like a bundled-corpus file)."""

    status, code = 409, "conflict"


class RateLimited(RagError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PayloadTooLarge(RagError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(RagError):
    status, code = 415, "unsupported_media_type"


class DocumentError(RagError):
    """A document that cannot be ingested: unreadable, empty, binary, oversized, unsupported."""

    status, code = 422, "bad_document"


class EmbeddingModelMismatch(RagError):
    """The index was built with another embedding model; mixing vector spaces is refused."""

    status, code = 503, "embedding_model_mismatch"


class DatabaseUnavailable(RagError):
    """Connection lost, server restarting, pool exhausted, statement timed out: retry later."""

    status, code = 503, "database_unavailable"

    def __init__(self, message: str, retry_after_s: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Overloaded(RagError):
    """More requests in flight than the process admits (RAG_MAX_IN_FLIGHT): shed at once."""

    status, code = 503, "overloaded"

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ProviderNotConfigured(RagError):
    status, code = 422, "provider_not_configured"


class UpstreamError(RagError):
    status, code = 502, "upstream_error"


class UpstreamTimeout(RagError):
    status, code = 504, "upstream_timeout"


class UpstreamAuthError(RagError):
    """The LLM provider refused our credentials: a configuration problem on the server side."""

    status, code = 502, "upstream_configuration_error"


class UpstreamBusy(RagError):
    """Too many LLM calls in flight (RAG_LLM_MAX_CONCURRENCY): retry after `retry_after_s`."""

    status, code = 503, "upstream_busy"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
