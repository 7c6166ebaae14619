"""From the confirming fire event to the fire brigade's webhook: 100 alarms.

    python -m bench.webhook [--alarms 100] [--load 1000]

A real mosquitto, a real `carewatch serve` (embedded store) and a real receiver on
loopback. A generated site has one floor per alarm with two smoke detectors; for each
floor the first detector raises a smoke alarm (watched, not yet forwarded), then the second
one - the confirming event - is published and the clock runs until the `fire_confirmed`
forward arrives, signed, at the receiver. Run idle and with background telemetry
(`--load` messages/s). Writes bench/results/webhook-<time>.json; quote the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from alerting.notify.receiver import Receiver
from ingest.broker import MosquittoProcess, free_port, stop_process
from simulators.publisher import Publisher

RESULTS = Path(__file__).parent / "results"
SECRET = "bench-secret-0123456789"  # noqa: S105 - a loopback test receiver's key


def site_yaml(floors: int) -> str:
    lines = ["id: bench", "name: Bench Home", "address: 1 Test Road", "floors:"]
    for f in range(1, floors + 1):
        lines += [f'  - id: "{f}"', "    rooms:", f'      - id: "{f}01"', f'      - id: "{f}02"']
    lines.append("devices:")
    for f in range(1, floors + 1):
        lines.append(f'  - {{id: sd-{f}-a, type: smoke_detector, room: "{f}01"}}')
        lines.append(f'  - {{id: sd-{f}-b, type: smoke_detector, room: "{f}02"}}')
        lines.append(f'  - {{id: e-{f}, type: electrical_monitor, room: "{f}01"}}')
    return "\n".join(lines) + "\n"


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def run(alarms: int, load: int, tmp: Path) -> dict[str, Any]:
    broker = MosquittoProcess(tmp / "mosquitto")
    broker.start()
    receiver = Receiver("127.0.0.1", 0, SECRET.encode())
    receiver.start()
    (tmp / "site.yaml").write_text(site_yaml(alarms), encoding="utf-8")
    (tmp / "rules.yaml").write_text(
        "notify:\n  targets:\n    fire_brigade:\n"
        f"      url: {receiver.url}/119\n      format: json\n      secret_env: BENCH_SECRET\n",
        encoding="utf-8",
    )
    port = free_port()
    (tmp / "carewatch.yaml").write_text(
        f"site_file: site.yaml\nrules_file: rules.yaml\nmqtt_url: {broker.url}\n"
        f"data_dir: {tmp / 'data'}\nhttp_port: {port}\napi_token: bench-token-0123456789\n"
        "log_level: WARNING\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    env["BENCH_SECRET"] = SECRET
    log = (tmp / "carewatch.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "carewatch", "serve", "--config", str(tmp / "carewatch.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    pub = Publisher("127.0.0.1", broker.port, "bench-alarms")
    noise = Publisher("127.0.0.1", broker.port, "bench-load")
    stop = threading.Event()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)

        def background() -> None:
            i = 0
            while not stop.is_set():
                batch = [
                    (
                        f"carewatch/v1/bench/e-{1 + (i + k) % alarms}/telemetry",
                        b'{"residual_current_ma": 120, "current_a": 8}',
                    )
                    for k in range(max(1, load // 10))
                ]
                i += len(batch)
                try:
                    noise.publish_all(batch, rate=load)
                except RuntimeError:
                    if stop.is_set():
                        return  # the broker is being stopped: the run is over
                    raise

        if load:
            threading.Thread(target=background, daemon=True).start()
            time.sleep(2)
        arrivals: dict[str, float] = {}
        done = threading.Condition()

        def seen(d: dict[str, Any]) -> None:
            if d.get("action") == "forward" and d.get("rule") == "fire_confirmed":
                with done:
                    arrivals[str(d["parsed"]["alert"]["floor"])] = d["arrived_monotonic"]
                    done.notify_all()

        receiver.on_accept = seen
        latencies = []
        for f in range(1, alarms + 1):
            first = (f"carewatch/v1/bench/sd-{f}-a/event", f'{{"event":"smoke_alarm","id":"a{f}"}}')
            pub.publish_all([(first[0], first[1].encode())], rate=1000)
            time.sleep(0.05)
            t0 = time.monotonic()
            second = f'{{"event":"smoke_alarm","id":"b{f}"}}'.encode()
            pub.publish_all([(f"carewatch/v1/bench/sd-{f}-b/event", second)], rate=1000)
            with done:
                done.wait_for(partial(dict.__contains__, arrivals, str(f)), timeout=10)
            if str(f) not in arrivals:
                api = f"http://127.0.0.1:{port}/api"
                raise RuntimeError(
                    f"no forward for floor {f}: alerts {httpx.get(api + '/alerts').text[:500]}"
                    f" notifications {httpx.get(api + '/notifications').text[:800]}"
                    f" log {(tmp / 'carewatch.log').read_text(errors='replace')[-1500:]}"
                )
            latencies.append((arrivals[str(f)] - t0) * 1000)
        return {
            "alarms": alarms,
            "load_msg_per_s": load,
            "median_ms": statistics.median(latencies),
            "p99_ms": percentile(latencies, 99),
            "max_ms": max(latencies),
            "min_ms": min(latencies),
        }
    finally:
        stop.set()
        time.sleep(0.2)
        pub.close()
        noise.close()
        stop_process(proc)
        log.close()
        receiver.stop()
        broker.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alarms", type=int, default=100)
    ap.add_argument("--load", type=int, nargs="*", default=[0, 1000])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "webhook", "runs": []}
    for load in args.load:
        for r in range(args.runs):
            with tempfile.TemporaryDirectory() as d:
                res = run(args.alarms, load, Path(d))
            out["runs"].append(res)
            print(
                f"load {load:>5} msg/s run {r + 1}: confirming event -> webhook median"
                f" {res['median_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms (n={args.alarms})",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"webhook-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
