"""Issue 18, the contract: schemathesis (every check, 200 examples per operation, deletes
included) against the live app on a scratch index of its own: no server error and no contract
failure. Then the service restarts on the same data directory and is ready.

Every built-in check runs (schemathesis 4 enables them all by default; `--checks all` on the
command line would override the one per-operation exception in schemathesis.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rag_service.api.app import create_app
from rag_service.services import open_services
from tests.integration.hardening_support import HardenedServer, embedded_only, scratch_settings

CONFIG = Path(__file__).with_name("schemathesis.toml")
ST = Path(sys.executable).with_name("st")


@embedded_only
@pytest.mark.skipif(not ST.exists(), reason="schemathesis (dev extra) is not installed")
def test_schemathesis_finds_nothing_and_the_service_restarts(settings, tmp_path: Path) -> None:
    s = scratch_settings(settings, tmp_path)
    services = open_services(s, ingest_bundled=True, attach=False)
    try:
        with HardenedServer(create_app(s, services), s) as live:
            run = subprocess.run(
                [
                    str(ST),
                    "--config-file",
                    str(CONFIG),
                    "run",
                    f"{live.url}/openapi.json",
                    "--max-examples",
                    "200",
                    "--workers",
                    "1",
                    "--seed",
                    "18",
                    "--no-color",
                    "--request-timeout",
                    "30",
                ],
                check=False,
                capture_output=True,
                text=True,
                timeout=300,
                cwd=tmp_path,
            )
    finally:
        services.close()
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    assert "generated" in summary and "failures" not in summary.split("generated")[-1], summary

    again = open_services(s, ingest_bundled=True, attach=False)
    try:
        with HardenedServer(create_app(s, again), s) as live:
            assert httpx.get(f"{live.url}/readyz", timeout=10).status_code == 200
    finally:
        again.close()
