"""Restart: a backlog queued at the broker while the service is down; time to ready, to the
backlog committed, to the spool empty; then a steady resources window."""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import wait_until
from bench.host import wait_quiet
from bench.loads import Load
from bench.throughput.resources import resource_window
from bench.throughput.runs import fig, log, measured
from bench.throughput.stack import Stack, fresh


def restart_once(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    """Stop, queue the backlog at the broker (the service's persistent session keeps it),
    start: to ready, to the backlog committed, to the spool empty; then a steady window."""
    svc = stack.service
    t = time.monotonic()
    svc.stop()
    stop_s = time.monotonic() - t
    load = Load(
        stack.broker.port, 1_000_000, args.restart_devices, count=args.backlog, tag="backlog"
    )
    queued = load.wait(300)
    svc.start()
    ready_s = svc.wait_ready(args.start_timeout, poll_s=0.02)
    at_ready = svc.committed()
    rss_at_ready = svc.peak_rss_mb()
    wait_until(lambda: svc.committed() >= queued["acked"], 600, 0.1)
    committed_s = time.monotonic() - svc.started_at
    wait_until(lambda: svc.metrics().get("carewatch_spool_backlog", 1) == 0, 300, 0.1)
    spool_s = time.monotonic() - svc.started_at
    assert stack.db is not None
    points = stack.db.count_points(int(queued["t0"] * 1000) - 1, int(queued["t1"] * 1000) + 1)
    out = {
        "devices": args.restart_devices,
        "backlog": args.backlog,
        "queued": queued["acked"],
        "stop_s": stop_s,
        "ready_s": ready_s,
        "committed_at_ready": at_ready,
        "backlog_committed_s": committed_s,
        "drain_s": committed_s - ready_s,
        "drain_rate": queued["acked"] / max(1e-9, committed_s - ready_s),
        "spool_empty_s": spool_s,
        "influx_points": points,
        "all_in_influx": points == queued["acked"],
        "peak_rss_at_ready_mb": rss_at_ready,
        "peak_rss_after_backlog_mb": svc.peak_rss_mb(),
    }
    out["steady"] = resource_window(args, stack, args.restart_devices)
    return out


def run_restart(args: argparse.Namespace) -> dict[str, Any]:
    """One service with --restart-devices devices: a first start (empty database), then
    `--runs` restarts, each with a backlog of --backlog messages queued while it was down."""
    wait_quiet(args.wait_quiet)
    with fresh() as tmp, Stack(tmp, args.restart_devices, workers=args.workers) as stack:
        svc = stack.service
        svc.start()
        first = svc.wait_ready(args.start_timeout)
        first_rss = svc.peak_rss_mb()
        log(f"first start with {args.restart_devices} devices: ready after {first:.1f} s")
        runs = []
        for i in range(args.runs):
            r = measured(args, lambda a: restart_once(a, stack))
            runs.append(r)
            log(
                f"restart {i + 1}: ready {r['ready_s']:.2f} s, backlog of {r['queued']} committed"
                f" {r['drain_s']:.1f} s later ({r['drain_rate']:.0f} msg/s); steady"
                f" {r['steady']['cpu_s_per_1000']:.3f} CPU s / 1000 msg,"
                f" peak RSS {r['steady']['peak_rss_mb']:.0f} MB"
            )
    keys = (
        *("ready_s", "drain_s", "drain_rate", "backlog_committed_s", "spool_empty_s"),
        *("peak_rss_after_backlog_mb", "stop_s"),
    )
    return {
        "devices": args.restart_devices,
        "first_start_ready_s": first,
        "first_start_peak_rss_mb": first_rss,
        "runs": runs,
        **{k: fig([r[k] for r in runs]) for k in keys},
        "steady": {
            k: fig([r["steady"][k] for r in runs])
            for k in ("cpu_s_per_1000", "peak_rss_mb", "rss_mb")
        },
    }
