"""Alarms through both systems: the same falls (`{"event":"fall","id":...,"confidence":0.93}`
on carewatch/v1/<site>/<wearable>/event, QoS 1, each from its own wearable) published by
the same raw MQTT client (bench/loadgen.py's), matched to webhook arrivals by wearable.

latency   one fall every --alarm-interval s under background telemetry: publish ->
          arrival at the receiver, both on CLOCK_MONOTONIC.
kill      --kill-alarms falls at --kill-rate/s under --kill-load msg/s of telemetry;
          kill -9 of the process at --kill-at s, restarted --kill-down s later; then until
          every wearable's fall arrived or --quiet s without an arrival: lost, doubled,
          repeated (see kill_run).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from typing import Any

from bench.common import percentile
from bench.loadgen import RawPublisher
from bench.loads import Load
from bench.peer.hook import Hook
from bench.peer.systems import Arrival, System


def fall(k: int, run: str) -> bytes:
    return f'{{"event":"fall","id":"{run}-fall-{k}","confidence":0.93}}'.encode()


def arrivals(system: System, hook: Hook) -> list[Arrival]:
    return [a for p in hook.read() if (a := system.arrival(p)) is not None]


def first_of(got: list[Arrival]) -> dict[str, float]:
    """Each wearable's first arrival (monotonic)."""
    out: dict[str, float] = {}
    for a in got:
        out.setdefault(a.device, a.t)
    return out


def wait_arrivals(
    system: System,
    hook: Hook,
    devices: list[str],
    quiet_s: float,
    max_s: float = 300,
    settle_s: float = 0,
) -> list[Arrival]:
    """Until every device's fall arrived, or nothing arrived for `quiet_s` s (at most
    `max_s`); once all arrived, until `settle_s` s without an arrival, so that a resend
    (which may come a little after its first delivery) is counted."""
    want = set(devices)
    seen, since = -1, time.monotonic()
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        got = arrivals(system, hook)
        if len(got) != seen:
            seen, since = len(got), time.monotonic()
        quiet = time.monotonic() - since
        if quiet >= quiet_s or (want <= {a.device for a in got} and quiet >= settle_s):
            return got
        time.sleep(0.2)
    return arrivals(system, hook)


def latency_run(
    args: argparse.Namespace, system: System, hook: Hook, load_rate: int, first: int, tag: str
) -> dict[str, Any]:
    """--alarms falls from wearables w-first.. (new ones each phase: CareWatch latches a fall
    per wearable), one every --alarm-interval s, after --warmup s of background telemetry."""
    devices = [f"w-{first + k}" for k in range(args.alarms)]
    span = args.alarms * args.alarm_interval
    hook.mark()
    pub = RawPublisher("127.0.0.1", system.mqtt_port, f"peer-alarms-{tag}")
    load = None
    sent: dict[str, float] = {}
    try:
        if load_rate:
            procs = 1 if load_rate <= 10_000 else 2
            load = Load(
                system.mqtt_port, load_rate, args.devices, args.warmup + span + 1, procs=procs
            )
            time.sleep(args.warmup)
        start = time.monotonic()
        for k, dev in enumerate(devices):
            topic = f"carewatch/v1/{system.site}/{dev}/event"
            sent[dev] = time.monotonic()
            pub.publish_all(iter([(topic, fall(k, tag))]), 1000)
            time.sleep(max(0.0, start + (k + 1) * args.alarm_interval - time.monotonic()))
        published = load.wait() if load is not None else None
        got = wait_arrivals(system, hook, devices, args.latency_timeout)
    finally:
        if load is not None:
            load.stop()
        pub.close()
    first_at = first_of(got)
    ms = [(first_at[d] - sent[d]) * 1000 for d in devices if d in first_at]
    return {
        "load": load_rate,
        "alarms": len(devices),
        "arrived": len(ms),
        "missing": len(devices) - len(ms),
        "p50_ms": percentile(ms, 50) if ms else None,
        "p99_ms": percentile(ms, 99) if ms else None,
        "max_ms": max(ms) if ms else None,
        "background_rate": published["achieved_rate"] if published else 0.0,
        "ms": [round(x, 2) for x in ms],
    }


