"""Many sites: one service watching a district (50 nursing homes of 200 devices and 450
home beds of 8, bench/district.py, a generated `sites_dir`) against the same service
watching the demo home alone, each on a fresh stack, measured alike (docs/performance.md,
"Many sites"):

1. first start to /readyz; in the district, falls right away, while every site writes
   its daily report of the last watch day (the catch-up of a first start);
2. the catch-up: how many reports, the last one how long after ready;
3. --sites-rate msg/s of telemetry over every device of every site for --sites-duration
   s: every message committed, none rejected, CPU per 1,000 messages, peak RSS;
4. falls from wearables of random sites under the same background rate (publish -> the
   commit, -> `change` on /api/alerts/stream, and the other paths of the latency phase);
   both sides take the same number (at most the demo home's 74 wearables: a fall alert
   is latched, one per wearable);
5. --sites-restarts restarts: stop, start, /readyz.

The broker runs with max_packet_size --sites-max-packet (1 MiB): the district's
SUBSCRIBE packets are larger than the 64 KiB of ingest/broker.py's mosquitto.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import wait_until
from bench.district import DEMO_SITE, Publishing, publishing, write_district
from bench.host import CpuWatch
from bench.loads import Load
from bench.throughput.latency import PATHS, alarm_run, describe, summarize
from bench.throughput.runs import fig, log, measured
from bench.throughput.stack import Stack, fresh
from devices.decode import Decoder
from devices.registry import load_sites


def subscribe_bytes(sites: Path) -> dict[str, dict[str, int]]:
    """The topic filters of each MQTT session of the service (devices/decode.py
    Decoder.subscriptions) and the size of the one MQTT 5 SUBSCRIBE that carries them
    (ingest/mqtt.py MqttSource._on_connect): a broker disconnects a client whose packet
    passes its max_packet_size (64 KiB for ingest/broker.py's mosquitto)."""
    decoder = Decoder(load_sites(sites))
    out = {}
    for lane in ("events", "telemetry"):
        topics = decoder.subscriptions(lane)
        body = 3 + sum(2 + len(t.encode()) + 1 for t in topics)  # packet id, no properties
        length = 1 + next(k for k in (1, 2, 3, 4) if body < 128**k)
        out[lane] = {"filters": len(topics), "bytes": length + body}
    return out


def pick_falls(
    devs: list[Publishing], n: int, seed: int, taken: set[str] | None = None
) -> list[tuple[str, str]]:
    """`n` different wearables (none of `taken`: a fall alert is latched, a second fall
    of the same wearable raises no new one), each of a site drawn at random (sites with
    no wearable left are drawn again)."""
    rng = random.Random(seed)  # noqa: S311 - which wearable falls, not a secret
    left: dict[str, list[str]] = {}
    for d in devs:
        if d.type == "wearable" and d.device not in (taken or set()):
            left.setdefault(d.site, []).append(d.device)
    out: list[tuple[str, str]] = []
    while len(out) < n and left:
        site = rng.choice(sorted(left))
        wearables = left[site]
        out.append((site, wearables.pop(rng.randrange(len(wearables)))))
        if not wearables:
            del left[site]
    return out


def load_window(args: argparse.Namespace, stack: Stack, sites: Path, n: int) -> dict[str, Any]:
    """--sites-rate msg/s over the sites' `n` devices for --sites-duration s: every message
    committed (none rejected), CPU per 1,000 messages, peak RSS."""
    svc = stack.service
    m0 = svc.metrics()
    c0, r0, cpu0 = svc.committed(m0), svc.rejected(m0), svc.cpu_s()
    b0, i0 = stack.broker_cpu_s(), stack.influx_cpu_s()
    load = Load(stack.broker.port, args.sites_rate, n, duration_s=args.sites_duration, sites=sites)
    res = load.wait(args.sites_duration + 120)
    ok = wait_until(lambda: svc.committed() - c0 >= res["published"], 120, 0.2)
    m = svc.metrics()
    committed = svc.committed(m) - c0
    if committed == 0:
        raise RuntimeError(f"the service committed nothing:\n{svc.logtail()}")
    return {
        "rate": args.sites_rate,
        "published_rate": res["achieved_rate"],
        "published": res["published"],
        "committed": committed,
        "all_committed": ok and committed == res["published"],
        "rejected": svc.rejected(m) - r0,
        "rejected_by_reason": {
            k: v for k, v in m.items() if 'outcome="rejected"' in k and v > m0.get(k, 0)
        },
        "cpu_s_per_1000": (svc.cpu_s() - cpu0) / committed * 1000,
        "broker_cpu_s_per_1000": (stack.broker_cpu_s() - b0) / committed * 1000,
        "influxd_cpu_s_per_1000": (stack.influx_cpu_s() - i0) / committed * 1000,
        "peak_rss_mb": svc.peak_rss_mb(),
        "rss_mb": svc.rss_mb(),
    }


def falls(
    args: argparse.Namespace, stack: Stack, sites: Path, alarms: list[tuple[str, str]], n: int
) -> dict[str, Any]:
    """Falls of the (site, wearable) `alarms` under --sites-rate msg/s over all `n` devices
    of the sites."""
    port = stack.broker.port

    def background(seconds: float) -> Load:
        return Load(port, args.sites_rate, n, duration_s=seconds, sites=sites)

    return alarm_run(args, stack, alarms, background) | {"sites_hit": len({s for s, _ in alarms})}


def watched(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A part of a run, with the CPU other processes used meanwhile."""
    with CpuWatch() as others:
        r = fn()
    return r | {"others_cpu": others.summary()}


def settle(stack: Stack, ready_wall: float, max_s: float = 300) -> dict[str, Any]:
    """After a first start the service catches up: each site's daily report of the last
    watch day (alerting/reports/daily.py, once at start). Wait until its CPU is quiet
    (under 0.1 cores for 2 s); the catch-up took from ready to the last report file
    written."""
    svc = stack.service
    t0, quiet = time.monotonic(), 0
    while time.monotonic() - t0 < max_s and quiet < 2:
        c = svc.cpu_s()
        time.sleep(1)
        quiet = quiet + 1 if svc.cpu_s() - c < 0.1 else 0
    folder = svc.dir / "data" / "reports"
    files = list(folder.rglob("*.json")) if folder.exists() else []
    last = max((f.stat().st_mtime for f in files), default=ready_wall)
    return {"reports_written": len(files), "busy_s": max(0.0, last - ready_wall)}


def half(
    args: argparse.Namespace,
    sites: Path,
    devs: list[Publishing],
    n: int,
    seed: int,
    burst: bool,
) -> dict[str, Any]:
    """One service over `sites` on a fresh stack: first start (with `burst`: falls right
    after ready, while the sites' daily reports are written), the catch-up, the load
    window, the falls, restarts."""
    options = {"max_packet_size": str(args.sites_max_packet)}
    with (
        fresh() as tmp,
        Stack(tmp, 0, webhook=True, sites=sites, broker_options=options) as stack,
    ):
        svc = stack.service
        svc.start()
        ready = svc.wait_ready(args.start_timeout)
        ready_wall = time.time()
        out: dict[str, Any] = {"first_ready_s": ready, "peak_rss_at_ready_mb": svc.peak_rss_mb()}
        alarms = pick_falls(devs, n, seed)
        if burst:
            during = pick_falls(devs, n, seed, taken={d for _, d in alarms})
            quick = argparse.Namespace(**vars(args) | {"warmup": 0.5})
            out["latency_catch_up"] = falls(quick, stack, sites, during, len(devs))
        out["catch_up"] = settle(stack, ready_wall)
        out["window"] = load_window(args, stack, sites, len(devs))
        out["latency"] = falls(args, stack, sites, alarms, len(devs))
        out["peak_rss_mb"] = svc.peak_rss_mb()  # the whole life: start, window, falls
        restarts = []
        for _ in range(args.sites_restarts):
            svc.stop()
            svc.start()
            restarts.append(svc.wait_ready(args.start_timeout, poll_s=0.02))
        out["restart_ready_s"] = restarts
        out["peak_rss_after_restart_mb"] = svc.peak_rss_mb()
        return out


def sites_run(
    args: argparse.Namespace, sites: Path, devs: list[Publishing], seed: int
) -> dict[str, Any]:
    """The district, then the demo home alone, each on a fresh stack."""
    demo = publishing(DEMO_SITE)
    n = min(args.alarms, sum(d.type == "wearable" for d in demo))
    district = watched(lambda: half(args, sites, devs, n, seed, burst=True))
    one = watched(lambda: half(args, DEMO_SITE, demo, n, seed, burst=False))
    return {"district": district, "one_site": one}


def run_sites(args: argparse.Namespace) -> dict[str, Any]:
    with fresh() as tmp:
        sites = tmp / "district"
        shape: dict[str, Any] = dict(
            write_district(sites, args.sites_homes, args.sites_home_devices, args.sites_beds)
        )
        devs = publishing(sites)
        zigbee = sum(not d.topic.startswith("carewatch/") for d in devs)
        subs = subscribe_bytes(sites)
        shape |= {"zigbee_devices": zigbee, "subscribe": subs}
        shape["subscriptions"] = sum(x["filters"] for x in subs.values())
        log(
            f"district: {shape['sites']} sites, {len(devs)} devices ({zigbee} on"
            " Zigbee2MQTT); SUBSCRIBE packets "
            + ", ".join(f"{k} {v['filters']} filters {v['bytes']:,} B" for k, v in subs.items())
            + f"; broker max_packet_size {args.sites_max_packet:,} B"
        )
        runs = []
        for i in range(args.runs):
            r = measured(args, sites_run, sites, devs, i + 1)
            runs.append(r)
            for part in ("district", "one_site"):
                h = r[part]
                log(
                    f"sites run {i + 1}, {part}: first start {h['first_ready_s']:.1f} s"
                    f" (then busy {h['catch_up']['busy_s']:.0f} s), peak RSS"
                    f" {h['peak_rss_mb']:.0f} MB, {h['window']['cpu_s_per_1000']:.3f} CPU s"
                    f" / 1000 msg, restarts"
                    f" {', '.join(f'{x:.2f}' for x in h['restart_ready_s'])} s;"
                    f" falls: {describe(h['latency'])}"
                )
    return {
        "shape": shape,
        "rate": args.sites_rate,
        "broker_max_packet_size": args.sites_max_packet,
        "runs": runs,
        **{part: summary([r[part] for r in runs]) for part in ("district", "one_site")},
        "paths": list(PATHS),
    }


def summary(halves: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's figures over runs: median [min-max]; a run's restart is the median of
    its restarts."""
    return {
        "first_ready_s": fig([h["first_ready_s"] for h in halves]),
        "catch_up_s": fig([h["catch_up"]["busy_s"] for h in halves]),
        "reports_written": fig([h["catch_up"]["reports_written"] for h in halves]),
        "restart_ready_s": fig([statistics.median(h["restart_ready_s"]) for h in halves]),
        "peak_rss_mb": fig([h["peak_rss_mb"] for h in halves]),
        "window_peak_rss_mb": fig([h["window"]["peak_rss_mb"] for h in halves]),
        **{
            k: fig([h["window"][k] for h in halves])
            for k in ("cpu_s_per_1000", "broker_cpu_s_per_1000", "influxd_cpu_s_per_1000")
        },
        "all_committed": all(h["window"]["all_committed"] for h in halves),
        "rejected": sum(h["window"]["rejected"] for h in halves),
        "others_cores": fig([h["others_cpu"]["mean_cores"] for h in halves]),
        "latency": summarize([h["latency"] for h in halves]),
        **(
            {"latency_catch_up": summarize([h["latency_catch_up"] for h in halves])}
            if all("latency_catch_up" in h for h in halves)
            else {}
        ),
    }
