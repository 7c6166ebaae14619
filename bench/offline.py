"""Offline detection for 10,000 registered devices: what one engine tick costs when
0, 10, 100 or 1,000 devices are due, against a full scan of all device states.

    python -m bench.offline [--devices 10000] [--runs 5]

Writes bench/results/offline-<time>.json and prints medians (ms). The engine keeps
supervision deadlines in an index (device_state.due_ms), so a tick should cost in
proportion to the devices due, not to the devices registered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from alerting.engine import Engine
from alerting.items import Incoming
from alerting.ruleset import RuleSet
from devices.decode import Decoder
from devices.ports import FakeClock
from devices.registry import Registry
from devices.siteconfig import SiteConfig
from ingest.deadletter import DeadLetterLog
from ingest.spool import Spool
from ingest.sqlite import connect

RESULTS = Path(__file__).parent / "results"


def big_site(n: int) -> Registry:
    rooms = [{"id": f"r{i}", "beds": [f"r{i}-1"]} for i in range(n // 10 + 1)]
    devices = [{"id": f"w-{i}", "type": "wearable", "room": f"r{i // 10}"} for i in range(n)]
    return Registry(
        SiteConfig.model_validate(
            {
                "id": "bench",
                "name": "bench",
                "floors": [{"id": "1", "rooms": rooms}],
                "devices": devices,
            }
        )
    )


def one_run(n: int, due: int, db: Path) -> dict[str, float]:
    registry = big_site(n)
    clock = FakeClock()
    conn = connect(db, synchronous="OFF")
    engine = Engine(
        conn,
        registry,
        RuleSet.defaults(),
        clock,
        [Spool(embedded=True), DeadLetterLog()],
        CollectorRegistry(),
    )
    engine.setup()  # every device due at t0 + 600 s
    decoder = Decoder(registry)
    clock.advance(1)
    fresh = [
        Incoming(
            decoder.decode(f"carewatch/v1/bench/w-{i}/telemetry", b'{"steps": 1}', clock.now_ms())
        )
        for i in range(due, n)
    ]
    for k in range(0, len(fresh), 2000):  # all but `due` devices report: due at t0 + 601 s
        engine.process(fresh[k : k + 2000])
    clock.advance(300)
    idle = []
    for _ in range(20):
        t = time.perf_counter()
        engine.process([])
        idle.append((time.perf_counter() - t) * 1000)
        clock.advance(0.01)
    clock.advance(299.5)  # t0 + 600.x: exactly `due` devices are past their deadline
    t = time.perf_counter()
    r = engine.process([])
    serve_ms = (time.perf_counter() - t) * 1000
    raised = sum(1 for c in r.changes if c.action == "raise")
    assert raised == due, (raised, due)
    t = time.perf_counter()
    conn.execute("SELECT site, device_id, last_seen_ms FROM device_state").fetchall()
    scan_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    engine.next_due_ms()
    next_due_ms = (time.perf_counter() - t) * 1000
    conn.close()
    return {
        "idle_tick_ms": statistics.median(idle),
        "serve_ms": serve_ms,
        "per_due_device_ms": serve_ms / due if due else 0.0,
        "full_scan_ms": scan_ms,
        "next_due_ms": next_due_ms,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "offline", "devices": args.devices, "runs": args.runs}
    cases = {}
    with tempfile.TemporaryDirectory() as d:
        for due in (0, 10, 100, 1000):
            runs = [
                one_run(args.devices, due, Path(d) / f"bench-{due}-{i}.db")
                for i in range(args.runs)
            ]
            cases[str(due)] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            c = cases[str(due)]
            print(
                f"{args.devices} devices, {due:>4} due: tick {c['serve_ms']:.2f} ms"
                f" ({c['per_due_device_ms']:.3f} ms/device), idle tick {c['idle_tick_ms']:.3f} ms,"
                f" full scan {c['full_scan_ms']:.2f} ms (median of {args.runs})"
            )
    out["cases_by_due"] = cases
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"offline-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
