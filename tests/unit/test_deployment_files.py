"""What the static validators cannot know: the compose stack and the image are wired to what the
code really reads and serves. Each check reads the deployment files *and* the code (settings,
routes, console scripts, CLI options, pins), so a renamed setting, a moved route or a version
bumped in one place only fails here."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import typer
import yaml
from starlette.routing import Match

from rag_service.api.app import create_app
from rag_service.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
# Read by libraries in the image, not by our settings.
LIBRARY_VARIABLES = {"PATH", "PYTHONUNBUFFERED", "HF_HUB_OFFLINE"}


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    text = (ROOT / "docker" / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [
        (m[1].upper(), m[2].strip())
        for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", joined, re.MULTILINE)
    ]


def runtime_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for op, args in runtime_stage():
        if op == "ENV":
            env.update(dict(pair.split("=", 1) for pair in shlex.split(args)))
    return env


def setting_names() -> set[str]:
    return {f.alias or name for name, f in Settings.model_fields.items()}


def console_scripts() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def served(path: str) -> bool:
    """The app has a GET route for `path` (matched as a request would be)."""
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
    return any(r.matches(scope)[0] == Match.FULL for r in create_app(Settings()).routes)


def url_path(command: str) -> tuple[str, str]:
    """(port, path) of the loopback URL a health-check command requests."""
    m = re.search(r"http://127\.0\.0\.1:(?:\{[^}]*'(\d+)'\)\}|(\d+))(/[\w/-]*)", command)
    assert m, command
    return m[1] or m[2], m[3]


def test_the_rag_containers_set_only_variables_the_service_reads() -> None:
    svc = compose()["services"]
    for name in ("api", "ingest"):
        unknown = set(svc[name]["environment"]) - setting_names()
        assert not unknown, f"{name} sets variables no setting reads: {unknown}"
    unknown = set(image_env()) - setting_names() - LIBRARY_VARIABLES
    assert not unknown, f"the image sets variables no setting reads: {unknown}"


def test_the_api_waits_for_a_healthy_db_and_the_ingest_one_shot() -> None:
    svc = compose()["services"]
    assert svc["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert svc["api"]["depends_on"]["ingest"]["condition"] == "service_completed_successfully"
    assert svc["ingest"]["depends_on"]["db"]["condition"] == "service_healthy"
    db_url = svc["api"]["environment"]["DATABASE_URL"]
    user, host, port, database = re.match(
        r"postgresql://(\w+):.*@([\w-]+):(\d+)/(\w+)", db_url
    ).groups()
    db_env = svc["db"]["environment"]
    assert (user, database) == (db_env["POSTGRES_USER"], db_env["POSTGRES_DB"])
    assert host == "db" and port == "5432"
    assert svc["ingest"]["environment"]["DATABASE_URL"] == db_url  # one index for both


def test_the_ingest_one_shot_runs_a_real_command_and_option() -> None:
    command = compose()["services"]["ingest"]["command"]
    assert command[0] in console_scripts()
    from ingestion.cli import app

    options = {o for p in typer.main.get_command(app).params for o in p.opts}
    assert set(command[1:]) <= options, set(command[1:]) - options


def test_health_checks_request_a_route_the_app_serves_on_the_port_it_listens_on() -> None:
    checks = [args for op, args in runtime_stage() if op == "HEALTHCHECK"]
    assert len(checks) == 1
    port, path = url_path(checks[0])
    assert served(path)
    assert not served("/no-such-route")
    assert port == image_env()["PORT"] == str(Settings.model_fields["port"].default)
    api = compose()["services"]["api"]
    port, path = url_path(" ".join(api["healthcheck"]["test"]))
    assert served(path)
    assert f"8000:{port}" in api["ports"]


def test_the_image_is_multistage_nonroot_and_starts_a_console_script() -> None:
    steps = dockerfile()
    stages = [args.split()[-1] for op, args in steps if op == "FROM" and " AS " in args.upper()]
    assert len(stages) >= 2
    for op, args in steps:
        if op == "COPY" and (m := re.search(r"--from=(\S+)", args)):
            assert m[1] in stages[:-1], f"COPY from unknown stage {m[1]}"
    runtime = runtime_stage()
    users = [args for op, args in runtime if op == "USER"]
    assert users and not re.match(r"(root|0)\b", users[-1])
    created = " ".join(args for op, args in runtime if op == "RUN" and "useradd" in args)
    assert f"--uid {users[-1].split(':')[0]}" in created  # the user exists in that stage
    cmd = [args for op, args in runtime if op == "CMD"][-1]
    assert yaml.safe_load(cmd)[0] in console_scripts()


def test_torch_is_pinned_alike_in_the_image_the_makefile_and_the_lock() -> None:
    make = re.search(r"^TORCH_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    lock = re.search(r"^torch==(\S+)", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    image = " ".join(args for op, args in dockerfile() if op == "RUN")
    pins = set(re.findall(r"torch==([\w.+]+)", image))
    assert make and lock and pins == {make[1]} == {lock[1]}


def test_every_variable_the_compose_file_needs_is_in_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    example = {
        ln.split("=", 1)[0].lstrip("# ").strip()
        for ln in (ROOT / ".env.example").read_text().splitlines()
        if "=" in ln
    }
    assert needed <= example, needed - example
    assert not example - needed - setting_names(), "unused lines in .env.example"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_empty_prepare_threshold_turns_prepared_statements_off(monkeypatch) -> None:
    monkeypatch.setenv("RAG_DB_PREPARE_THRESHOLD", "")
    assert Settings().db_prepare_threshold is None
    monkeypatch.setenv("RAG_DB_PREPARE_THRESHOLD", "7")
    assert Settings().db_prepare_threshold == 7
