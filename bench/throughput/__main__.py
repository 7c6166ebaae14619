"""`python -m bench.throughput`: the arguments, the phases in order, the JSON document
written after each phase and the table at the end."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from bench import loads, throughput
from bench.common import write_result
from bench.host import machine
from bench.throughput.ceiling import run_ceiling
from bench.throughput.latency import PATH_NAMES, run_latency
from bench.throughput.report import (
    TARGET_P99_MS,
    TARGET_RATIO,
    TARGET_READY_S,
    TARGET_RSS_MB,
    table,
)
from bench.throughput.resources import run_resources
from bench.throughput.restart import run_restart
from bench.throughput.runs import log
from bench.throughput.sites import run_sites
from bench.throughput.sustained import run_sustained


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.throughput",
        description=throughput.__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true", help="one run, short steps (~5 min)")
    ap.add_argument(
        "--client", choices=["raw", "paho"], default="raw", help="load generators' MQTT client"
    )
    ap.add_argument("--only", nargs="*", default=None, help="ceiling sustained latency ...")
    ap.add_argument("--name", default=None, help="bench/results/<name>.json")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=60, help="seconds per sustained step")
    ap.add_argument("--ceiling-duration", type=float, default=20, help="seconds per step")
    ap.add_argument("--step", type=int, default=1000, help="rate resolution, msg/s")
    ap.add_argument(
        "--max-rate",
        type=int,
        default=40_000,
        help="the service's search stops here; the"
        " ceiling's goes on until the bare subscriber falls behind",
    )
    ap.add_argument(
        "--probe-rates",
        type=int,
        nargs="*",
        default=[2000, 4000, 8000, 12000, 16000, 20000, 24000, 28000, 32000, 40000],
    )
    ap.add_argument("--probe-duration", type=float, default=6)
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=15,
        help="before each run, wait up to this long for other processes to go quiet",
    )
    ap.add_argument("--loads", type=int, nargs="*", default=[0, 1000, 2500, 10000])
    ap.add_argument("--main-loads", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--extra-runs", type=int, default=1, help="runs at the other loads")
    ap.add_argument("--alarms", type=int, default=100, help="alarms per latency run")
    ap.add_argument("--alarm-interval", type=float, default=0.1)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--latency-timeout", type=float, default=240)
    ap.add_argument("--resource-rate", type=int, default=2000)
    ap.add_argument("--res-duration", type=float, default=20)
    ap.add_argument("--idle", type=float, default=5)
    ap.add_argument("--restart-devices", type=int, default=50_000)
    ap.add_argument("--start-timeout", type=float, default=900, help="seconds to /readyz")
    ap.add_argument("--backlog", type=int, default=100_000)
    ap.add_argument("--sites-homes", type=int, default=50, help="nursing homes of the district")
    ap.add_argument("--sites-home-devices", type=int, default=200, help="devices per home")
    ap.add_argument("--sites-beds", type=int, default=450, help="home beds (8 devices each)")
    ap.add_argument("--sites-rate", type=int, default=1000, help="telemetry over all sites")
    ap.add_argument("--sites-duration", type=float, default=60, help="seconds of the window")
    ap.add_argument("--sites-restarts", type=int, default=3, help="restarts per run")
    ap.add_argument(
        "--sites-max-packet",
        type=int,
        default=1 << 20,
        help="the broker's max_packet_size for the sites phase (ingest/broker.py: 65536, too"
        " small for the district's SUBSCRIBE: docs/performance.md)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=0,
        help="ingest worker processes of the service (ingest_workers, docs/scaling.md)",
    )
    args = ap.parse_args()
    if args.quick:
        args.runs, args.extra_runs = 1, 0
        args.duration, args.ceiling_duration, args.wait_quiet = 15, 15, 10
        args.loads = args.main_loads
        args.alarms, args.res_duration, args.idle = 50, 10, 2
        # a first start with 50,000 devices alone takes about a minute (docs/performance.md)
        args.restart_devices, args.backlog = 10_000, 20_000
        args.sites_duration, args.sites_restarts = 15, 1
    loads.LOADGEN_CLIENT = args.client
    phases = args.only or ["ceiling", "sustained", "latency", "resources", "restart", "sites"]
    name = args.name or f"throughput-{time.strftime('%Y%m%dT%H%M%S')}"
    doc: dict[str, Any] = {
        "bench": "throughput",
        "name": name,
        "machine": machine(),
        "settings": vars(args),
        "targets": {
            "sustained_ratio": TARGET_RATIO,
            "latency_p99_ms": {str(k): v for k, v in TARGET_P99_MS.items()},
            "rss_mb_50k": TARGET_RSS_MB,
            "ready_s_50k": TARGET_READY_S,
            "sites_rss_mb": TARGET_RSS_MB,
            "sites_ready_s": TARGET_READY_S,
            "sites_p99": "alarm -> screen (sse) p99 with the district no worse than one site",
        },
        "paths": PATH_NAMES,
    }
    runners: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "ceiling": run_ceiling,
        "sustained": run_sustained,
        "latency": run_latency,
        "resources": run_resources,
        "restart": run_restart,
        "sites": run_sites,
    }
    t0 = time.monotonic()
    for phase in phases:
        log(f"--- {phase}")
        doc[phase] = runners[phase](args)
        doc["elapsed_s"] = time.monotonic() - t0
        path = write_result(name, doc)  # after each phase: a later failure keeps these
    print(table(doc))
    print(f"wrote {path} ({doc['elapsed_s'] / 60:.1f} min)")


if __name__ == "__main__":
    main()
