"""The OpenAPI document tells the truth: the security schemes, and every error each operation
really answers with, in the one error shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from rag_service.api.schemas import ErrorBody
from rag_service.core import plugins
from rag_service.core.config import Settings
from rag_service.core.inputs import KEY_PATTERN, MAX_KEY_CHARS, TEXT_PATTERN, UUID_PATTERN

ERRORS = {
    400: "Malformed request line or headers.",
    401: "Missing or invalid API key (when keys are configured).",
    403: "The key's scope does not allow this operation (uploads and deletes need admin).",
    404: "No such document.",
    409: "The name is reserved for a bundled-corpus document.",
    413: "The request body is over its limit.",
    415: "Unsupported file type.",
    422: "Invalid input: validation, control characters, an unreadable document, an "
    "unconfigured provider.",
    429: "Rate-limited, or too many failed authentications from this address.",
    500: "A bug: logged with the request id.",
    502: "The LLM provider failed or refused our credentials.",
    503: "Database unavailable, server at capacity, or LLM calls at their limit: retry.",
    504: "The LLM provider timed out.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
    }
}


def _statuses(path: str, method: str, keys: bool) -> list[int]:
    if not path.startswith("/v1/"):
        return []
    out = [422, 429, 500, 503]
    if keys:
        out.append(401)
    if method == "post":
        out.append(413)
    if "{" in path:
        out.append(404)
    if path.startswith("/v1/ask"):
        out += [404, 502, 504]  # 404: an unknown conversation_id
    if path.startswith("/v1/documents") and method in ("post", "delete") and keys:
        out.append(403)
    if path == "/v1/documents" and method == "post":
        out += [409, 415]
    return sorted(set(out))


def configured_providers(settings: Settings) -> list[str]:
    """The generators `build_generators` makes from these settings: the extractive one, the
    configured built-in LLM providers, and any other registered plug-in (whether it answers
    depends on its own settings, which only it can tell)."""
    builtin = {"extractive", *settings.llm_providers}
    names = ["extractive"]
    names += [n for n, p in settings.llm_providers.items() if p.configured]
    names += sorted(set(plugins.registered(plugins.GENERATORS)) - builtin)
    return names


def _constrain_inputs(schema: dict[str, Any], settings: Settings) -> None:
    """What the models cannot say statically: the limits and providers of this server, and
    the characters the service refuses, so that every request the document allows is one the
    service accepts."""
    schemas = schema["components"]["schemas"]
    props = schemas["AskRequest"]["properties"]
    props["question"].update(maxLength=settings.max_question_chars, pattern=TEXT_PATTERN)
    provider = next(a for a in props["provider"]["anyOf"] if a.get("type") == "string")
    provider["enum"] = configured_providers(settings)
    if "conversation_id" in props:
        for option in props["conversation_id"].get("anyOf", []):
            if option.get("type") == "string":
                option["pattern"] = UUID_PATTERN
    for operations in schema["paths"].values():
        for op in operations.values():
            for param in op.get("parameters", []):
                if param["name"] == "q":
                    param["schema"].update(
                        maxLength=settings.max_question_chars, pattern=TEXT_PATTERN
                    )
                elif param["name"] == "key" and param["in"] == "path":
                    param["schema"].update(maxLength=MAX_KEY_CHARS, pattern=KEY_PATTERN)
                elif param["name"] in ("conversation_id", "job_id") and param["in"] == "path":
                    param["schema"].update(pattern=UUID_PATTERN)


def document_errors(app: FastAPI, settings: Settings) -> None:
    keys = bool(settings.key_set)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}))
        schemas["ErrorBody"] = body
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        _constrain_inputs(schema, settings)
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for path, operations in schema.get("paths", {}).items():
            for method, op in operations.items():
                responses = op.setdefault("responses", {})
                responses.pop("422", None)
                for status in _statuses(path, method, keys):
                    entry: dict[str, Any] = {
                        "description": ERRORS[status],
                        "content": {"application/json": {"schema": ref}},
                    }
                    if status in (429, 503):
                        entry["headers"] = RETRY_AFTER
                    responses[str(status)] = entry
                if path.startswith("/v1/"):
                    # with keys off (local mode) a request needs none: {} says so
                    op["security"] = [{"bearer": []}, {"apiKey": []}] if keys else [{}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