def tally(devices: list[str], got: list[Arrival]) -> dict[str, Any]:
    """lost: wearables whose fall never arrived. doubled: wearables whose fall arrived as
    more than one alert (CareWatch: two alert ids; Node-RED, which has no alert identity:
    any second POST). repeated: a delivery of the same alert again under the same delivery
    key (CareWatch's at-least-once resend after a crash; the receiver can drop it by its
    Idempotency-Key, so it is not a doubled alarm, but it is reported)."""
    by_dev: dict[str, list[Arrival]] = defaultdict(list)
    for a in got:
        by_dev[a.device].append(a)
    want = set(devices)
    doubled = repeated = 0
    for dev, posts in by_dev.items():
        if dev not in want:
            continue
        alerts = {a.alert if a.alert is not None else str(i) for i, a in enumerate(posts)}
        doubled += len(alerts) > 1
        keys = [a.key for a in posts if a.key is not None]
        repeated += len(keys) - len(set(keys))
    return {
        "alarms": len(devices),
        "arrived": len(want & set(by_dev)),
        "lost": len(want - set(by_dev)),
        "lost_devices": sorted(want - set(by_dev))[:50],
        "doubled": doubled,
        "repeated": repeated,
        "posts": sum(len(v) for d, v in by_dev.items() if d in want),
    }


def kill_run(
    args: argparse.Namespace, system: System, hook: Hook, first: int, tag: str
) -> dict[str, Any]:
    """--kill-alarms falls from wearables w-first.. at --kill-rate/s under --kill-load msg/s
    of telemetry; SIGKILL of the system's process at --kill-at s after the first fall, a
    restart --kill-down s later (CareWatch on the same data dir and broker)."""
    devices = [f"w-{first + k}" for k in range(args.kill_alarms)]
    span = args.kill_alarms / args.kill_rate
    hook.mark()
    pub = RawPublisher("127.0.0.1", system.mqtt_port, f"peer-kill-{tag}")
    events: dict[str, Any] = {}

    def killer(t0: float) -> None:
        time.sleep(max(0.0, t0 + args.kill_at - time.monotonic()))
        system.kill9()
        events["killed_mono"] = time.monotonic()  # to read the receiver's errors against
        events["killed_at_s"] = events["killed_mono"] - t0
        time.sleep(args.kill_down)
        try:
            events["restart_s"] = system.restart()
        except Exception as e:  # reported; the run goes on to its cleanup
            events["restart_error"] = repr(e)

    load = Load(
        system.mqtt_port,
        args.kill_load,
        args.devices,
        args.warmup + span + args.kill_down + 3,
        procs=1,
    )
    try:
        time.sleep(args.warmup)
        t0 = time.monotonic()
        th = threading.Thread(target=killer, args=(t0,), daemon=True)
        th.start()
        topics = (f"carewatch/v1/{system.site}/{d}/event" for d in devices)
        pub.publish_all(((t, fall(k, tag)) for k, t in enumerate(topics)), args.kill_rate)
        events["published_s"] = time.monotonic() - t0
        pub.wait_acked(len(devices), 30)
        th.join(120)
        load.wait(120)
        got = wait_arrivals(system, hook, devices, args.quiet, settle_s=args.settle)
    finally:
        load.stop()
        pub.close()
    firsts = first_of(got)
    if firsts:  # how long until the last wearable's fall arrived, from the first fall
        events["last_first_arrival_s"] = max(firsts.values()) - t0
        # when the falls arrived, s from the first fall: 10 deciles
        times = sorted(t - t0 for t in firsts.values())
        events["first_arrival_deciles_s"] = [
            round(times[min(len(times) - 1, len(times) * k // 10)], 2) for k in range(11)
        ]
    return {**tally(devices, got), **events}
