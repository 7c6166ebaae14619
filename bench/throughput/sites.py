"""Many sites: one service watching a district (50 nursing homes of 200 devices and 450
home beds of 8, bench/district.py) against the same service watching the demo home alone.

Per run, the district: first start to /readyz; --sites-rate msg/s of telemetry over every
device of every site for --sites-duration s (peak RSS, CPU per 1,000 messages, every
message committed); falls from wearables of random sites under the same background rate
(publish -> the commit, -> `change` on /api/alerts/stream, and the other paths of the
latency phase); --sites-restarts restarts (stop, start, /readyz). Then the demo home alone:
first start, the same falls procedure at the same rate over its devices. Both halves of a
run take the same number of falls (at most the demo home's wearables: one fall alert per
wearable, it is latched)."""

from __future__ import annotations

import argparse
import random
import statistics
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


def pick_falls(devs: list[Publishing], n: int, seed: int) -> list[tuple[str, str]]:
    """`n` different wearables, each of a site drawn at random (sites with no wearable left
    are drawn again)."""
    rng = random.Random(seed)  # noqa: S311 - which wearable falls, not a secret
    left: dict[str, list[str]] = {}
    for d in devs:
        if d.type == "wearable":
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
        "cpu_s_per_1000": (svc.cpu_s() - cpu0) / max(1, committed) * 1000,
        "peak_rss_mb": svc.peak_rss_mb(),
        "rss_mb": svc.rss_mb(),
    }


def falls(
    args: argparse.Namespace, stack: Stack, sites: Path, devs: list[Publishing], n: int, seed: int
) -> dict[str, Any]:
    """Falls of `n` wearables of random sites under --sites-rate msg/s over every device."""
    port, count = stack.broker.port, len(devs)

    def background(seconds: float) -> Load:
        return Load(port, args.sites_rate, count, duration_s=seconds, sites=sites)

    alarms = pick_falls(devs, n, seed)
    return alarm_run(args, stack, alarms, background) | {"sites_hit": len({s for s, _ in alarms})}


def watched(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A part of a run, with the CPU other processes used meanwhile."""
    with CpuWatch() as others:
        r = fn()
    return r | {"others_cpu": others.summary()}


def district_part(
    args: argparse.Namespace, sites: Path, devs: list[Publishing], n: int, seed: int
) -> dict[str, Any]:
    options = {"max_packet_size": str(args.sites_max_packet)}
    with (
        fresh() as tmp,
        Stack(tmp, 0, webhook=True, sites=sites, broker_options=options) as stack,
    ):
        svc = stack.service
        svc.start()
        ready = svc.wait_ready(args.start_timeout)
        out: dict[str, Any] = {"first_ready_s": ready, "peak_rss_at_ready_mb": svc.peak_rss_mb()}
        out["window"] = load_window(args, stack, sites, len(devs))
        out["latency"] = falls(args, stack, sites, devs, n, seed)
        out["peak_rss_mb"] = svc.peak_rss_mb()  # the whole life: start, window, falls
        restarts = []
        for _ in range(args.sites_restarts):
            svc.stop()
            svc.start()
            restarts.append(svc.wait_ready(args.start_timeout, poll_s=0.02))
        out["restart_ready_s"] = restarts
        out["peak_rss_after_restart_mb"] = svc.peak_rss_mb()
        return out


def one_site_part(
    args: argparse.Namespace, devs: list[Publishing], n: int, seed: int
) -> dict[str, Any]:
    options = {"max_packet_size": str(args.sites_max_packet)}
    with (
        fresh() as tmp,
        Stack(tmp, 0, webhook=True, sites=DEMO_SITE, broker_options=options) as stack,
    ):
        svc = stack.service
        svc.start()
        out: dict[str, Any] = {"first_ready_s": svc.wait_ready(args.start_timeout)}
        out["latency"] = falls(args, stack, DEMO_SITE, devs, n, seed)
        out["peak_rss_mb"] = svc.peak_rss_mb()
        return out


def sites_run(
    args: argparse.Namespace, sites: Path, devs: list[Publishing], seed: int
) -> dict[str, Any]:
    """The district, then the demo home alone, each on a fresh stack."""
    demo = publishing(DEMO_SITE)
    n = min(args.alarms, sum(d.type == "wearable" for d in demo))
    district = watched(lambda: district_part(args, sites, devs, n, seed))
    one = watched(lambda: one_site_part(args, demo, n, seed))
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
            d, o = r["district"], r["one_site"]
            log(
                f"sites run {i + 1}: first start {d['first_ready_s']:.1f} s, peak RSS"
                f" {d['peak_rss_mb']:.0f} MB, {d['window']['cpu_s_per_1000']:.3f} CPU s / 1000"
                f" msg, restarts {', '.join(f'{x:.2f}' for x in d['restart_ready_s'])} s"
            )
            log(f"  district falls: {describe(d['latency'])}")
            log(f"  one site falls: {describe(o['latency'])}")
    dist = [r["district"] for r in runs]
    one = [r["one_site"] for r in runs]
    return {
        "shape": shape,
        "rate": args.sites_rate,
        "broker_max_packet_size": args.sites_max_packet,
        "runs": runs,
        "first_ready_s": fig([d["first_ready_s"] for d in dist]),
        "restart_ready_s": fig([statistics.median(d["restart_ready_s"]) for d in dist]),
        "peak_rss_mb": fig([d["peak_rss_mb"] for d in dist]),
        "window_peak_rss_mb": fig([d["window"]["peak_rss_mb"] for d in dist]),
        "cpu_s_per_1000": fig([d["window"]["cpu_s_per_1000"] for d in dist]),
        "all_committed": all(d["window"]["all_committed"] for d in dist),
        "one_site_peak_rss_mb": fig([o["peak_rss_mb"] for o in one]),
        "one_site_first_ready_s": fig([o["first_ready_s"] for o in one]),
        "latency": {
            "district": summarize([d["latency"] for d in dist]),
            "one_site": summarize([o["latency"] for o in one]),
        },
        "paths": list(PATHS),
    }
