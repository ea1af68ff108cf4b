"""The layout reads downhill: `rag_service.core` imports nothing above it (checked on the
source, every import statement, including those under TYPE_CHECKING)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "rag_service" / "core"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_imports_nothing_above_it() -> None:
    files = sorted(CORE.glob("*.py"))
    assert len(files) > 5
    above = {
        f"{f.name}: {m}"
        for f in files
        for m in imported_modules(f)
        if m.split(".")[0] in {"rag_service", "ingestion", "evals"}
        and not m.startswith("rag_service.core")
    }
    assert above == set()


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("if True:\n    from rag_service.retrieval.embedder import Embedder\n")
    assert "rag_service.retrieval.embedder" in imported_modules(bad)
