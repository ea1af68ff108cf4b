"""Parse an untrusted PDF in a child process with time, CPU and memory limits.

A PDF is a program: a 1 KB file can hold a compressed content stream that draws millions of
characters (200,000 cost pdfminer 6 s and 470 MB; the 13 KB one in issue 18, 155 s and 2.45 GB),
and nothing inside the parser bounds it. So the parse runs in a child forked from a clean
`forkserver` process (no threads, no model, no pool inherited) under RLIMIT_AS and RLIMIT_CPU,
and the parent kills it at the wall-clock limit. The page count is checked before any page is
read. A child that dies or times out is reported as a DocumentError, a 422, never a 500.
"""

from __future__ import annotations

import multiprocessing
import resource
from dataclasses import dataclass
from multiprocessing.connection import Connection

from ingestion.parsers.types import ParsedText
from rag_service.core.errors import DocumentError, RagError

_CTX = multiprocessing.get_context("forkserver")
_CTX.set_forkserver_preload(["ingestion.parsers.pdf", "pdfplumber"])


@dataclass(frozen=True)
class PdfLimits:
    seconds: float = 60.0  # wall clock for the whole parse
    memory_bytes: int = 2 << 30  # address space of the child
    pages: int = 2000


def _child(conn: Connection, data: bytes, limits: PdfLimits) -> None:
    cpu = max(1, int(limits.seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    try:
        from ingestion.parsers.pdf import _open, parse_pdf

        pdf = _open(data)
        try:
            pages = len(pdf.pages)
        finally:
            pdf.close()
        if pages > limits.pages:
            raise DocumentError(f"PDF has {pages:,} pages; the limit is {limits.pages:,}")
        conn.send(("ok", parse_pdf(data)))
    except RagError as exc:
        conn.send(("error", exc.message))
    except MemoryError:
        conn.send(("error", "the PDF needs more memory to read than a document may use"))
    except Exception as exc:
        conn.send(("error", f"unreadable PDF ({type(exc).__name__})"))
    finally:
        conn.close()


def parse_pdf_bounded(data: bytes, limits: PdfLimits | None = None) -> ParsedText:
    limits = limits or PdfLimits()
    receiver, sender = _CTX.Pipe(duplex=False)
    child = _CTX.Process(target=_child, args=(sender, data, limits), daemon=True)
    child.start()
    sender.close()
    try:
        if not receiver.poll(limits.seconds):
            raise DocumentError(
                f"the PDF takes more than {limits.seconds:g} s to read; it was not indexed"
            )
        try:
            status, value = receiver.recv()
        except EOFError:  # killed by its CPU or memory limit
            raise DocumentError(
                "the PDF needs more time or memory to read than a document may use"
            ) from None
    finally:
        receiver.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    if status != "ok":
        raise DocumentError(value)
    parsed: ParsedText = value
    return parsed
