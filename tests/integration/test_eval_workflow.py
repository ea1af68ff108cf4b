"""The users' CI recipe, `.github/workflows/eval.yml`: valid against GitHub's workflow schema,
and its `run:` steps executed here as written, in order, the way the Actions runner does
(`bash -e`, the job's `env:`, `$GITHUB_STEP_SUMMARY`), on a copy of the repository.

Where the runner differs from here: the `uses:` steps (checkout, setup-python, the artifact
upload) are GitHub's own and are not run; `${{ secrets.* }}` and `${{ vars.* }}` are unset (no
Langfuse); `python` is a fresh venv whose site-packages names the project venv's (a `.pth`
file, as in test_packaging.py), so the install step runs as written but finds the
dependencies installed and installs only the service itself; `RAG_DATA_DIR` is a temporary
directory instead of the runner's per-user default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.test_packaging import copy_sources, empty_venv

pytestmark = pytest.mark.integration

WORKFLOW = ROOT / ".github" / "workflows" / "eval.yml"
SOURCES = ("pyproject.toml", "README.md", "rag_service", "ingestion", "evals", ".github")


def test_the_workflow_is_valid() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    subprocess.run(
        [str(checker), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        check=True,
        capture_output=True,
    )


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-c", script],
        check=False,  # the caller reads the exit status: a failing gate is expected once
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_workflow_steps_install_ingest_evaluate_and_fail_on_a_regression(
    tmp_path: Path,
) -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["eval"]
    steps = [s for s in job["steps"] if "run" in s]
    assert [s["name"] for s in steps] == [
        "Install the service",
        "Ingest the corpus",
        "Evaluate against the baseline",
    ]

    repo = tmp_path / "repo"
    copy_sources(repo, SOURCES)
    venv = tmp_path / "venv"
    empty_venv(venv)

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAG_", "DATABASE_URL", "LANGFUSE_", "PYTHON", "VIRTUAL_ENV"))
    }
    env.update({k: str(v) for k, v in job["env"].items() if "${{" not in str(v)})
    summary = tmp_path / "step-summary.md"
    env.update(
        PATH=f"{venv / 'bin'}:{env['PATH']}",
        CI="true",
        GITHUB_STEP_SUMMARY=str(summary),
        RAG_DATA_DIR=str(tmp_path / "data"),
        LANGFUSE_TRACING_ENABLED="false",
    )
    for step in steps:
        done = run_step(step["run"], repo, env)
        assert done.returncode == 0, (step["name"], done.stdout[-3000:], done.stderr[-3000:])
        if step["name"] == "Install the service":
            where = run_step(
                "python -c 'import rag_service; print(rag_service.__file__)'", tmp_path, env
            )
            assert where.stdout.startswith(str(venv)), where.stdout  # the wheel just built
        if step["name"] == "Ingest the corpus":
            assert "4 added" in done.stderr + done.stdout

    out = repo / env["RAG_EVAL_OUT"]
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    n_questions = len((repo / env["RAG_EVAL_QUESTIONS"]).read_text().split("\n")) - 1
    assert suite.get("name") == "dev" and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) > n_questions  # every question and gated metric
    text = (out / "summary.md").read_text()
    assert text.startswith("## rag-eval") and ": PASS" in text.splitlines()[0]
    assert summary.read_text() == text

    # a baseline from a run that got one more question right (the question and the answer
    # accuracy it was worth): the same step now fails, and names both
    baseline_path = repo / env["RAG_EVAL_BASELINE"]
    baseline = json.loads(baseline_path.read_text())
    dev = baseline["sets"]["dev"]
    wrong = next(q for q, ok in dev["questions"].items() if not ok)
    dev["questions"][wrong] = True
    dev["metrics"]["answer_accuracy"] += 0.04
    baseline_path.write_text(json.dumps(baseline))
    done = run_step(steps[-1]["run"], repo, env)
    assert done.returncode == 1, done.stdout[-3000:]
    cases = {
        tc.get("name").split(":")[0]: tc for tc in ET.parse(out / "junit.xml").iter("testcase")
    }
    assert cases[wrong].find("failure") is not None
    assert cases["metric answer_accuracy"].find("failure") is not None
    assert ": FAIL" in (out / "summary.md").read_text().splitlines()[0]
    assert f"flipped to wrong: {wrong}" in summary.read_text()
