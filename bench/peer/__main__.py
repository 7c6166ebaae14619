"""`python -m bench.peer`: the arguments, each run's phases for each system, the JSON
document and the table. Every process started is stopped in `finally`, on Ctrl-C and
SIGTERM too."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import peer
from bench.common import ROOT, write_result
from bench.host import machine, wait_quiet
from bench.peer.alarms import kill_run, latency_run
from bench.peer.hook import Hook
from bench.peer.nodered import NodeRed
from bench.peer.report import summarize, table
from bench.peer.sustained import search
from bench.peer.systems import CareWatch, System
from bench.throughput.runs import log

PHASES = ("sustained", "latency", "kill")


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench.peer",
        description=peer.__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    ap.add_argument("--peer-dir", type=Path, default=ROOT.parent / "shared/peers/nodered")
    ap.add_argument("--systems", nargs="*", default=["carewatch", "node-red"])
    ap.add_argument("--only", nargs="*", default=list(PHASES), choices=PHASES)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cw-workers", type=int, default=0, help="CareWatch's ingest_workers")
    ap.add_argument("--devices", type=int, default=10_000, help="wearables of the load")
    ap.add_argument("--duration", type=float, default=20, help="seconds per sustained step")
    ap.add_argument("--from", dest="rate_from", type=int, default=8000)
    ap.add_argument("--step", type=int, default=2000)
    ap.add_argument("--max", dest="rate_max", type=int, default=60_000)
    ap.add_argument("--catch-up", type=float, default=5, help="s after the last publish")
    ap.add_argument("--loads", type=int, nargs="*", default=[1000, 5000])
    ap.add_argument(
        "--alarms", type=int, default=1000, help="falls per latency phase (p99: the 10th slowest)"
    )
    ap.add_argument("--alarm-interval", type=float, default=0.05)
    ap.add_argument("--warmup", type=float, default=2, help="s of telemetry before alarms")
    ap.add_argument("--latency-timeout", type=float, default=20, help="s quiet: done")
    ap.add_argument("--kill-alarms", type=int, default=1000)
    ap.add_argument("--kill-rate", type=float, default=1000)
    ap.add_argument("--kill-load", type=int, default=5000)
    ap.add_argument("--kill-at", type=float, default=0.5)
    ap.add_argument("--kill-down", type=float, default=1.0)
    ap.add_argument("--quiet", type=float, default=20, help="kill: s without an arrival: done")
    ap.add_argument("--settle", type=float, default=5, help="kill: s quiet after all arrived")
    ap.add_argument("--wait-quiet", type=float, default=15, help="max s to wait for idle CPU")
    args = ap.parse_args()
    if len(args.loads) * args.alarms + args.kill_alarms > args.devices:
        ap.error("--devices must cover the falls' wearables (each phase its own)")
    if not (args.peer_dir / "start_stack.sh").is_file():
        ap.error(f"no Node-RED peer in {args.peer_dir} (set PEER_DIR / --peer-dir)")
    return args


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def one_system(args: argparse.Namespace, system: System, hook: Hook, run: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    log(f"run {run}: {system.name}: starting")
    system.start()
    try:
        if "sustained" in args.only:
            out["sustained"] = s = search(system, args)
            log(
                f"run {run}: {system.name} keeps up at {s['rate']} msg/s,"
                f" peak RSS {s['peak_rss_mb']:.0f} MB"
            )
        if "latency" in args.only:
            out["latency"] = {}
            for i, load in enumerate(args.loads):
                r = latency_run(args, system, hook, load, i * args.alarms, f"r{run}l{load}")
                out["latency"][str(load)] = r
                log(
                    f"run {run}: {system.name} @{load} msg/s: {r['arrived']}/{r['alarms']} falls,"
                    f" p50 {ms(r['p50_ms'])} p99 {ms(r['p99_ms'])} max {ms(r['max_ms'])} ms"
                )
        if "kill" in args.only:
            first = len(args.loads) * args.alarms
            out["kill"] = k = kill_run(args, system, hook, first, f"r{run}k")
            log(
                f"run {run}: {system.name} kill -9: lost {k['lost']}, doubled {k['doubled']},"
                f" repeated {k['repeated']} of {k['alarms']}"
                f" (restart: {ms(k.get('restart_s'))} s {k.get('restart_error', '')})"
            )
    finally:
        system.stop()
    return out


def main() -> None:
    args = arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # finally blocks still run
    nodered = NodeRed(args.peer_dir)
    busy = nodered.busy_ports()
    if busy:
        sys.exit(f"ports {busy} are in use: the peer's stack (or its bench) is running already")
    nodered.install()
    name = f"peer-{time.strftime('%Y%m%dT%H%M%S')}"
    tmp = Path(tempfile.mkdtemp(prefix="cw-peer-hook-"))  # the receiver's record and log
    hook = Hook(nodered.hook_port, tmp / "arrivals.jsonl")
    systems: dict[str, System] = {
        "carewatch": CareWatch(args.devices, hook.url, args.cw_workers),
        "node-red": nodered,
    }
    doc: dict[str, Any] = {
        "bench": "peer",
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine(),
        "runs": [],
    }
    hook.start()
    try:
        for i in range(1, args.runs + 1):
            run: dict[str, Any] = {}
            for s in args.systems:
                quiet = wait_quiet(args.wait_quiet)
                run[s] = one_system(args, systems[s], hook, i) | {"others_cpu_before": quiet}
            doc["runs"].append(run)
            doc["receiver_errors"] = hook.errors()
            doc["summary"] = {s: summarize(doc["runs"], s, args.loads) for s in args.systems}
            path = write_result(name, doc)
    finally:
        try:
            hook.stop()
            for s in systems.values():
                s.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(table(doc["summary"], args.loads))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
