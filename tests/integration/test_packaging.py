"""The package as a user gets it: build the wheel, install it into a fresh virtualenv, run
`rag-serve` from a directory outside the source tree and get an answer from the bundled corpus
over HTTP.

The fresh venv is a real one (`python -m venv`, no `--system-site-packages`) that holds only the
wheel, installed with `--no-deps`. Its dependencies (torch, the embedding model, the embedded
PostgreSQL wheel: about 2 GB) come from the project's venv through a `.pth` file naming that
venv's site-packages, so the test stays offline and takes seconds instead of a full install. A
`.pth` entry is appended to `sys.path` after the fresh venv's own site-packages and its own
`.pth` files are not run, so the project's editable install cannot shadow the wheel: the test
checks that `rag_service` is imported from the fresh venv, and that nothing of the source tree
is on the path. What the wheel must carry (corpus, migrations, weights, prompts, page) it must
carry itself.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.integration

SOURCES = ("pyproject.toml", "README.md", "rag_service", "ingestion", "evals")


def build_wheel(out: Path) -> Path:
    """`python -m build --wheel` on a copy of the sources (a build in the checkout would leave
    build/ and egg-info behind for concurrent runs to trip over); no isolation, so the build
    backend is the venv's setuptools and nothing is downloaded."""
    src = out / "src"
    copy_sources(src, SOURCES)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("rag_service-*.whl")
    return wheel


def copy_sources(dest: Path, names: tuple[str, ...]) -> None:
    """A copy of the checkout's `names` (files or folders) under `dest`, without caches."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, dest / name)


def empty_venv(root: Path) -> Path:
    """A real venv without the project, reaching the project venv's packages through a `.pth`
    file (see the module's docstring); returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def fresh_venv(root: Path, wheel: Path) -> Path:
    python = empty_venv(root)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    subprocess.run(
        [*pip, "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    return python


def requirements(wheel: Path) -> list[str]:
    """The wheel's Requires-Dist lines: what `pip install <wheel>` pulls."""
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        text = z.read(meta).decode()
    return [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def test_the_wheel_in_a_fresh_venv_serves_the_bundled_corpus(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    required = requirements(wheel)
    core = [r for r in required if "extra ==" not in r]
    assert core and not [r for r in core if "langchain" in r.lower()]  # no LangChain for serving
    langchain_extra = [r for r in required if 'extra == "langchain"' in r]
    assert [re.split(r"[<>=!~ ;\[]", r)[0] for r in langchain_extra] == ["langchain-core"]
    python = fresh_venv(tmp_path / "venv", wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAG_", "DATABASE_URL", "PYTHON", "VIRTUAL_ENV"))
    }
    port = free_port()
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        HOST="127.0.0.1",
        PORT=str(port),
        LANGFUSE_TRACING_ENABLED="false",
    )
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import rag_service, sys; print(rag_service.__file__); print(sys.path)",
        ],
        cwd=elsewhere,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert where.startswith(str(tmp_path / "venv")), where
    assert f"'{ROOT}'" not in where  # the source tree is not importable

    log = (tmp_path / "serve.log").open("w")
    serve = subprocess.Popen(
        [str(python.parent / "rag-serve")], cwd=elsewhere, env=env, stdout=log, stderr=log
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(
                "rag-serve from the wheel was not ready: " + (tmp_path / "serve.log").read_text()
            )
        docs = httpx.get(url + "/v1/documents", timeout=30).json()
        assert {d["source"] for d in docs} == {
            f"corpus/{p.name}" for p in (ROOT / "rag_service" / "corpus").iterdir()
        }
        body = httpx.post(
            url + "/v1/ask",
            json={"question": "What is the median AI Engineer salary in the UK?"},
            timeout=60,
        ).json()
        assert body["answerable"], body
        assert "72,000" in body["answer"]
        cite = body["citations"][0]
        text = httpx.get(url + f"/v1/documents/{cite['document']}/text", timeout=30).json()["text"]
        assert text[cite["start"] : cite["end"]] == cite["quote"]
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            serve.wait()
        log.close()
    printed = (tmp_path / "serve.log").read_text()
    data_dir = home / "data" / "rag-service"  # platformdirs' per-user data directory
    assert f"data directory {data_dir}" in printed, printed
    assert (data_dir / "pgdata").is_dir()
