"""What the static validators cannot know: the compose stack is wired the way the README says,
the image is non-root with a health check, and no secret is committed."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_api_waits_for_a_healthy_db_and_the_ingest_one_shot() -> None:
    svc = compose()["services"]
    assert svc["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert svc["api"]["depends_on"]["ingest"]["condition"] == "service_completed_successfully"
    assert svc["api"]["environment"]["DATABASE_URL"].startswith("postgresql://rag:")
    assert "@db:5432/rag" in svc["api"]["environment"]["DATABASE_URL"]
    assert svc["db"]["image"].startswith("pgvector/pgvector:")
    assert "healthcheck" in svc["db"] and svc["db"]["volumes"]
    assert svc["ingest"]["command"][0] == "rag-ingest"
    assert svc["api"]["environment"]["LANGFUSE_BASE_URL"] == "http://langfuse-web:3000"


def test_langfuse_stack_as_its_self_hosting_guide_lays_out() -> None:
    svc = compose()["services"]
    assert {
        "langfuse-web",
        "langfuse-worker",
        "langfuse-db",
        "clickhouse",
        "redis",
        "minio",
    } <= set(svc)
    for name in ("langfuse-db", "clickhouse", "redis", "minio"):
        assert "healthcheck" in svc[name], name


def test_every_variable_the_compose_file_needs_is_in_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = {
        ln.split("=", 1)[0].lstrip("# ").strip()
        for ln in (ROOT / ".env.example").read_text().splitlines()
        if "=" in ln
    }
    assert needed <= example, needed - example
    tracked = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in tracked


def test_dockerfile_is_multistage_nonroot_with_healthcheck() -> None:
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert re.search(r"^USER (?!root|0\b)\S+", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/readyz" in text
    assert "torch==2.13.0+cpu" in text and "download.pytorch.org/whl/cpu" in text
    assert "RAG_WORKERS" in text and 'CMD ["rag-serve"]' in text


def test_empty_prepare_threshold_turns_prepared_statements_off(monkeypatch) -> None:
    from rag_service.core.config import Settings

    monkeypatch.setenv("RAG_DB_PREPARE_THRESHOLD", "")
    assert Settings().db_prepare_threshold is None
    monkeypatch.setenv("RAG_DB_PREPARE_THRESHOLD", "7")
    assert Settings().db_prepare_threshold == 7
