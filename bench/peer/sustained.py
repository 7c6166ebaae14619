"""Sustained msg/s: the highest offered rate a system keeps up with, by one criterion for
both: the publishers achieved the offered rate, and within --catch-up s (5) of the last
publish every published reading is a point in InfluxDB. Only InfluxDB is asked: it is
the one output both systems have, and a reading counts when it is stored."""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.host import CpuWatch, Sampler, proc_status_kb
from bench.loads import Load
from bench.peer.systems import System
from bench.throughput.runs import log

PUBLISHER_SLACK = 0.97  # the publishers' achieved rate within 3 % of the offered one
ONE_PUBLISHER_MAX = 10_000  # msg/s one raw publisher process sends reliably here


class RssWatch(Sampler):
    """The largest VmRSS of the system's process, sampled every second while running: VmHWM
    alone would also count the start, this says what the load itself took."""

    def __init__(self, system: System) -> None:
        super().__init__()
        self.max_mb = 0.0
        self._system = system

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                kb = proc_status_kb(self._system.pid(), "VmRSS")
            except (OSError, KeyError, ValueError):
                continue
            self.max_mb = max(self.max_mb, kb / 1024)


def step(
    system: System, rate: int, duration: float, devices: int, catch_up: float
) -> dict[str, Any]:
    """Offer `rate` msg/s of telemetry for `duration` s; does the system keep up?"""
    system.reset_points()
    procs = 1 if rate <= ONE_PUBLISHER_MAX else 2
    with CpuWatch() as others:
        load = Load(system.mqtt_port, rate, devices, duration_s=duration, procs=procs, tag="peer")
        try:
            res = load.wait(duration + 120)
        finally:
            load.stop()
    t0_ms, t1_ms = int(res["t0"] * 1000) - 1, int(res["t1"] * 1000) + 1
    last_publish = res["t0"] + res["elapsed_s"]  # wall clock
    deadline = last_publish + catch_up
    asked = time.time()  # a count is what was stored when the query began
    points = system.count_points(t0_ms, t1_ms)
    while points < res["published"] and time.time() < deadline:
        time.sleep(0.2)
        asked = time.time()
        points = system.count_points(t0_ms, t1_ms)
    stored_after = asked - last_publish
    checks = {
        "publishers_kept_rate": res["achieved_rate"] >= PUBLISHER_SLACK * rate,
        "all_in_influx_in_time": points == res["published"] and asked <= deadline,
    }
    why = [k for k, v in checks.items() if not v]
    return {
        "rate": rate,
        "publisher_procs": procs,
        "keeps_up": not why,
        "why": ", ".join(why),
        "published": res["published"],
        "published_rate": res["achieved_rate"],
        "influx_points": points,
        "stored_after_last_publish_s": stored_after,
        "others_cpu": others.summary(),
    }


def drain(system: System, quiet_s: float = 3, timeout_s: float = 180) -> bool:
    """After a step it did not keep up with: until its point count stands still, so the
    backlog does not load the next phase."""
    t_end = time.time() + 3600
    last, since = -1, time.monotonic()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        n = system.count_points(0, int(t_end * 1000))
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return True
        time.sleep(0.5)
    return False


def search(system: System, args: argparse.Namespace) -> dict[str, Any]:
    """--from, +--step, ... up to --max: the last rate kept up with before the first one not
    kept up with (0 if not even --from); `capped` when the harness, not the system,
    stopped the search. Peak RSS over the steps."""
    steps: list[dict[str, Any]] = []
    best = 0
    with RssWatch(system) as rss:
        rate = args.rate_from
        while rate <= args.rate_max:
            r = step(system, rate, args.duration, args.devices, args.catch_up)
            steps.append(r)
            log(
                f"  {system.name} {rate} msg/s: {'keeps up' if r['keeps_up'] else 'behind'}"
                f" (published {r['published_rate']:.0f} msg/s, {r['influx_points']}/"
                f"{r['published']} points {r['stored_after_last_publish_s']:.1f} s after)"
                f" {r['why']}"
            )
            if not r["keeps_up"]:
                if not drain(system):
                    log(f"  {system.name}: backlog still draining after 180 s")
                break
            best = rate
            rate += args.step
    return {
        "rate": best,
        # `rate` is only a lower bound when the system never fell behind (the top, --max)
        # or the publishers, not the system, fell short: the ceiling's rule, no figure
        # from a search stopped by the harness passes for the system's limit
        "capped": not steps or "all_in_influx_in_time" not in steps[-1]["why"],
        "steps": steps,
        "peak_rss_mb": system.peak_rss_mb(),  # VmHWM: since the process started
        "max_sampled_rss_mb": rss.max_mb,
    }
