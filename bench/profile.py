"""Where the service's CPU goes at high load: py-spy on `carewatch serve`.

    .venv/bin/pip install py-spy          # not a dependency: a tool, install it to profile
    python -m bench.profile [--rate 3000] [--seconds 20] [--gil]

Starts the benchmark stack (mosquitto, influxd, the service with 10,000 wearables), offers
`--rate` msg/s of telemetry, records the service for `--seconds` s with
`py-spy record --format raw --threads` (100 samples a second; `--gil`: only the thread
holding the GIL, i.e. what the one interpreter is busy with) and prints the share of
samples per thread, the top frames by own time and by inclusive time. Writes
bench/results/profile-<time>.json: the summary and py-spy's collapsed stacks (`stacks`,
one "frame;frame;... count" line each, what flame-graph tools read).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import RESULTS
from bench.loads import Load
from bench.throughput.stack import Stack

_THREAD = re.compile(r"^(?:process \d+:\"[^\"]*\";)?thread \((0x[0-9A-Fa-f]+|\d+)\)")


def summarize(raw: Path, top: int = 25) -> str:
    """Per-thread shares, top own-time and inclusive frames of py-spy's collapsed stacks."""
    by_thread: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread ")), "?")
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        total += count
        by_thread[thread] += count
        if frames:
            own[_short(frames[-1])] += count
        for f in {_short(f) for f in frames}:
            incl[f] += count
    if not total:
        return "no samples"
    out = [f"{total} samples"]
    out.append("\nshare of samples by thread:")
    out += [f"  {n / total:6.1%}  {t}" for t, n in by_thread.most_common(10)]
    out.append("\ntop frames, own time:")
    out += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    out.append("\ntop frames, inclusive (the frame or anything it called):")
    out += [f"  {n / total:6.1%}  {f}" for f, n in incl.most_common(top)]
    return "\n".join(out)


def _short(frame: str) -> str:
    """'function (path/to/module.py:123)' -> 'function (module.py)'; lines vary by sample."""
    m = re.match(r"^(.*) \((.*?):\d+\)$", frame)
    if not m:
        return frame
    path = m.group(2)
    for marker in ("site-packages/", "/work/main/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group(1)} ({path})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=int, default=3000, help="offered msg/s while recording")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--gil", action="store_true", help="sample only the GIL holder")
    ap.add_argument("--warmup", type=float, default=5)
    args = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("py-spy not found: .venv/bin/pip install py-spy")
    stamp = time.strftime("%Y%m%dT%H%M%S")
    with tempfile.TemporaryDirectory(prefix="cw-profile-") as d, Stack(Path(d), 10_000) as stack:
        raw = Path(d) / "profile.raw"
        stack.service.start()
        stack.service.wait_ready(900)
        load = Load(stack.broker.port, args.rate, 10_000, duration_s=args.warmup + args.seconds + 2)
        time.sleep(args.warmup)
        cmd = [spy, "record", "--format", "raw", "--threads", "-r", "100"]
        cmd += ["-d", str(args.seconds), "-p", str(stack.service.pid), "-o", str(raw)]
        if args.gil:
            cmd.append("--gil")
        subprocess.run(cmd, check=True, capture_output=True)
        c = stack.service.committed()
        load.stop()
        text = (
            f"py-spy {'--gil ' if args.gil else ''}on carewatch serve, {args.rate} msg/s"
            f" offered, {args.seconds} s ({c} messages committed by the end)\n\n" + summarize(raw)
        )
        stacks = raw.read_text().splitlines()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{stamp}.json"
    doc = {"bench": "profile", "settings": vars(args), "summary": text, "stacks": stacks}
    out.write_text(json.dumps(doc, indent=1))
    print(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
