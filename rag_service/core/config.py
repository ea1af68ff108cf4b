"""Settings: the one place configuration enters the service (environment variables and `.env`)."""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
# Package data, so an installed wheel serves it wherever it runs from (not the source tree).
BUNDLED_CORPUS = Path(str(resources.files("rag_service") / "corpus"))


def default_data_dir() -> Path:
    """The per-user data directory (e.g. ~/.local/share/rag-service on Linux): not the working
    directory, so the index does not depend on where `rag-serve` was started."""
    return Path(platformdirs.user_data_dir("rag-service", appauthor=False))


class LLMProviderSettings(BaseModel):
    """How to reach one LLM provider: the nested model `Settings.llm_providers` holds per
    provider, so code reads `settings.llm_providers["openai"].api_key` instead of composing
    attribute names. The environment variables stay flat (OPENAI_API_KEY, RAG_OPENAI_MODEL...)."""

    model_config = ConfigDict(frozen=True)

    model: str
    api_key: SecretStr | None = None
    base_url: str | None = None
    # how the provider is asked to cite: auto, text, json (OpenAI), native (Anthropic)
    output: str = "auto"

    @property
    def configured(self) -> bool:
        """A key or an endpoint (a local OpenAI-compatible server may need no key)."""
        return bool(self.api_key or self.base_url)


