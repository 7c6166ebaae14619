"""Alarm latency under background telemetry: publish -> raised_at, -> the commit, -> the
MQTT alert topic, -> the SSE stream, -> the webhook."""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench.common import percentile, wait_until
from bench.loads import Load
from bench.servers import SITE
from bench.throughput.runs import fig, log, measured
from bench.throughput.stack import Stack, fresh
from simulators.publisher import Publisher

PATHS = ("engine", "commit", "mqtt", "sse", "webhook")
PATH_NAMES = {
    "engine": "publish -> raised_at (the engine's clock when it took the batch)",
    "commit": "publish -> alert row visible to a reader of the database (polled every 2 ms)",
    "mqtt": "publish -> alert on the MQTT alert topic (outbox worker, after the commit)",
    "sse": "publish -> change event at a client of /api/alerts/stream",
    "webhook": "publish -> webhook arrival (emergency policy step 0 -> webhook target)",
}


class AlertClients:
    """The watchers of a raised alert: a reader polling the database, the MQTT alert topic
    (every site's), an SSE client (with the service's token), the webhook receiver."""

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
        c.subscribe("carewatch/v1/+/alerts/#", qos=1)
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
        svc = self._stack.service
        with (
            httpx.Client(timeout=timeout, headers=svc.auth) as client,
            client.stream("GET", url) as resp,
        ):
            resp.raise_for_status()
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


def alarm_run(
    args: argparse.Namespace,
    stack: Stack,
    alarms: list[tuple[str, str]],
    background: Callable[[float], Load] | None,
) -> dict[str, Any]:
    """A fall from each (site, wearable) of `alarms`, one every --alarm-interval s, while
    `background(seconds)` publishes telemetry (after --warmup s); the latency of each path."""
    svc = stack.service
    watch = AlertClients(stack)
    pub = Publisher("127.0.0.1", stack.broker.port, "bench-alarms")
    load = None
    try:
        span = len(alarms) * args.alarm_interval
        c0 = svc.committed()
        if background is not None:
            load = background(args.warmup + span + 1)
            time.sleep(args.warmup)
        sent_mono: dict[str, float] = {}
        sent_wall: dict[str, float] = {}
        lags = []
        start = time.monotonic()
        for k, (site, dev) in enumerate(alarms):
            body = f'{{"event":"fall","id":"bench-fall-{k}","confidence":0.93}}'.encode()
            sent_wall[dev] = time.time() * 1000
            sent_mono[dev] = time.monotonic()
            pub.publish_all([(f"carewatch/v1/{site}/{dev}/event", body)], rate=1000)
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
        "alarms": len(alarms),
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
            "missing": len(alarms) - len(xs),
            "p50_ms": percentile(xs, 50) if xs else None,
            "p99_ms": percentile(xs, 99) if xs else None,
            "max_ms": max(xs) if xs else None,
            "ms": [round(x, 2) for x in xs],
        }
    return out


def latency_run(args: argparse.Namespace, load_rate: int) -> dict[str, Any]:
    with fresh() as tmp, Stack(tmp, 10_000, webhook=True, workers=args.workers) as stack:
        stack.service.start()
        stack.service.wait_ready(args.start_timeout)
        port = stack.broker.port

        def background(seconds: float) -> Load:
            return Load(port, load_rate, 10_000, duration_s=seconds)

        alarms = [(SITE, f"w-{k}") for k in range(args.alarms)]
        load = background if load_rate else None
        return {"load": load_rate, **alarm_run(args, stack, alarms, load)}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each path's p50 / p99 / max over runs (median and range), and over all alarms."""
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
    return summary


def describe(r: dict[str, Any]) -> str:
    """One run's figures for the log."""
    return ", ".join(
        f"{p} p50 {r[p]['p50_ms']:.1f} p99 {r[p]['p99_ms']:.1f} ms"
        for p in PATHS
        if r[p]["p50_ms"] is not None
    )


def run_latency(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for load in args.loads:
        runs = []
        for i in range(args.runs if load in args.main_loads else args.extra_runs):
            r = measured(args, latency_run, load)
            runs.append(r)
            log(f"latency @{load} msg/s run {i + 1}: {describe(r)}")
        out[str(load)] = summarize(runs)
    return out
