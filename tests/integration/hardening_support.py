"""Helpers of the hardening tests: a PDF decompression bomb, the app served with
`rag-serve`'s uvicorn options, a scratch service on a data directory of its own."""

from __future__ import annotations

import shutil
import threading
import zlib
from pathlib import Path

import pytest

from rag_service.cli import server_options
from tests.conftest import EXTERNAL_DATABASE_URL, LiveServer

# Tests of the embedded server (its own data directory, restarts, faults, the contract run on a
# scratch index) run once, not again when the suite runs against an external server.
embedded_only = pytest.mark.skipif(
    EXTERNAL_DATABASE_URL is not None, reason="embedded server: covered by the main run"
)

PAGE = (
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
    b" /Resources << /Font << /F1 5 0 R >> >> >>"
)


def bomb_pdf(nchars: int, line: int = 2000) -> bytes:
    """One page whose compressed content stream draws `nchars` characters (about 1 KB of
    file per million characters)."""
    text = ("Lorem ipsum dolor sit amet. " * (line // 28 + 1))[:line]
    body = "BT /F1 6 Tf 10 800 Td 8 TL\n" + f"({text}) '\n" * (nchars // line) + "ET\n"
    stream = zlib.compress(body.encode(), 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        PAGE,
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    return out + b"startxref\n%d\n%%%%EOF\n" % xref


class HardenedServer(LiveServer):
    """The app served with `rag-serve`'s uvicorn options (h11, header limit)."""

    def __init__(self, app, settings) -> None:
        import uvicorn

        super().__init__(app)
        options = {k: v for k, v in server_options(settings).items() if k != "log_config"}
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", **options
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)


CORPUS_FILE = "uk-ai-software-engineer-role-2026.txt"


def scratch_settings(settings, root: Path, corpus_file: str = CORPUS_FILE):
    """Settings for a service of its own: a data directory under `root` and a one-file
    corpus, so that faults and deletes touch nothing the other tests read."""
    corpus = root / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(settings.corpus_dir) / corpus_file, corpus / corpus_file)
    return settings.model_copy(
        update={"data_dir": root / "data", "corpus_dir": corpus, "database_url": None}
    )
