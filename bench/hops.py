"""Where an alarm's milliseconds go: each hop from the publish to the webhook's arrival.

    python -m bench.hops --load 1000 --alarms 200 --runs 3

A real stack (bench/throughput/stack.py: mosquitto, influxd, webhook receiver) and the
service run as `python -m bench.hops_serve`, which is `carewatch serve` with a stopwatch
on each hop (bench/hops_serve.py). Falls from distinct wearables, one every --interval s,
under --load msg/s of telemetry. Hops, all on CLOCK_MONOTONIC:

    publish        the harness's publish call
    paho_thread    the events session's paho thread has the PUBLISH parsed (broker,
                   loopback, the socket read, paho)
    decoded        decoded and handed to the engine's queue
    engine_took    the engine thread starts the batch holding it (the queue hand-off,
                   and any batch in progress)
    committed      the transaction committed (rules, alert, outbox rows, fsync)
    listeners_acked  the batch's listeners (screen, MQTT alert topic) and acks are done
    worker_turn    the webhook worker's turn that sends it begins (its wake-up)
    send           the worker has the outbox row (the read)
    http_start     the body is built and signed; the POST begins
    arrival        the receiver has the POST (the harness's receiver thread)
    http_answered  the worker has the receiver's answer

Writes bench/results/hops-<time>.json and prints the median and p99 of each hop.
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Any

import orjson

from bench.common import percentile, wait_until, write_result
from bench.host import machine
from bench.loads import Load
from bench.servers import SITE
from bench.throughput.stack import Stack, fresh
from simulators.publisher import Publisher

HOPS = (
    "publish",
    "paho_thread",
    "decoded",
    "engine_took",
    "committed",
    "listeners_acked",
    "worker_turn",
    "send",
    "http_start",
    "arrival",
)


def one_run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Stamps of each alarm's hops (device -> hop -> monotonic s)."""
    with fresh() as tmp, Stack(tmp, max(10_000, args.alarms), webhook=True) as stack:
        out = tmp / "hops.json"
        stack.service.module = "bench.hops_serve"
        stack.service.env = {"BENCH_HOPS_OUT": str(out)}
        if args.switch_ms is not None:
            stack.service.env["CAREWATCH_GIL_SWITCH_MS"] = str(args.switch_ms)
        stack.service.start()
        stack.service.wait_ready(120)
        arrived: dict[str, float] = {}

        def on_webhook(d: dict[str, Any]) -> None:
            alert = d["parsed"].get("alert") or {}
            if alert.get("rule") == "fall":
                arrived.setdefault(str(alert.get("device_id")), time.monotonic())

        assert stack.receiver is not None
        stack.receiver.on_accept = on_webhook
        pub = Publisher("127.0.0.1", stack.broker.port, "bench-hops")
        load = None
        sent: dict[str, float] = {}
        try:
            if args.load:
                load = Load(
                    stack.broker.port,
                    args.load,
                    10_000,
                    duration_s=args.warmup + 1 + args.alarms * args.interval,
                )
                time.sleep(args.warmup)
            start = time.monotonic()
            for k in range(args.alarms):
                dev = f"w-{k}"
                body = f'{{"event":"fall","id":"hops-{k}","confidence":0.93}}'.encode()
                sent[dev] = time.monotonic()
                pub.publish_all([(f"carewatch/v1/{SITE}/{dev}/event", body)], rate=1000)
                time.sleep(max(0.0, start + (k + 1) * args.interval - time.monotonic()))
            wait_until(lambda: len(arrived) >= len(sent), 60, 0.1)
        finally:
            if load is not None:
                load.stop()
            pub.close()
            stack.service.stop()
        doc = orjson.loads(out.read_bytes())
    stamps: dict[str, dict[str, float]] = doc["stamps"]
    for dev, t in sent.items():
        stamps.setdefault(dev, {})["publish"] = t
        if dev in arrived:
            stamps[dev]["arrival"] = arrived[dev]
    return {d: s for d, s in stamps.items() if d in sent}


def breakdown(stamps: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Each hop's time from the one before it, and the totals, in ms (p50, p99, max)."""
    out: dict[str, dict[str, float]] = {}
    complete = [s for s in stamps.values() if all(h in s for h in HOPS)]
    pairs = [*itertools.pairwise(HOPS), ("publish", "arrival")]
    for a, b in pairs:
        xs = [(s[b] - s[a]) * 1000 for s in complete]
        if xs:
            out[f"{a} -> {b}"] = {
                "p50": percentile(xs, 50),
                "p99": percentile(xs, 99),
                "max": max(xs),
                "mean": sum(xs) / len(xs),
            }
    out["complete"] = {"n": float(len(complete)), "of": float(len(stamps))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        prog="python -m bench.hops",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    ap.add_argument("--load", type=int, default=1000)
    ap.add_argument("--alarms", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--switch-ms", type=float, default=None, help="the service's gil_switch_ms")
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    runs = []
    for i in range(args.runs):
        stamps = one_run(args)
        b = breakdown(stamps)
        runs.append({"breakdown": b, "stamps": stamps})
        print(f"run {i + 1}: {int(b['complete']['n'])} of {int(b['complete']['of'])} complete")
        for hop, f in b.items():
            if hop != "complete":
                print(
                    f"  {hop:34} p50 {f['p50']:6.2f}  p99 {f['p99']:6.2f}  "
                    f"max {f['max']:6.2f}  mean {f['mean']:6.2f} ms"
                )
    name = args.name or f"hops-{time.strftime('%Y%m%dT%H%M%S')}"
    path = write_result(
        name, {"bench": "hops", "machine": machine(), "settings": vars(args), "runs": runs}
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
