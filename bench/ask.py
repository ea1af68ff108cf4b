"""Ask-path benchmark over HTTP: prints numbers, asserts nothing.

Starts `rag-serve` (embedded database, bundled corpus, offline extractive generator) on a free
loopback port, then measures POST /v1/ask:
- sequentially (p50/p95 latency, requests/s),
- with N concurrent clients (p50/p95, requests/s),
and where the time goes, from the per-stage `timings_ms` the service returns.

Usage: python bench/ask.py [--requests 200] [--clients 8] [--url http://...]
With --url, an already running service is measured instead.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    json.loads(line)["question"]
    for name in ("dev.jsonl", "extra.jsonl")
    for line in (ROOT / "evals" / "datasets" / name).read_text().splitlines()
    if line.strip()
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "RAG_DATA_DIR": tempfile.mkdtemp(prefix="bench-ask-"),
        "RAG_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    proc = subprocess.Popen([str(Path(sys.executable).parent / "rag-serve")], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("server did not become ready")


def one(client: httpx.Client, question: str) -> tuple[float, dict | None]:
    """Latency and body of one ask; body None when the server shed the request (503 beyond
    RAG_MAX_IN_FLIGHT), which is counted, not timed."""
    t0 = time.perf_counter()
    r = client.post("/v1/ask", json={"question": question})
    ms = (time.perf_counter() - t0) * 1000
    if r.status_code == 503:
        return ms, None
    r.raise_for_status()
    return ms, r.json()


def measure(url: str, requests: int, clients: int) -> dict[str, float]:
    qs = [QUESTIONS[i % len(QUESTIONS)] for i in range(requests)]
    lat: list[float] = []
    shed = 0
    stages: dict[str, list[float]] = {}
    with httpx.Client(base_url=url, timeout=60) as warm:
        for q in QUESTIONS[:5]:
            one(warm, q)

    def worker(chunk: list[str]) -> list[tuple[float, dict]]:
        with httpx.Client(base_url=url, timeout=60) as c:
            return [one(c, q) for q in chunk]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for results in pool.map(worker, [qs[i::clients] for i in range(clients)]):
            for ms, body in results:
                if body is None:
                    shed += 1
                    continue
                lat.append(ms)
                for k, v in body.get("timings_ms", {}).items():
                    stages.setdefault(k, []).append(v)
    wall = time.perf_counter() - t0
    out = {"p50": pct(lat, 0.5), "p95": pct(lat, 0.95), "rps": len(lat) / wall, "shed": shed}
    out.update({f"stage_{k}": statistics.mean(v) for k, v in stages.items()})
    return out


def server_rss(pid: int) -> str:
    """Resident memory of the serving Python processes (the supervisor and each worker) and,
    separately, of the embedded PostgreSQL processes they started."""
    import psutil

    root = psutil.Process(pid)
    py, pg = [], 0
    for p in [root, *root.children(recursive=True)]:
        try:
            rss = p.memory_info().rss
            name = p.name()
        except psutil.NoSuchProcess:
            continue
        if name.startswith("postgres"):
            pg += rss
        else:
            py.append(rss)
    mb = ", ".join(f"{r / 2**20:.0f}" for r in py)
    return f"serving Python processes RSS MB: {mb}; PostgreSQL total {pg / 2**20:.0f} MB"


def report(label: str, m: dict[str, float]) -> None:
    stages = ", ".join(
        f"{k.removeprefix('stage_')} {v:.1f}" for k, v in m.items() if k.startswith("stage_")
    )
    print(
        f"{label}: p50 {m['p50']:.1f} ms, p95 {m['p95']:.1f} ms, {m['rps']:.1f} req/s,"
        f" {m['shed']:.0f} shed (503)"
        f"  | mean server-side ms: {stages}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--url")
    args = ap.parse_args()
    proc = None
    url = args.url
    if url is None:
        proc, url = start_server()
    try:
        report("sequential", measure(url, args.requests, 1))
        report(f"{args.clients} concurrent clients", measure(url, args.requests, args.clients))
        if proc is not None:
            print(server_rss(proc.pid))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
