"""Resources: CPU per 1,000 messages and peak RSS at a fixed rate, 10,000 devices (the
restart phase measures 50,000 with the same window)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import wait_until
from bench.host import proc_cpu_s, wait_quiet
from bench.loads import Load
from bench.throughput.runs import fig, log, measured
from bench.throughput.stack import Stack, fresh


def resource_window(args: argparse.Namespace, stack: Stack, devices: int) -> dict[str, Any]:
    """`--resource-rate` msg/s for `--res-duration` s: CPU per 1,000 messages of the
    service (and of the broker and influxd, for comparison), peak RSS so far."""
    svc = stack.service
    c0, cpu0, main0 = svc.committed(), svc.cpu_s(), proc_cpu_s(svc.pid)
    b0, i0 = stack.broker_cpu_s(), stack.influx_cpu_s()
    load = Load(stack.broker.port, args.resource_rate, devices, duration_s=args.res_duration)
    res = load.wait()
    ok = wait_until(
        lambda: (
            svc.committed() - c0 >= res["published"]
            and svc.metrics().get("carewatch_spool_backlog", 1) == 0
        ),
        120,
        0.2,
    )
    m = svc.metrics()
    n = svc.committed(m) - c0
    return {
        "devices": devices,
        "rate": args.resource_rate,
        "published_rate": res["achieved_rate"],
        "all_committed": ok and n == res["published"],
        "published": res["published"],
        "committed": n,
        "spool_at_end": m.get("carewatch_spool_backlog", 0.0),
        "cpu_s_per_1000": (svc.cpu_s() - cpu0) / n * 1000,
        # the service's own process alone: with ingest workers, what is left to the one
        # engine process (its GIL) per message, the figure that bounds it on many cores
        "main_cpu_s_per_1000": (proc_cpu_s(svc.pid) - main0) / n * 1000,
        "broker_cpu_s_per_1000": (stack.broker_cpu_s() - b0) / n * 1000,
        "influxd_cpu_s_per_1000": (stack.influx_cpu_s() - i0) / n * 1000,
        "loadgen_cpu_s_per_1000": res["cpu_s"] / res["published"] * 1000,
        "peak_rss_mb": svc.peak_rss_mb(),
        "rss_mb": svc.rss_mb(),
    }


def run_resources(args: argparse.Namespace) -> dict[str, Any]:
    """10,000 devices: one service, `--runs` windows at the fixed rate (50,000 devices: the
    restart phase's windows, after each restart)."""
    n = 10_000
    wait_quiet(args.wait_quiet)
    with fresh() as tmp, Stack(tmp, n, workers=args.workers) as stack:
        svc = stack.service
        svc.start()
        ready_s = svc.wait_ready(args.start_timeout)
        time.sleep(1)
        idle0, t_idle = svc.cpu_s(), time.monotonic()
        time.sleep(args.idle)
        idle_pct = (svc.cpu_s() - idle0) / (time.monotonic() - t_idle) * 100
        started = {"ready_s": ready_s, "rss_mb": svc.rss_mb(), "peak_rss_mb": svc.peak_rss_mb()}
        runs = []
        for i in range(args.runs):
            r = measured(args, lambda a: resource_window(a, stack, n))
            runs.append(r)
            log(
                f"resources {n} devices window {i + 1}: {r['cpu_s_per_1000']:.3f} CPU s"
                f" / 1000 msg (main process {r['main_cpu_s_per_1000']:.3f}), peak RSS"
                f" {r['peak_rss_mb']:.0f} MB"
            )
    return {
        "devices": n,
        "started": started,
        "idle_cpu_pct": idle_pct,
        "runs": runs,
        **{
            k: fig([r[k] for r in runs])
            for k in ("cpu_s_per_1000", "main_cpu_s_per_1000", "peak_rss_mb", "rss_mb")
        },
    }
