"""Request and response bodies of the HTTP API (v1)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from rag_service.core.errors import InvalidInput
from rag_service.core.inputs import check_text
from rag_service.pipeline import AskResult


def _json_integer(v: object) -> object:
    """A JSON integer: 4 or 4.0, as JSON Schema counts them; never true, "4" or 4.5."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError("must be an integer")
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError("must be an integer")
        return int(v)
    return v


TopK = Annotated[
    int,
    BeforeValidator(_json_integer),
    Field(ge=1, le=20),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 20}),
]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="The question, in plain language.")
    top_k: TopK | None = Field(None, description="Passages given to the generator.")
    provider: Literal["extractive", "openai", "anthropic"] | None = Field(
        None,
        description="A provider configured on this server (422 `provider_not_configured` "
        "otherwise); default: the server's.",
    )
    conversation_id: str | None = Field(
        None,
        max_length=64,
        description="Continue this conversation (an id a previous answer returned): the "
        "question may be a follow-up. Absent: a new conversation starts.",
    )

    @field_validator("question")
    @classmethod
    def not_blank(cls, v: str) -> str:
        try:
            check_text(v, "question")
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        if not v.strip():
            raise ValueError("question must not be blank")
        return v  # its length is checked as sent (the OpenAPI's maxLength), then stripped


class Citation(BaseModel):
    document: str
    chunk_id: int
    quote: str = Field(description="Verbatim text; equals the document's text[start:end].")
    start: int
    end: int
    score: float


class Verification(BaseModel):
    claims: int = Field(description="Claims the model's answer was split into.")
    verified: int = Field(
        description="Claims whose figures, names and negations were found "
        "in a span of a cited passage: the answer is made of these."
    )
    dropped: int = Field(description="Claims removed from the answer as unsupported.")
    mode: str = Field(description="How the model cited: text, json or native.")


class AskResponse(BaseModel):
    answer: str
    answerable: bool
    citations: list[Citation]
    usage: dict[str, int]
    provider: str
    model: str | None = None
    reason: str = Field(description="supported, or why the service abstained.")
    confidence: float | None = Field(None, description="The best evidence's reranker score.")
    timings_ms: dict[str, float]
    trace_id: str | None = None
    verification: Verification | None = Field(
        None, description="LLM answers: what the claim verifier found (None for verbatim answers)."
    )
    cost_usd: float | None = Field(
        None, description="Estimated cost of the LLM call in USD (None when the price is unknown)."
    )
    conversation_id: str | None = Field(
        None, description="The conversation this turn belongs to; send it with a follow-up."
    )
    standalone_question: str | None = Field(
        None, description="The question as searched: a follow-up rewritten to stand alone."
    )
    rewrite: str | None = Field(None, description="`followup` when the question was rewritten.")


def ask_body(result: AskResult) -> dict[str, Any]:
    """An AskResult as the JSON body of /v1/ask (and of the stream's final `done` event): the
    HTTP mapping lives here, not in the pipeline."""
    return {
        "answer": result.answer,
        "answerable": result.answerable,
        "citations": [c.__dict__ for c in result.citations],
        "usage": result.usage,
        "provider": result.provider,
        "model": result.model,
        "reason": result.reason,
        "confidence": round(result.evidence.decision.score, 4) if result.evidence else None,
        "timings_ms": {k: round(v, 2) for k, v in result.timings_ms.items()},
        "trace_id": result.trace_id,
        "verification": result.verification,
        "cost_usd": result.cost_usd,
        "conversation_id": result.conversation_id,
        "standalone_question": result.standalone_question,
        "rewrite": result.rewrite,
    }


class UnitOut(BaseModel):
    kind: str
    text: str
    start: int
    end: int
    dense: float
    score: float


class SearchHit(BaseModel):
    chunk_id: int
    document: str
    heading: str
    text: str
    start: int
    end: int
    vector_rank: int | None
    text_rank: int | None
    fused: float
    dense: float
    score: float
    units: list[UnitOut]
    truncated: bool = Field(False, description="A text was cut to keep the response bounded.")


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]
    truncated: bool = Field(
        False, description="Texts were cut or hits left out (RAG_SEARCH_MAX_BYTES)."
    )


class IngestResponse(BaseModel):
    source: str
    status: Literal["added", "unchanged", "replaced"]
    document_id: int | None
    chunks: int
    job_id: str | None = Field(None, description="The job that indexed it (`GET /v1/jobs/{id}`).")


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable name for the kind of error (`invalid_input`, ...).")
    message: str = Field(description="What went wrong, for a person; never a stack trace.")
    request_id: str | None = Field(None, description="Quote it when reporting a problem.")
    details: list[dict[str, Any]] | None = Field(
        None, description="422 from validation: each problem with its location."
    )


class ErrorBody(BaseModel):
    error: ErrorDetail
