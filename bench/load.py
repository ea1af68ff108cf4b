"""Bounded load and fault test of the service (issue 18). Loopback only, fixed durations; it
starts its own `rag-serve` on a scratch data directory and stops it at the end.

    .venv/bin/python bench/load.py                      # everything, about 1.5 minutes
    .venv/bin/python bench/load.py --seconds 5 --clients 1,8,32,128 --skip-kill

Prints, per number of concurrent clients: requests/s answered (200), shed (503), p50/p95 of
the admitted requests; then the server's RSS growth while a 1 GB chunked JSON body and a
1 GB chunked multipart upload are sent; then the postmaster killed under load: how long 503s
(each with Retry-After) lasted and when 200s came back, and the chunk counts before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "What is the median day rate for an AI Engineer?",
    "What is the typical tenure in an AI Software Engineer role?",
    "How long does it take to become an AI engineer from scratch?",
    "What is the London premium for AI engineers?",
    "Which skills are hardest to hire for?",
]
MB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`rag-serve` in a child process on a scratch data directory."""

    def __init__(self, data_dir: Path, port: int, extra_env: dict[str, str]) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "RAG_DATA_DIR": str(data_dir),
            "PORT": str(port),
            "RAG_LOG_LEVEL": "info",  # one JSON line per request: the server-side latency
            "LANGFUSE_TRACING_ENABLED": "false",
            **extra_env,
        }
        env.pop("DATABASE_URL", None)
        self.log = open(data_dir / "server.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rag_service.cli"], env=env, stdout=self.log, stderr=self.log
        )
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {data_dir / 'server.log'}")
            time.sleep(0.3)
        raise RuntimeError("server not ready in 120 s")

    def server_latencies(self) -> list[float]:
        """Latency (ms) of the 200s to /v1/ask logged since the last call."""
        lines = (self.data_dir / "server.log").read_text(errors="replace").splitlines()
        new, self._seen = lines[getattr(self, "_seen", 0) :], len(lines)
        out = []
        for line in new:
            if '"path": "/v1/ask"' in line and '"status": 200' in line:
                out.append(json.loads(line)["latency_ms"])
        return out

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "pgdata" / "postmaster.pid").read_text().split()[0])

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


