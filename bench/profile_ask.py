"""Where an /v1/ask request spends its time: py-spy samples the serving process while one
client asks the labelled questions in turn. Writes a flame graph (SVG) and the collapsed
stacks to bench/profile/, and prints the functions with the most samples (inclusive).

Usage: python bench/profile_ask.py [--seconds 20] [--label baseline] [--src DIR]
(--src: the source tree in DIR, e.g. an older commit's `git archive`, is served instead.)
Needs py-spy (`pip install py-spy`); run as root or with ptrace permission.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ask import QUESTIONS, start_server

OUT = Path(__file__).resolve().parent / "profile"


def summarise(collapsed: Path, top: int = 30, within: str = "rag_service/api/routes/ask.py") -> str:
    """Inclusive share of the request path's samples per function (each counted once per
    stack): only stacks through `within` (the /v1/ask route: the answer, the turn recorded,
    the response) count, so idle and housekeeping threads do not."""
    total = 0
    inclusive: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if within not in stack:
            continue
        n = int(count)
        total += n
        frames = {f.split(" (")[0] + " (" + f.split(" (")[-1] for f in stack.split(";")}
        for f in frames:
            inclusive[f] += n
    rows = [f"{total} samples in {within}; inclusive share of the top {top} frames:"]
    rows += [f"{100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--label", default="current")
    ap.add_argument("--src", type=Path, help="serve the source tree in this directory")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    proc, url = start_server(src=args.src)
    svg = OUT / f"ask-{args.label}.svg"
    raw = OUT / f"ask-{args.label}.collapsed"
    try:
        with httpx.Client(base_url=url, timeout=60) as c:
            for q in QUESTIONS[:5]:
                c.post("/v1/ask", json={"question": q})
            common = ["--pid", str(proc.pid), "--subprocesses", "--nonblocking", "-r", "200"]
            common += ["-d", str(args.seconds)]
            spies = [
                subprocess.Popen(["py-spy", "record", *common, "-o", str(svg)]),
                subprocess.Popen(["py-spy", "record", *common, "-f", "raw", "-o", str(raw)]),
            ]
            end = time.time() + args.seconds
            n = 0
            while time.time() < end:
                c.post("/v1/ask", json={"question": QUESTIONS[n % len(QUESTIONS)]})
                n += 1
            for s in spies:
                s.wait(timeout=120)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = f"{n} requests in {args.seconds} s\n" + summarise(raw)
    (OUT / f"ask-{args.label}.txt").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