class Settings(BaseSettings):
    """Typed configuration. Every field maps to an environment variable (names in `alias`)."""

    # hide_input_in_errors: a validation error must not print the values it was given (keys).
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, hide_input_in_errors=True
    )

    # Serving
    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(8000, alias="PORT")
    # uvicorn worker processes. Unset: one per CPU, as many as RAG_MEMORY_BUDGET_MB holds at
    # about 300 MB each (the measured RSS of a worker, bench/ask.py); the budget defaults to
    # half the machine's memory.
    workers: int | None = Field(None, alias="RAG_WORKERS", ge=1)
    memory_budget_mb: int | None = Field(None, alias="RAG_MEMORY_BUDGET_MB", ge=100)
    log_level: str = Field("info", alias="RAG_LOG_LEVEL")

    # Access: API keys (comma-separated) turn authentication on for /v1/*; a per-client token
    # bucket limits request rates (0 = off). In RAG_ENV=production, keys are required.
    env: Literal["local", "production"] = Field("local", alias="RAG_ENV")
    # RAG_API_KEYS have the `read` scope (ask, search, list, get); RAG_ADMIN_API_KEYS also
    # `admin` (upload, delete).
    api_keys: SecretStr | None = Field(None, alias="RAG_API_KEYS")
    admin_api_keys: SecretStr | None = Field(None, alias="RAG_ADMIN_API_KEYS")
    rate_limit_rps: float = Field(0.0, alias="RAG_RATE_LIMIT_RPS", ge=0)
    rate_limit_burst: int = Field(20, alias="RAG_RATE_LIMIT_BURST", ge=1)
    # Wrong or missing keys allowed per client address and minute before it gets 429s.
    auth_failures_per_minute: int = Field(10, alias="RAG_AUTH_FAILURES_PER_MINUTE", ge=1)
    # /docs, /redoc, /openapi.json and /metrics: off, or (when keys are on) behind a key.
    docs_enabled: bool = Field(True, alias="RAG_DOCS_ENABLED")
    metrics_enabled: bool = Field(True, alias="RAG_METRICS_ENABLED")

    # Request limits: bodies are counted while they stream in, before anything is buffered.
    max_json_bytes: int = Field(65_536, alias="RAG_MAX_JSON_BYTES", ge=1024)
    max_header_bytes: int = Field(16_384, alias="RAG_MAX_HEADER_BYTES", ge=4096)
    # /v1 requests in progress per process; beyond it 503 + Retry-After at once. Unset: four
    # times the CPUs this process may use (offline answering is CPU-bound; raise it for LLM
    # providers, whose calls wait on the network); 0: no limit.
    max_in_flight: int | None = Field(None, alias="RAG_MAX_IN_FLIGHT", ge=0)
    # /v1/search responses: hits are cut (text shortened, then fewer hits) to stay under this.
    search_max_bytes: int = Field(1_000_000, alias="RAG_SEARCH_MAX_BYTES", ge=10_000)

    # Storage: with no DATABASE_URL an embedded PostgreSQL runs from `data_dir/pgdata`.
    database_url: str | None = Field(None, alias="DATABASE_URL")
    data_dir: Path = Field(default_factory=default_data_dir, alias="RAG_DATA_DIR")
    pool_max_size: int = Field(10, alias="RAG_DB_POOL_MAX", ge=1)
    # PgBouncer in transaction mode breaks psycopg's automatic prepared statements.
    db_prepare_threshold: int | None = Field(5, alias="RAG_DB_PREPARE_THRESHOLD")
    # Waits on the database: a connection from the pool, a new connection, one statement.
    db_pool_timeout_s: float = Field(5.0, alias="RAG_DB_POOL_TIMEOUT", gt=0)
    db_connect_timeout_s: int = Field(5, alias="RAG_DB_CONNECT_TIMEOUT", ge=1)
    db_statement_timeout_s: float = Field(60.0, alias="RAG_DB_STATEMENT_TIMEOUT", ge=0)

    # Ingestion
    corpus_dir: Path = Field(BUNDLED_CORPUS, alias="RAG_CORPUS_DIR")
    ingest_on_start: bool = Field(True, alias="RAG_INGEST_ON_START")
    chunk_max_chars: int = Field(900, alias="RAG_CHUNK_MAX_CHARS", ge=200)
    max_document_bytes: int = Field(5_000_000, alias="RAG_MAX_DOCUMENT_BYTES", ge=1)
    # What one document may expand to, whatever its size in bytes (a PDF is a program).
    max_document_chars: int = Field(5_000_000, alias="RAG_MAX_DOCUMENT_CHARS", ge=1)
    max_document_pages: int = Field(2000, alias="RAG_MAX_DOCUMENT_PAGES", ge=1)
    max_parse_seconds: float = Field(120.0, alias="RAG_MAX_PARSE_SECONDS", gt=0)
    max_parse_memory_mb: int = Field(2048, alias="RAG_MAX_PARSE_MEMORY_MB", ge=256)
    # Uploads are indexed as jobs: this many at once, this many waiting or running at most.
    ingest_workers: int = Field(1, alias="RAG_INGEST_WORKERS", ge=1)
    max_pending_uploads: int = Field(8, alias="RAG_MAX_PENDING_UPLOADS", ge=1)

    # Embeddings
    embedding_provider: Literal["local", "openai"] = Field("local", alias="RAG_EMBEDDING_PROVIDER")
    embedding_model: str = Field(PACKAGED_MODEL, alias="RAG_EMBEDDING_MODEL")
    embedding_batch_size: int = Field(64, alias="RAG_EMBEDDING_BATCH_SIZE", ge=1)
    embedding_base_url: str | None = Field(None, alias="RAG_EMBEDDING_BASE_URL")
    embedding_api_key: SecretStr | None = Field(None, alias="RAG_EMBEDDING_API_KEY")
    embedding_dim: int | None = Field(None, alias="RAG_EMBEDDING_DIM")
    # The local model runs on ONNX Runtime (exported once from the packaged weights into
    # RAG_MODEL_CACHE_DIR, so the service never imports torch) or on sentence-transformers.
    embedding_runtime: Literal["onnx", "torch"] = Field("onnx", alias="RAG_EMBEDDING_RUNTIME")
    model_cache_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_cache_dir("rag-service", appauthor=False)),
        alias="RAG_MODEL_CACHE_DIR",
    )
    # Repeated questions skip the model: this many question vectors are kept (0 = off).
    embedding_cache_size: int = Field(1024, alias="RAG_EMBEDDING_CACHE_SIZE", ge=0)

    # Retrieval and answering
    top_k: int = Field(5, alias="RAG_TOP_K", ge=1, le=50)
    candidates: int = Field(20, alias="RAG_CANDIDATES", ge=1, le=200)
    max_question_chars: int = Field(1000, alias="RAG_MAX_QUESTION_CHARS", ge=10)
    # The learned selector and gate read fitted weights (data; `rag-eval calibrate` refits
    # them); another reranker may reorder the units the generator reads.
    reranker: Literal["learned", "fusion", "cross-encoder"] = Field("learned", alias="RAG_RERANKER")
    cross_encoder_model: str | None = Field(None, alias="RAG_CROSS_ENCODER_MODEL")
    ranking_weights: Path | None = Field(None, alias="RAG_RANKING_WEIGHTS")
    # Overrides the fitted gate's threshold (probability that an answer is right).
    abstain_threshold: float | None = Field(None, alias="RAG_ABSTAIN_THRESHOLD", ge=0, le=1)
    # Domain profile: a name under rag_service/analysis/profiles/ or a path to a JSON file.
    profile: str = Field("neutral", alias="RAG_PROFILE")

    # Conversations: turns kept this many days after a conversation's last turn (0 = forever);
    # follow-ups are rewritten from at most this many previous turns.
    conversation_retention_days: float = Field(30.0, alias="RAG_CONVERSATION_RETENTION_DAYS", ge=0)
    conversation_max_turns: int = Field(20, alias="RAG_CONVERSATION_MAX_TURNS", ge=1)

    # Generation
    provider: str = Field("extractive", alias="RAG_PROVIDER")
    model: str | None = Field(None, alias="RAG_MODEL")
    openai_model: str = Field("gpt-4o-mini", alias="RAG_OPENAI_MODEL")
    anthropic_model: str = Field("claude-haiku-4-5", alias="RAG_ANTHROPIC_MODEL")
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    anthropic_api_key: SecretStr | None = Field(None, alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(None, alias="ANTHROPIC_BASE_URL")
    llm_timeout_s: float = Field(30.0, alias="RAG_LLM_TIMEOUT", gt=0)
    llm_max_retries: int = Field(2, alias="RAG_LLM_MAX_RETRIES", ge=0)
    llm_max_tokens: int = Field(400, alias="RAG_LLM_MAX_TOKENS", ge=16)
    # How each provider is asked to cite: OpenAI `json` (structured outputs) or `text`; `auto`
    # = json for api.openai.com, text for other OpenAI-compatible servers. Anthropic `native`
    # (its citations API) or `text`.
    openai_output: Literal["auto", "json", "text"] = Field("auto", alias="RAG_OPENAI_OUTPUT")
    anthropic_output: Literal["auto", "native", "text"] = Field(
        "auto", alias="RAG_ANTHROPIC_OUTPUT"
    )
    # Prompt tokens (system + passages + question + the reply's max tokens) per LLM call.
    llm_context_tokens: int = Field(16_000, alias="RAG_LLM_CONTEXT_TOKENS", ge=1000)
    llm_max_concurrency: int = Field(16, alias="RAG_LLM_MAX_CONCURRENCY", ge=0)
    # In LLM mode only this retrieval floor (the best unit's relevance) decides whether the
    # model is called; the verifier, not the offline gate, decides what ships.
    llm_min_relevance: float = Field(0.05, alias="RAG_LLM_MIN_RELEVANCE", ge=0, le=1)
    # USD per million input / output tokens, for the cost estimate (a table covers known models).
    llm_price_input: float | None = Field(None, alias="RAG_LLM_PRICE_INPUT", ge=0)
    llm_price_output: float | None = Field(None, alias="RAG_LLM_PRICE_OUTPUT", ge=0)
    system_prompt_file: Path | None = Field(None, alias="RAG_SYSTEM_PROMPT_FILE")
    # What the documents are, for the prompt; default: their titles, or "the documents provided".
    corpus_description: str | None = Field(None, alias="RAG_CORPUS_DESCRIPTION")

    # Tracing (Langfuse): on only when both keys are set.
    langfuse_public_key: str | None = Field(None, alias="LANGFUSE_PUBLIC_KEY")
    langfuse_secret_key: SecretStr | None = Field(None, alias="LANGFUSE_SECRET_KEY")
    langfuse_base_url: str = Field("https://cloud.langfuse.com", alias="LANGFUSE_BASE_URL")
    langfuse_tracing_enabled: bool = Field(True, alias="LANGFUSE_TRACING_ENABLED")
    langfuse_timeout_s: int = Field(3, alias="LANGFUSE_TIMEOUT", ge=1)
    langfuse_flush_interval_s: float = Field(1.0, alias="LANGFUSE_FLUSH_INTERVAL", gt=0)
    langfuse_environment: str | None = Field(None, alias="LANGFUSE_TRACING_ENVIRONMENT")

    # Plug-in point that lets the API ingest uploads without importing the ingestion package:
    # the name of an entry point in the `rag_service.ingestors` group (`default` is
    # ingestion's writer), or a `module:function` path.
    ingestor: str = Field("default", alias="RAG_INGESTOR")

    @field_validator(
        "db_prepare_threshold", "embedding_dim", "abstain_threshold", "max_in_flight", mode="before"
    )
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        """`RAG_DB_PREPARE_THRESHOLD=` (empty) means None: prepared statements off."""
        return None if isinstance(v, str) and v.strip().lower() in ("", "none") else v

    @model_validator(mode="after")
    def _no_insecure_production(self) -> Settings:
        if self.env == "production" and not self.key_set:
            raise ValueError(
                "RAG_ENV=production requires RAG_API_KEYS or RAG_ADMIN_API_KEYS"
                " (comma-separated keys)"
            )
        return self

    @property
    def key_set(self) -> frozenset[str]:
        """Every configured key, whatever its scope."""
        return self.read_key_set | self.admin_key_set

    @property
    def read_key_set(self) -> frozenset[str]:
        return _split_keys(self.api_keys)

    @property
    def admin_key_set(self) -> frozenset[str]:
        return _split_keys(self.admin_api_keys)

    @property
    def in_flight_limit(self) -> int:
        """RAG_MAX_IN_FLIGHT, else four times the CPUs available to this process, plus
        RAG_LLM_MAX_CONCURRENCY when an LLM provider is configured (requests waiting on the
        network load no CPU, and that limit bounds them already). 0: no limit.

        Per process, and the kernel does not spread connections evenly over the workers (one
        per CPU): at twice the CPUs, 8 clients on 2 cores were shed (bench/ask.py: 90 of 300
        requests answered 503) while the other worker had room. Four times the CPUs queues at
        most ~8 requests per core, tens of milliseconds of work, before shedding."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        limit = 4 * (cpus or 1)
        if any(p.configured for p in self.llm_providers.values()):
            if self.llm_max_concurrency == 0:
                return 0
            limit += self.llm_max_concurrency
        return limit

    @property
    def llm_providers(self) -> dict[str, LLMProviderSettings]:
        """Each built-in LLM provider's settings as one nested model, read from its flat
        environment variables (which stay the interface)."""
        return {
            "openai": LLMProviderSettings(
                model=self.openai_model,
                api_key=self.openai_api_key,
                base_url=self.openai_base_url,
                output=self.openai_output,
            ),
            "anthropic": LLMProviderSettings(
                model=self.anthropic_model,
                api_key=self.anthropic_api_key,
                base_url=self.anthropic_base_url,
                output=self.anthropic_output,
            ),
        }

    @property
    def pgdata(self) -> Path:
        return self.data_dir.expanduser().resolve() / "pgdata"


def _split_keys(value: SecretStr | None) -> frozenset[str]:
    raw = value.get_secret_value() if value else ""
    return frozenset(k.strip() for k in raw.split(",") if k.strip())


@lru_cache
def get_settings() -> Settings:
    return Settings()
