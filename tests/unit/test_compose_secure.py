"""docker-compose.yml is secure by default: the API and the ingest job run in production mode
with keys that must come from `.env`, and the settings they would be given are accepted (with
keys) and refused (without)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from rag_service.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"\$\{([A-Z0-9_]+)(?::?([-?])([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}` against `env`."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if env.get(name):
            return env[name]
        if op == "?":
            raise LookupError(f"{name}: {arg}")
        return arg if op == "-" else ""

    return REFERENCE.sub(one, value)


def example_env() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(ln.split("=", 1) for ln in lines if "=" in ln and not ln.startswith("#"))


def service_env(service: str, env: dict[str, str]) -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    raw = compose["services"][service]["environment"]
    return {k: interpolate(str(v), env) for k, v in raw.items()}


@pytest.mark.parametrize("service", ["api", "ingest"])
def test_the_service_runs_in_production_with_keys_from_env(service: str) -> None:
    env = service_env(service, example_env())
    assert env["RAG_ENV"] == "production"
    assert env["RAG_API_KEYS"] == example_env()["RAG_API_KEYS"]
    settings = Settings(_env_file=None, **env)
    assert settings.env == "production" and settings.read_key_set


@pytest.mark.parametrize("service", ["api", "ingest"])
def test_without_keys_compose_stops_and_the_settings_refuse(service: str, monkeypatch) -> None:
    for name in ("RAG_API_KEYS", "RAG_ADMIN_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    env = {k: v for k, v in example_env().items() if k != "RAG_API_KEYS"}
    with pytest.raises(LookupError, match="RAG_API_KEYS"):
        service_env(service, env)
    with pytest.raises(ValidationError, match="requires RAG_API_KEYS"):
        Settings(_env_file=None, RAG_ENV="production")