async def run_clients(url: str, clients: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    counts = {"ok": 0, "shed": 0, "other": 0, "retry_after_missing": 0}
    stop_at = time.perf_counter() + seconds

    async def one(n: int) -> None:
        # a client of its own per simulated user: one shared pool of 128 connections costs
        # httpcore more CPU than the server spends, and the numbers would be the client's
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            i = n
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                r = await c.post("/v1/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]})
                i += 1
                if r.status_code == 200:
                    counts["ok"] += 1
                    latencies.append(time.perf_counter() - t0)
                elif r.status_code == 503:
                    counts["shed"] += 1
                    counts["retry_after_missing"] += "retry-after" not in r.headers
                    # a client that honours Retry-After (with jitter), as it is asked to
                    wait = float(r.headers.get("retry-after", "1"))
                    await asyncio.sleep(wait * (0.5 + random.random()))
                else:
                    counts["other"] += 1

    await asyncio.gather(*(one(n) for n in range(clients)))
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 20 else [float("nan")] * 19
    return {
        "clients": clients,
        "ok_per_s": counts["ok"] / seconds,
        "shed_per_s": counts["shed"] / seconds,
        "other": counts["other"],
        "retry_after_missing": counts["retry_after_missing"],
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p95_ms": q[18] * 1000,
    }


def big_body(server: Server) -> dict[str, float]:
    """1 GB chunked JSON and 1 GB chunked multipart: the server's RSS before and after."""
    piece = b"x" * MB

    def gen(head: bytes):
        yield head
        for _ in range(1024):
            yield piece

    out: dict[str, float] = {}
    cases = {
        "json": ("/v1/ask", b'{"question": "', "application/json"),
        "multipart": (
            "/v1/documents",
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n\r\n',
            "multipart/form-data; boundary=b",
        ),
    }
    for name, (path, head, ctype) in cases.items():
        before = server.rss()
        t0 = time.perf_counter()
        try:
            r = httpx.post(
                server.url + path,
                content=gen(head),
                headers={"content-type": ctype},
                timeout=120,
            )
            status = r.status_code
        except httpx.HTTPError:
            status = 413  # the server answered and closed while we were still sending
        out[f"{name}_status"] = status
        out[f"{name}_seconds"] = time.perf_counter() - t0
        out[f"{name}_rss_growth_mb"] = (server.rss() - before) / MB
    return out


async def kill_under_load(server: Server, clients: int = 8) -> dict[str, float]:
    """SIGKILL the postmaster while `clients` ask; 503s (with Retry-After) until it is back."""

    def chunks() -> list:
        return httpx.get(server.url + "/v1/documents", timeout=30).json()

    before = sorted((d["source"], d["chunks"]) for d in chunks())
    log: list[tuple[float, float, int, bool]] = []  # started, answered, status, Retry-After
    killed_at: list[float] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:

        async def one(n: int) -> None:
            i = n
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = await c.post("/v1/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]})
                    code = r.json()["error"]["code"] if r.status_code != 200 else ""
                    if code == "overloaded":  # shed for load, not for the fault
                        await asyncio.sleep(float(r.headers["retry-after"]) * random.random())
                        continue
                    log.append((t0, time.monotonic(), r.status_code, "retry-after" in r.headers))
                except httpx.HTTPError:
                    log.append((t0, time.monotonic(), 0, False))
                i += 1
                await asyncio.sleep(0.01)

        async def killer() -> None:
            await asyncio.sleep(2)
            killed_at.append(time.monotonic())
            os.kill(server.postmaster_pid(), signal.SIGKILL)
            await asyncio.sleep(12)
            stop.set()

        await asyncio.gather(killer(), *(one(n) for n in range(clients)))
    t_kill = killed_at[0]
    after = [(t0 - t_kill, t1 - t_kill, s, ra) for t0, t1, s, ra in log if t1 >= t_kill]
    failed_starts = [t0 for t0, _, s, _ in after if s != 200]
    # back: from then on every request started was answered 200
    back = max(failed_starts, default=0.0)
    return {
        "requests_after_kill": len(after),
        "status_503": sum(s == 503 for *_, s, _ in after),
        "status_other_errors": sum(s not in (200, 503) for *_, s, _ in after),
        "503_without_retry_after": sum(s == 503 and not ra for *_, s, ra in after),
        "last_503_answered_s": max((t1 for _, t1, s, _ in after if s != 200), default=0.0),
        "all_200_from_s": back,
        "chunks_unchanged": float(before == sorted((d["source"], d["chunks"]) for d in chunks())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", default="1,8,32,128")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--max-in-flight", type=int, default=None, help="RAG_MAX_IN_FLIGHT")
    ap.add_argument("--skip-kill", action="store_true")
    ap.add_argument("--skip-body", action="store_true")
    ap.add_argument("--json", action="store_true", help="print one JSON object at the end")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory (logs)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    env = {"RAG_CORPUS_DIR": str(ROOT / "rag_service" / "corpus")}
    if args.max_in_flight is not None:
        env["RAG_MAX_IN_FLIGHT"] = str(args.max_in_flight)
    server = Server(work, free_port(), env)
    results: dict[str, object] = {}
    try:
        asyncio.run(run_clients(server.url, 4, 2.0))  # warm-up
        rows = []
        for n in (int(x) for x in args.clients.split(",")):
            server.server_latencies()
            row = asyncio.run(run_clients(server.url, n, args.seconds))
            inside = server.server_latencies()
            row["server_p95_ms"] = statistics.quantiles(inside, n=20)[18] if len(inside) > 20 else 0
            rows.append(row)
            print(
                f"{n:>4} clients: {row['ok_per_s']:6.1f} ok/s  {row['shed_per_s']:7.1f} shed/s"
                f"  p50 {row['p50_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms"
                f" (in the server: p95 {row['server_p95_ms']:6.1f} ms)"
                f"  other {row['other']}  503 w/o Retry-After {row['retry_after_missing']}",
                flush=True,
            )
        results["load"] = rows
        if not args.skip_body:
            body = big_body(server)
            results["big_body"] = body
            print("1 GB bodies:", json.dumps({k: round(v, 2) for k, v in body.items()}))
        if not args.skip_kill:
            fault = asyncio.run(kill_under_load(server))
            results["kill"] = fault
            print("postmaster killed:", json.dumps({k: round(v, 2) for k, v in fault.items()}))
    finally:
        server.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
