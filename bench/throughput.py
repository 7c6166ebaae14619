"""Issue 7: how much CareWatch takes on this machine, against what a bare subscriber takes.

    python -m bench.throughput              # full: ~30 min on an idle 2-core machine
    python -m bench.throughput --quick      # ~5-7 min, for development
    python -m bench.throughput --only ceiling sustained --runs 1 --duration 20

Real mosquitto, real influxd, `python -m carewatch serve` as a child process, publishers in
their own processes (bench/loadgen.py: wearables' telemetry, QoS 1, a window of 1,000
un-acked messages each), all on loopback. Phases:

ceiling     a bare paho subscriber (bench/sink.py: counts and acks, subscribed like the
            service): the highest rate it keeps up with (as below, --ceiling-duration s).
sustained   the highest rate (a multiple of --step msg/s) at which the service keeps up
            for --duration s: the backlog (acked by the broker - committed by the service
            = broker queue + engine queue) and the spool flat, and afterwards every
            message committed, none rejected, every point in InfluxDB. A probe of short
            steps finds where to start; full steps go up or down from there.
latency     an alarm (a wearable's `fall`, unique ids and devices) every 100 ms under
            background telemetry: publish -> raised_at (engine clock), -> the alert row
            visible to a database reader (the commit), -> the MQTT alert topic, ->
            `change` on /api/alerts/stream, -> the webhook (the emergency policy's first
            step is a webhook target).
resources   10,000 devices at a fixed rate: CPU seconds per 1,000 messages
            (/proc/<pid>/stat) and peak RSS (VmHWM).
restart     --restart-devices (50,000): a first start, then per run: stop, --backlog
            (100,000) messages queued at the broker in the service's persistent session,
            start: time to /readyz 200, to the backlog committed, to the spool empty; then
            the resources window with 50,000 devices.

Figures are medians of `--runs` runs with min-max; targets are goals, printed next to
the figures, never asserted. The machine may be shared: each run records the CPU other
processes used meanwhile (`others_cpu`). Writes bench/results/<--name>.json; bench/plot.py
draws the latency plot from it.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from alerting.notify.receiver import Receiver
from bench import common
from bench.common import (
    SITE,
    WEBHOOK_SECRET,
    CpuWatch,
    Influx,
    Load,
    Service,
    Sink,
    machine,
    percentile,
    proc_cpu_s,
    slope,
    spread,
    wait_quiet,
    wait_until,
    write_result,
)
from ingest.broker import MosquittoProcess
from simulators.publisher import Publisher

# the goals: reported against, never asserted
TARGET_RATIO = 0.70  # sustained / ceiling
TARGET_P99_MS = {1000: 50.0, 10000: 250.0}  # alarm latency p99 at these background loads
TARGET_RSS_MB = 300.0  # peak RSS with 50,000 devices
TARGET_READY_S = 5.0  # restart to ready with 50,000 devices
PATHS = ("engine", "commit", "mqtt", "sse", "webhook")
PATH_NAMES = {
    "engine": "publish -> raised_at (the engine's clock when it took the batch)",
    "commit": "publish -> alert row visible to a reader of the database (polled every 2 ms)",
    "mqtt": "publish -> alert on the MQTT alert topic (outbox worker, after the commit)",
    "sse": "publish -> change event at a client of /api/alerts/stream",
    "webhook": "publish -> webhook arrival (emergency policy step 0 -> webhook target)",
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- a stack of real processes --------------------------------------------------------------


@dataclass
class Stack:
    tmp: Path
    wearables: int
    influx: bool = True
    webhook: bool = False
    workers: int = 0
    broker: MosquittoProcess = field(init=False)
    db: Influx | None = field(init=False, default=None)
    receiver: Receiver | None = field(init=False, default=None)
    service: Service = field(init=False)

    def __enter__(self) -> Stack:
        self.broker = MosquittoProcess(self.tmp / "mosquitto")
        self.broker.start()
        if self.influx:
            self.db = Influx(self.tmp / "influx")
            self.db.start()
        if self.webhook:
            self.receiver = Receiver("127.0.0.1", 0, WEBHOOK_SECRET.encode()).start()
        self.service = Service(
            self.tmp / "carewatch",
            self.broker.url,
            self.wearables,
            self.db.url if self.db else None,
            self.receiver.url.rstrip("/") if self.receiver else None,
            workers=self.workers,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.service.close()
        if self.receiver is not None:
            self.receiver.stop()
        if self.db is not None:
            self.db.stop()
        self.broker.stop()

    def broker_cpu_s(self) -> float:
        assert self.broker.proc is not None
        return proc_cpu_s(self.broker.proc.pid)

    def influx_cpu_s(self) -> float:
        return proc_cpu_s(self.db.proc.pid) if self.db and self.db.proc else 0.0


@contextlib.contextmanager
def fresh() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as d:
        yield Path(d)


# --- keeping up: the ceiling's bare subscriber and the service, measured alike -------------


class Consumer:
    """What a rate step watches: a count of messages handled (acked after handling), and
    for the service its queue, spool and InfluxDB."""

    name = "consumer"

    def count(self) -> int:
        raise NotImplementedError

    def gauges(self) -> dict[str, float]:
        return {}

    def cpu_s(self) -> float:
        raise NotImplementedError

    def stored(self, t0_ms: int, t1_ms: int) -> int | None:
        """Telemetry points stored in InfluxDB with device times in [t0_ms, t1_ms]."""
        return None


class SinkConsumer(Consumer):
    name = "bare subscriber"

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def count(self) -> int:
        return self.sink.count()  # its own report, at most 0.25 s old

    def cpu_s(self) -> float:
        return proc_cpu_s(self.sink.proc.pid)


class ServiceConsumer(Consumer):
    name = "carewatch"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._last: dict[str, float] = {}

    def count(self) -> int:
        self._last = self.stack.service.metrics()
        return self.stack.service.committed(self._last)

    def gauges(self) -> dict[str, float]:
        m = self._last
        return {
            "engine_queue": m.get("carewatch_engine_queue", 0.0),
            "spool": m.get("carewatch_spool_backlog", 0.0),
            "rejected": float(self.stack.service.rejected(m)),
        }

    def cpu_s(self) -> float:
        return self.stack.service.cpu_s()

    def stored(self, t0_ms: int, t1_ms: int) -> int | None:
        assert self.stack.db is not None
        return self.stack.db.count_points(t0_ms, t1_ms)


def step(consumer: Consumer, port: int, rate: int, duration: float) -> dict[str, Any]:
    """Offer `rate` msg/s for `duration` s: does the consumer keep up?

    Backlog = messages the broker acknowledged to the publishers - messages the consumer
    handled: the broker's queue for the consumer plus what is in flight or queued inside
    it. Keeps up when the publishers kept the rate, the backlog and the spool did not grow
    over the second half by more than half a second of load (their least-squares trend:
    the counts read are up to 0.25 s old), the backlog at the end is at most a second of
    load (or 5,000), and afterwards every message is handled (and, for the service, none
    rejected and every point in InfluxDB)."""
    c0 = consumer.count()
    g0 = consumer.gauges()
    cpu0 = consumer.cpu_s()
    load = Load(port, rate, 10_000, duration_s=duration)
    samples: list[dict[str, Any]] = []
    t_start = time.time()
    nxt = time.monotonic() + 1
    with CpuWatch() as others:
        while any(c.proc.poll() is None for c in load.children):
            time.sleep(max(0.0, nxt - time.monotonic()))
            nxt += 1
            handled = consumer.count() - c0
            s = {"t": time.time(), "acked": load.acked(), "handled": handled}
            s["lag"] = s["acked"] - handled
            s.update(consumer.gauges())
            samples.append(s)
            if s["t"] - t_start > 10 and s["lag"] > rate * 10:
                load.stop()
                first = samples[min(3, len(samples) - 1)]
                return {
                    "rate": rate,
                    "keeps_up": False,
                    "why": f"backlog {s['lag']} > 10 s of load after {s['t'] - t_start:.0f} s",
                    "aborted": True,
                    "handled_rate": (s["handled"] - first["handled"])
                    / max(1e-9, s["t"] - first["t"]),
                    "max_lag": max(x["lag"] for x in samples),
                    "others_cpu": others.summary(),
                    "samples": samples,
                }
    res = load.wait()
    t_end = time.monotonic()
    all_handled = wait_until(lambda: consumer.count() - c0 >= res["published"], 60, 0.2)
    if "spool" in g0:  # count() reads /metrics, gauges() what it read
        wait_until(lambda: consumer.count() >= 0 and consumer.gauges()["spool"] == 0, 60, 0.2)
    drain_s = time.monotonic() - t_end
    handled = consumer.count() - c0
    g1 = consumer.gauges()
    cpu = consumer.cpu_s() - cpu0
    tail = [s for s in samples if s["t"] >= t_start + duration / 2]
    lag_slope = slope([(s["t"], s["lag"]) for s in tail])
    spool_slope = slope([(s["t"], s.get("spool", 0.0)) for s in tail])
    window = [s for s in samples if t_start + 3 <= s["t"] <= t_start + duration - 1]
    rate_in = (
        (window[-1]["handled"] - window[0]["handled"]) / (window[-1]["t"] - window[0]["t"])
        if len(window) >= 2
        else 0.0
    )
    span = tail[-1]["t"] - tail[0]["t"] if len(tail) >= 2 else 0.0
    allowed = max(0.5 * rate, 1000)  # growth over the second half within the noise
    checks = {
        "publisher_kept_rate": res["achieved_rate"] >= 0.97 * rate,
        "backlog_flat": lag_slope * span <= allowed,
        "backlog_small_at_end": (tail[-1]["lag"] if tail else 0) <= max(5000, rate),
        "spool_flat": spool_slope * span <= allowed,
        "all_handled": all_handled and handled == res["published"],
    }
    points = consumer.stored(int(res["t0"] * 1000) - 1, int(res["t1"] * 1000) + 1)
    if "rejected" in g0:
        checks["none_rejected"] = g1["rejected"] == g0["rejected"]
    if points is not None:
        checks["all_in_influx"] = points == res["published"]
    why = [k for k, v in checks.items() if not v]
    return {
        "rate": rate,
        "keeps_up": not why,
        "why": ", ".join(why),
        "checks": checks,
        "published": res["published"],
        "published_rate": res["achieved_rate"],
        "handled_rate": rate_in,
        "handled": handled,
        "influx_points": points,
        "lag_slope_per_s": lag_slope,
        "spool_slope_per_s": spool_slope,
        "max_lag": max((s["lag"] for s in samples), default=0),
        "max_engine_queue": max((s.get("engine_queue", 0) for s in samples), default=0),
        "max_spool": max((s.get("spool", 0) for s in samples), default=0),
        "drain_after_s": drain_s,
        "cpu_s_per_1000": cpu / handled * 1000 if handled else None,
        "loadgen_cpu_s_per_1000": res["cpu_s"] / res["published"] * 1000,
        "others_cpu": others.summary(),
        "samples": samples,
    }


def settle(consumer: Consumer, timeout_s: float = 180) -> bool:
    """After a failed step: until the consumer has worked off what the broker holds for it
    (its count stands still for 2 s, its queue and spool are empty)."""

    def still() -> bool:
        a = consumer.count()
        time.sleep(2)
        b = consumer.count()
        g = consumer.gauges()
        return a == b and g.get("engine_queue", 0) == 0 and g.get("spool", 0) == 0

    return wait_until(still, timeout_s, 0)


def search(
    consumer: Consumer, port: int, args: argparse.Namespace, duration: float, start: int | None
) -> dict[str, Any]:
    """The highest rate (multiple of --step) at which the consumer keeps up for `duration`.

    Without a `start`, a probe first climbs --probe-rates (--probe-duration each) to the
    last one kept up with; then full-length steps go up from there while it keeps up, or
    down while it does not."""
    probe: list[dict[str, Any]] = []
    if start is None:
        start = args.step
        for rate in args.probe_rates:
            r = step(consumer, port, rate, args.probe_duration)
            probe.append(r)
            log(f"  probe {rate} msg/s: {'ok' if r['keeps_up'] else 'behind: ' + r['why']}")
            if not r["keeps_up"]:
                settle(consumer)
                break
            start = rate
    tested: dict[int, dict[str, Any]] = {}
    rate = start
    while args.step <= rate <= args.max_rate and rate not in tested:
        r = step(consumer, port, rate, duration)
        tested[rate] = r
        log(
            f"  {rate} msg/s for {duration:.0f} s: "
            f"{'keeps up' if r['keeps_up'] else 'falls behind'}"
            f" (handled {r.get('handled_rate', 0):.0f} msg/s, max backlog {r.get('max_lag', 0)},"
            f" others' CPU {r['others_cpu']['mean_cores']:.2f} cores) {r['why']}"
        )
        if r["keeps_up"]:
            rate += args.step
        else:
            if not settle(consumer):
                log("  backlog did not drain in 180 s: this run ends")
                break
            rate -= args.step
        if rate in tested:
            break
    passing = [r for r, v in tested.items() if v["keeps_up"]]
    best = max(passing, default=0)
    return {
        "rate": best,
        "at_best": tested.get(best),
        "steps": [tested[r] for r in sorted(tested)],
        "probe": probe,
    }


def ceiling_run(args: argparse.Namespace, start: int | None) -> dict[str, Any]:
    with fresh() as tmp:
        broker = MosquittoProcess(tmp / "mosquitto")
        broker.start()
        sink = Sink(broker.port)
        try:
            if not wait_until(lambda: bool(sink.last), 15, 0.1):
                raise RuntimeError("bare subscriber did not start: " + sink.stderr())
            return search(SinkConsumer(sink), broker.port, args, args.ceiling_duration, start)
        finally:
            sink.stop()
            broker.stop()


def sustained_run(args: argparse.Namespace, start: int | None) -> dict[str, Any]:
    with fresh() as tmp, Stack(tmp, 10_000, workers=args.workers) as stack:
        stack.service.start()
        stack.service.wait_ready(args.start_timeout)
        return search(ServiceConsumer(stack), stack.broker.port, args, args.duration, start)


# --- alert latency ------------------------------------------------------------------------


class AlertClients:
    """The watchers of a raised alert: a reader polling the database, the MQTT alert topic,
    an SSE client, the webhook receiver."""

    def __init__(self, stack: Stack) -> None:
        self.arrived: dict[str, dict[str, float]] = {
            p: {} for p in ("commit", "mqtt", "sse", "webhook")
        }
        self.raised_at: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stack = stack
        c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id="bench-alert-watch",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        c.on_message = self._on_topic
        c.connect("127.0.0.1", stack.broker.port, keepalive=30)
        c.subscribe(f"carewatch/v1/{SITE}/alerts/#", qos=1)
        c.loop_start()
        self._mqtt = c
        assert stack.receiver is not None
        stack.receiver.on_accept = self._on_webhook
        self._sse_ready = threading.Event()
        self._stop = threading.Event()
        self._sse = threading.Thread(target=self._read_sse, daemon=True)
        self._sse.start()
        if not self._sse_ready.wait(15):
            raise RuntimeError("no SSE snapshot")
        threading.Thread(target=self._poll_db, daemon=True).start()

    def _poll_db(self) -> None:
        """When each fall alert's row becomes visible to a reader: the commit."""
        db = self._stack.service.dir / "data" / "carewatch.db"
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        last = 0
        try:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT id, device_id, raised_at FROM alerts WHERE id > ? AND rule = 'fall'",
                    (last,),
                ).fetchall()
                for alert_id, device, raised_at in rows:
                    last = max(last, alert_id)
                    self._mark("commit", device)
                    self.raised_at.setdefault(device, raised_at)
                time.sleep(0.002)
        finally:
            conn.close()

    def _mark(self, path: str, device: object) -> None:
        now = time.monotonic()
        if isinstance(device, str):
            with self._lock:
                self.arrived[path].setdefault(device, now)

    def _on_topic(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        if msg.retain or not msg.payload:
            return  # a retained state from before we subscribed, or a closed alert
        doc = orjson.loads(msg.payload)
        if doc.get("rule") == "fall":
            self._mark("mqtt", doc.get("device_id"))

    def _on_webhook(self, d: dict[str, Any]) -> None:
        alert = d["parsed"].get("alert") or {}
        if alert.get("rule") == "fall":
            self._mark("webhook", alert.get("device_id"))

    def _read_sse(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the service stopping ends the stream
            self._stream()

    def _stream(self) -> None:
        url = self._stack.service.url + "/api/alerts/stream"
        timeout = httpx.Timeout(10, read=None)
        with httpx.Client(timeout=timeout) as client, client.stream("GET", url) as resp:
            event = ""
            for line in resp.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "snapshot":
                    self._sse_ready.set()
                elif line.startswith("data:") and event == "change":
                    doc = orjson.loads(line[5:].strip())
                    alert = doc.get("alert") or {}
                    if doc.get("action") == "raise" and alert.get("rule") == "fall":
                        self._mark("sse", alert.get("device_id"))

    def complete(self, devices: list[str]) -> bool:
        with self._lock:
            return all(all(d in a for d in devices) for a in self.arrived.values())

    def close(self) -> None:
        self._stop.set()
        self._mqtt.disconnect()
        self._mqtt.loop_stop()


def latency_run(args: argparse.Namespace, load_rate: int) -> dict[str, Any]:
    with fresh() as tmp, Stack(tmp, 10_000, webhook=True, workers=args.workers) as stack:
        svc = stack.service
        svc.start()
        svc.wait_ready(args.start_timeout)
        watch = AlertClients(stack)
        pub = Publisher("127.0.0.1", stack.broker.port, "bench-alarms")
        load = None
        try:
            span = args.alarms * args.alarm_interval
            c0 = svc.committed()
            if load_rate:
                load = Load(stack.broker.port, load_rate, 10_000, duration_s=args.warmup + span + 1)
                time.sleep(args.warmup)
            sent_mono: dict[str, float] = {}
            sent_wall: dict[str, float] = {}
            lags = []
            start = time.monotonic()
            for k in range(args.alarms):
                dev = f"w-{k}"
                body = f'{{"event":"fall","id":"bench-fall-{k}","confidence":0.93}}'.encode()
                sent_wall[dev] = time.time() * 1000
                sent_mono[dev] = time.monotonic()
                pub.publish_all([(f"carewatch/v1/{SITE}/{dev}/event", body)], rate=1000)
                if load is not None and k % 10 == 0:
                    lags.append(load.acked() - (svc.committed() - c0))
                time.sleep(max(0.0, start + (k + 1) * args.alarm_interval - time.monotonic()))
            published = load.wait() if load is not None else None
            devices = list(sent_mono)
            complete = wait_until(lambda: watch.complete(devices), args.latency_timeout, 0.2)
            raised = dict(watch.raised_at)
        finally:
            if load is not None:
                load.stop()
            pub.close()
            watch.close()
        out: dict[str, Any] = {
            "load": load_rate,
            "alarms": args.alarms,
            "complete": complete,
            "background_published_rate": published["achieved_rate"] if published else 0.0,
            "max_backlog_at_alarms": max(lags, default=0),
        }
        ms: dict[str, list[float]] = {
            "engine": [raised[d] - sent_wall[d] for d in devices if d in raised],
        }
        for path, arrived in watch.arrived.items():
            ms[path] = [(arrived[d] - sent_mono[d]) * 1000 for d in devices if d in arrived]
        for path, xs in ms.items():
            out[path] = {
                "n": len(xs),
                "missing": args.alarms - len(xs),
                "p50_ms": percentile(xs, 50) if xs else None,
                "p99_ms": percentile(xs, 99) if xs else None,
                "max_ms": max(xs) if xs else None,
                "ms": [round(x, 2) for x in xs],
            }
        return out


# --- resources and restart ----------------------------------------------------------------


def resource_window(args: argparse.Namespace, stack: Stack, devices: int) -> dict[str, Any]:
    """`--resource-rate` msg/s for `--res-duration` s: CPU per 1,000 messages of the
    service (and of the broker and influxd, for comparison), peak RSS so far."""
    svc = stack.service
    c0, cpu0 = svc.committed(), svc.cpu_s()
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
        "broker_cpu_s_per_1000": (stack.broker_cpu_s() - b0) / n * 1000,
        "influxd_cpu_s_per_1000": (stack.influx_cpu_s() - i0) / n * 1000,
        "loadgen_cpu_s_per_1000": res["cpu_s"] / res["published"] * 1000,
        "peak_rss_mb": svc.peak_rss_mb(),
        "rss_mb": svc.rss_mb(),
    }


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


# --- the whole benchmark ------------------------------------------------------------------


def fig(xs: list[float]) -> dict[str, float]:
    return spread([x for x in xs if x is not None and not math.isnan(x)])


def run_search(
    args: argparse.Namespace,
    what: str,
    one: Callable[[argparse.Namespace, int | None], dict[str, Any]],
    duration: float,
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        quiet = wait_quiet(args.wait_quiet)
        # later runs start where the earlier ones ended, without the probe
        start = None
        if runs:
            start = max(args.step, int(statistics.median(r["rate"] for r in runs)))
            start = start // args.step * args.step
        r = one(args, start)
        r["others_cpu_before"] = quiet
        runs.append(r)
        log(f"{what} run {i + 1}: keeps up at {r['rate']} msg/s")
    best = [r["at_best"] for r in runs if r.get("at_best")]
    return {
        "runs": runs,
        "rate": fig([r["rate"] for r in runs]),
        # at each run's best step: CPU per message, and what others used meanwhile
        "cpu_s_per_1000": fig([b["cpu_s_per_1000"] for b in best]) if best else None,
        "others_cores": fig([b["others_cpu"]["mean_cores"] for b in best]) if best else None,
        "step": args.step,
        "duration_s": duration,
    }


def run_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    return run_search(args, "ceiling", ceiling_run, args.ceiling_duration)


def run_sustained(args: argparse.Namespace) -> dict[str, Any]:
    return run_search(args, "sustained", sustained_run, args.duration)


def measured(
    args: argparse.Namespace, fn: Callable[..., dict[str, Any]], *a: Any
) -> dict[str, Any]:
    """One run when the machine is quiet (or after --wait-quiet s), with the CPU that other
    processes used meanwhile."""
    quiet = wait_quiet(args.wait_quiet)
    with CpuWatch() as others:
        r = fn(args, *a)
    r["others_cpu"] = others.summary() | {"before_cores": quiet}
    return r


def run_latency(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for load in args.loads:
        runs = []
        for i in range(args.runs if load in args.main_loads else args.extra_runs):
            r = measured(args, latency_run, load)
            runs.append(r)
            log(
                f"latency @{load} msg/s run {i + 1}: "
                + ", ".join(
                    f"{p} p50 {r[p]['p50_ms']:.1f} p99 {r[p]['p99_ms']:.1f} ms"
                    for p in PATHS
                    if r[p]["p50_ms"] is not None
                )
            )
        summary: dict[str, Any] = {"runs": runs}
        for p in PATHS:
            summary[p] = {
                q: fig([r[p][q] for r in runs if r[p][q] is not None])
                for q in ("p50_ms", "p99_ms", "max_ms")
                if any(r[p][q] is not None for r in runs)
            }
            pooled = [x for r in runs for x in r[p]["ms"]]
            if pooled:
                summary[p]["pooled"] = {
                    "n": len(pooled),
                    "p50_ms": percentile(pooled, 50),
                    "p99_ms": percentile(pooled, 99),
                    "max_ms": max(pooled),
                }
        out[str(load)] = summary
    return out


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
                f" / 1000 msg, peak RSS {r['peak_rss_mb']:.0f} MB"
            )
    return {
        "devices": n,
        "started": started,
        "idle_cpu_pct": idle_pct,
        "runs": runs,
        **{k: fig([r[k] for r in runs]) for k in ("cpu_s_per_1000", "peak_rss_mb", "rss_mb")},
    }


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


def _f(s: dict[str, float] | None, fmt: str = "{:,.0f}", unit: str = "") -> str:
    if not s:
        return "-"
    one = fmt.format(s["median"])
    if s["n"] < 2:
        return f"{one}{unit}"
    return f"{one}{unit} [{fmt.format(s['min'])}-{fmt.format(s['max'])}]"


def table(doc: dict[str, Any]) -> str:
    lines = [
        f"CareWatch benchmark {doc['name']}: {doc['machine']['nproc']} cores,"
        f" Python {doc['machine']['python']}; median [min-max] of runs",
    ]

    def row(what: str, value: str, target: str = "") -> None:
        lines.append(f"  {what:<44} {value:<30} {target}")

    c = doc.get("ceiling")
    if c:
        row("ceiling: bare paho subscriber", _f(c["rate"], unit=" msg/s"))
    s = doc.get("sustained")
    if s:
        row(
            f"sustained, keeps up {s['duration_s']:.0f} s (steps of {s['step']})",
            _f(s["rate"], unit=" msg/s"),
        )
        if c and c["rate"]["median"]:
            ratio = s["rate"]["median"] / c["rate"]["median"]
            met = "met" if ratio >= TARGET_RATIO else "NOT met"
            row("  ratio to the ceiling", f"{ratio:.0%}", f"target >= 70%: {met}")
    for key, what in (("ceiling", "bare subscriber"), ("sustained", "service")):
        if doc.get(key) and doc[key].get("cpu_s_per_1000"):
            row(f"  CPU ms per message, {what}", _f(doc[key]["cpu_s_per_1000"], "{:.3f}"))
    if c and s and c.get("cpu_s_per_1000") and s.get("cpu_s_per_1000"):
        cost = c["cpu_s_per_1000"]["median"] / s["cpu_s_per_1000"]["median"]
        row("  CPU cost ratio, subscriber / service", f"{cost:.0%}", "(contention-robust)")
    lat = doc.get("latency")
    if lat:
        for load, d in lat.items():
            for p in PATHS:
                if p not in d or "p99_ms" not in d[p]:
                    continue
                tgt = ""
                goal = TARGET_P99_MS.get(int(load))
                if goal is not None and p == "commit":
                    met = "met" if d[p]["p99_ms"]["median"] <= goal else "NOT met"
                    tgt = f"target p99 <= {goal:.0f} ms: {met}"
                row(
                    f"alarm @{int(load):,}/s {p} p50 / p99 / max ms",
                    f"{_f(d[p]['p50_ms'], '{:.1f}')} / {_f(d[p]['p99_ms'], '{:.1f}')}"
                    f" / {_f(d[p]['max_ms'], '{:.1f}')}",
                    tgt,
                )
    r = doc.get("resources")
    rs = doc.get("restart")
    if r:
        row("CPU s per 1,000 msg (10,000 devices)", _f(r["cpu_s_per_1000"], "{:.3f}"))
        row("peak RSS (10,000 devices)", _f(r["peak_rss_mb"], unit=" MB"))
    if rs:
        n = f"{rs['devices']:,}"
        row(f"CPU s per 1,000 msg ({n} devices)", _f(rs["steady"]["cpu_s_per_1000"], "{:.3f}"))
        peak = rs["steady"]["peak_rss_mb"]
        goal = rs["devices"] == 50_000  # the targets are for 50,000 devices
        met = "met" if peak["median"] <= TARGET_RSS_MB else "NOT met"
        tgt = f"target <= 300 MB: {met}" if goal else ""
        row(f"peak RSS ({n} devices)", _f(peak, unit=" MB"), tgt)
        row(f"first start to /readyz ({n} devices)", f"{rs['first_start_ready_s']:.1f} s")
        met = "met" if rs["ready_s"]["median"] <= TARGET_READY_S else "NOT met"
        row(
            f"restart to /readyz ({n} dev., backlog)",
            _f(rs["ready_s"], "{:.1f}", " s"),
            f"target <= 5 s: {met}" if goal else "",
        )
        row("  backlog committed after ready", _f(rs["drain_s"], "{:.1f}", " s"))
        row("  drain rate", _f(rs["drain_rate"], unit=" msg/s"))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
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
    ap.add_argument("--max-rate", type=int, default=20_000)
    ap.add_argument(
        "--probe-rates", type=int, nargs="*", default=[2000, 4000, 6000, 8000, 10000, 12000]
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
    common.LOADGEN_CLIENT = args.client
    phases = args.only or ["ceiling", "sustained", "latency", "resources", "restart"]
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
        },
        "paths": PATH_NAMES,
    }
    runners: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
        "ceiling": run_ceiling,
        "sustained": run_sustained,
        "latency": run_latency,
        "resources": run_resources,
        "restart": run_restart,
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
