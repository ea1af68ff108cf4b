"""Ask-path benchmark over HTTP: prints numbers, asserts nothing.

Starts `rag-serve` (embedded database, bundled corpus, offline extractive generator) on a free
loopback port, then measures POST /v1/ask:
- sequentially (p50/p95 latency, requests/s),
- with N concurrent clients for each N of --clients (p50/p95, requests/s, 503s shed),
and for each phase the CPU time spent per answered request by the serving Python processes,
by PostgreSQL and by this client (the client shares the machine's cores with the server), the
server's own per-stage `timings_ms`, and at the end the RSS of every serving process.

The questions are the labelled ones (evals/datasets dev + extra, 76), asked in turn, so the
server's cache of question vectors answers most repeats; --uncached also measures each
variant with that cache off (RAG_EMBEDDING_CACHE_SIZE=0), every question embedded.

Before/after in one run: --before DIR serves the source tree in DIR (e.g. `git archive <commit>
| tar -x -C DIR`) as a first variant, measured the same way, then the installed tree (or the
tree in --after DIR: a commit, without a working tree's uncommitted changes). --naive
also runs bench/baseline_langchain.py (the naive LangChain pipeline, in process, sequential)
and prints each variant's throughput at the first --clients as a multiple of the naive one's.

Usage: python bench/ask.py [--requests 300] [--clients 8,32] [--uncached] [--before DIR]
                           [--naive] [--url http://...]
With --url, an already running service is measured instead (no CPU or RSS figures).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    json.loads(line)["question"]
    for name in ("dev.jsonl", "extra.jsonl")
    for line in (ROOT / "evals" / "datasets" / name).read_text().splitlines()
    if line.strip()
]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    extra_env: dict[str, str] | None = None, src: Path | None = None
) -> tuple[subprocess.Popen, str]:
    """`rag-serve` on a scratch data directory; with `src`, the package from that source tree
    (put first on PYTHONPATH) instead of the installed one."""
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="bench-ask-")
    env = {
        **os.environ,
        "PORT": str(port),
        "RAG_DATA_DIR": data_dir,
        "RAG_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    env.pop("DATABASE_URL", None)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    proc = subprocess.Popen([sys.executable, "-m", "rag_service.cli"], env=env, cwd=src or ROOT)
    proc.data_dir = data_dir  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
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


class CpuMeter:
    """CPU seconds used so far by the serving Python processes, by the embedded PostgreSQL
    (the postmaster, its live backends and the ones it has reaped) and by this process."""

    def __init__(self, proc: subprocess.Popen | None) -> None:
        self.proc = proc

    def _postmaster(self) -> psutil.Process | None:
        data_dir = getattr(self.proc, "data_dir", None)
        pid_file = Path(data_dir or "/nonexistent") / "pgdata" / "postmaster.pid"
        try:
            return psutil.Process(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError, psutil.Error):
            return None

    def read(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        out = {"client": own.ru_utime + own.ru_stime, "server": 0.0, "postgres": 0.0}
        if self.proc is None:
            return out
        root = psutil.Process(self.proc.pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                key = "postgres" if p.name().startswith("postgres") else "server"
                out[key] += t.user + t.system
            except psutil.Error:
                continue
        if (pm := self._postmaster()) is not None:
            for p in [pm, *pm.children(recursive=True)]:
                try:
                    t = p.cpu_times()
                    out["postgres"] += t.user + t.system
                    if p.pid == pm.pid:
                        out["postgres"] += t.children_user + t.children_system
                except psutil.Error:
                    continue
        return out


@dataclass
class Phase:
    clients: int
    p50: float
    p95: float
    rps: float
    shed: int
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per answered request
    stages: dict[str, float] = field(default_factory=dict)  # mean server-side ms


def measure(url: str, requests: int, clients: int, meter: CpuMeter) -> Phase:
    qs = [QUESTIONS[i % len(QUESTIONS)] for i in range(requests)]
    lat: list[float] = []
    shed = 0
    stages: dict[str, list[float]] = {}
    with httpx.Client(base_url=url, timeout=60) as warm:
        for q in QUESTIONS[:5]:
            one(warm, q)

    def worker(chunk: list[str]) -> list[tuple[float, dict | None]]:
        with httpx.Client(base_url=url, timeout=60) as c:
            return [one(c, q) for q in chunk]

    cpu0 = meter.read()
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
    cpu1 = meter.read()
    n = max(1, len(lat))
    return Phase(
        clients,
        pct(lat, 0.5),
        pct(lat, 0.95),
        len(lat) / wall,
        shed,
        {k: 1000 * (cpu1[k] - cpu0[k]) / n for k in cpu0},
        {k: statistics.mean(v) for k, v in stages.items()},
    )


def server_rss(pid: int) -> list[float]:
    """Resident MB of the serving Python processes (the supervisor first, then each worker)."""
    root = psutil.Process(pid)
    out = []
    for p in [root, *root.children(recursive=True)]:
        try:
            if not p.name().startswith("postgres"):
                out.append(p.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            continue
    return out


def report(label: str, m: Phase) -> None:
    who = "sequential" if m.clients == 1 else f"{m.clients} concurrent clients"
    cpu = ", ".join(f"{k} {v:.1f}" for k, v in m.cpu_ms.items())
    stages = ", ".join(f"{k} {v:.1f}" for k, v in m.stages.items())
    print(
        f"[{label}] {who}: p50 {m.p50:.1f} ms, p95 {m.p95:.1f} ms, {m.rps:.1f} req/s,"
        f" {m.shed} shed (503) | CPU ms per request: {cpu} | mean server-side ms: {stages}",
        flush=True,
    )


def run_variant(
    label: str, args: argparse.Namespace, env: dict[str, str], src: Path | None
) -> tuple[list[Phase], list[float]]:
    proc, url = start_server(env, src)
    try:
        meter = CpuMeter(proc)
        phases = [measure(url, args.requests, 1, meter)]
        report(label, phases[0])
        for n in args.clients:
            phases.append(measure(url, args.requests, n, meter))
            report(label, phases[-1])
        rss = server_rss(proc.pid)
        print(f"[{label}] serving Python processes RSS MB: " + ", ".join(f"{r:.0f}" for r in rss))
        return phases, rss
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(proc.data_dir, ignore_errors=True)  # type: ignore[attr-defined]


def naive_rps(env: dict[str, str] | None = None) -> float | None:
    """Sequential requests/s of the naive LangChain pipeline (bench/baseline_langchain.py,
    in process): 1000 / its mean latency. It embeds with the service's own embedder, LRU
    cache of short inputs included unless `env` turns it off (RAG_EMBEDDING_CACHE_SIZE=0):
    the pipeline a user would write first has no such cache."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "baseline_langchain.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        env={**os.environ, **(env or {})},
    )
    print(out.stdout, end="")
    m = re.search(r"^naive LangChain PGVector .*?([\d.]+) req/s", out.stdout, re.M)
    if m is None:
        print(out.stderr[-2000:])
        return None
    return float(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--clients", default="8,32", help="comma-separated client counts")
    ap.add_argument("--url")
    ap.add_argument("--uncached", action="store_true", help="also with the vector cache off")
    ap.add_argument("--before", type=Path, help="a source tree served as the 'before' variant")
    ap.add_argument("--after", type=Path, help="a source tree served instead of the installed one")
    ap.add_argument("--naive", action="store_true", help="also the naive pipeline, as a ratio")
    args = ap.parse_args()
    args.clients = [int(c) for c in args.clients.split(",") if c]
    if args.url:
        meter = CpuMeter(None)
        report("given url", measure(args.url, args.requests, 1, meter))
        for n in args.clients:
            report("given url", measure(args.url, args.requests, n, meter))
        return
    variants: list[tuple[str, dict[str, str], Path | None]] = []
    for tree, src in (("before", args.before), ("after", args.after)):
        if tree == "before" and src is None:
            continue
        label = tree if args.before else "ask"
        variants.append((label, {}, src))
        if args.uncached:
            variants.append((f"{label}, no vector cache", {"RAG_EMBEDDING_CACHE_SIZE": "0"}, src))
    results = {label: run_variant(label, args, env, src) for label, env, src in variants}
    naive = naive_rps() if args.naive else None
    naive_nc = naive_rps({"RAG_EMBEDDING_CACHE_SIZE": "0"}) if args.naive else None

    head = ["variant", "seq p50/p95 ms", "seq req/s"]
    for n in args.clients:
        head += [f"{n} clients req/s", f"{n} clients p95 ms"]
    head += ["CPU ms/req at " + str(args.clients[0]), "RSS MB"]
    if naive:
        head.append(f"x naive ({naive:.1f} req/s)")
    if naive_nc:
        head.append(f"x naive, no vector cache ({naive_nc:.1f} req/s)")
    print("\n| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for label, (phases, rss) in results.items():
        seq, conc = phases[0], phases[1:]
        row = [label, f"{seq.p50:.1f} / {seq.p95:.1f}", f"{seq.rps:.1f}"]
        for p in conc:
            row += [f"{p.rps:.1f}" + (f" ({p.shed} shed)" if p.shed else ""), f"{p.p95:.1f}"]
        cpu = conc[0].cpu_ms if conc else seq.cpu_ms
        row.append(" / ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
        row.append(" + ".join(f"{r:.0f}" for r in rss))
        for base in (naive, naive_nc):
            if base:
                row.append(f"{(conc[0].rps if conc else seq.rps) / base:.1f}x")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
