"""Does a Langfuse outage slow requests? Prints numbers; asserts nothing.

Measures /v1/ask (sequential) on a server with tracing disabled, then on one whose Langfuse
host is unreachable (keys set, LANGFUSE_BASE_URL pointing at a closed loopback port), and how
long that server takes to shut down (the bounded final flush).

Usage: python bench/tracing.py [--requests 100]
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ask import measure, report, start_server


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100)
    args = ap.parse_args()
    runs = {
        "tracing disabled": {"LANGFUSE_TRACING_ENABLED": "false"},
        "Langfuse unreachable": {
            "LANGFUSE_PUBLIC_KEY": "pk-lf-bench",
            "LANGFUSE_SECRET_KEY": "sk-lf-bench",
            "LANGFUSE_BASE_URL": f"http://127.0.0.1:{closed_port()}",
            "LANGFUSE_TRACING_ENABLED": "true",
            "LANGFUSE_TIMEOUT": "2",
        },
    }
    for label, env in runs.items():
        proc, url = start_server(env)
        try:
            report(label, measure(url, args.requests, 1))
        finally:
            t0 = time.perf_counter()
            proc.terminate()
            proc.wait(timeout=60)
            print(f"  {label}: shutdown took {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
