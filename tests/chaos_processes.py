"""The moving parts of a chaos run (tests/test_chaos*.py): the service under test, a steady
stream of QoS 1 messages (events with distinct ids, telemetry with explicit device
timestamps) from a tolerant publisher, and staff acknowledging and resolving alerts
through the API. What went wrong is counted in tests/chaos_reconcile.py; the faults of the
host in tests/chaos_faults.py.

Durations: `CAREWATCH_CHAOS_SCALE` (default 0.05: the short mode of `make test`, each fault
at least a few seconds; 1 = the full lengths, `make chaos`); the stream's rate:
`CAREWATCH_CHAOS_RATE` (msg/s, default 300).
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.registry import Registry
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

SCALE = float(os.environ.get("CAREWATCH_CHAOS_SCALE", "0.05"))
RATE = float(os.environ.get("CAREWATCH_CHAOS_RATE", "300"))
EVENT_EVERY = 25  # one message in 25 is an event (12/s at 300 msg/s), the rest telemetry
SITE = "sunrise"
T = f"carewatch/v1/{SITE}"
SECRET = "chaos-webhook-secret-0123456789"
SECRET_ENV = "CW_CHAOS_SECRET"
TARGET = "supervisor"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# one telemetry field per device type, always inside its normal band (no alert)
FIELDS = {
    "call_button": ("battery_pct", lambda i: 80.0 + i % 10),
    "call_point": ("battery_pct", lambda i: 90.0 + i % 5),
    "wearable": ("heart_rate_bpm", lambda i: 70.0 + i % 9),
    "smoke_detector": ("temperature_c", lambda i: 22.0 + (i % 5) / 10),
    "water_pressure": ("pressure_mpa", lambda i: 0.35 + (i % 5) / 1000),
    "electrical_monitor": ("residual_current_ma", lambda i: 40.0 + i % 20),
    # the fire installations, each in its normal state (no alert)
    "fire_panel": ("rssi_dbm", lambda i: -60.0 - i % 5),
    "fire_pump": ("mode", lambda i: "auto"),
    "sprinkler_flow": ("flow", lambda i: False),
    "signal_valve": ("open", lambda i: True),
    "fire_tank": ("level_pct", lambda i: 97.0 + (i % 3) / 10),
    "smoke_fan": ("running", lambda i: False),
    "fire_door": ("closed", lambda i: True),
    "emergency_light": ("fault", lambda i: False),
    "tag_reader": ("battery_pct", lambda i: 70.0 + i % 10),
}


def scaled(full_s: float, minimum_s: float) -> float:
    """A fault's duration: the issue's length times CAREWATCH_CHAOS_SCALE, at least minimum."""
    return max(minimum_s, full_s * SCALE)


def mode() -> str:
    return "full" if SCALE >= 1 else f"short (scale {SCALE:g})"


def rules_yaml(
    port: int, repeat_s: float | None = None, policies: str = "", extra: str = ""
) -> str:
    """One signed JSON webhook target (the supervisor) on the test's receiver: falls, calls
    and frequent calls reach it after 1 s; `repeat_s` re-notifies.
    `policies`: more policy lines (YAML, 4 spaces in); `extra`: more top-level YAML."""
    repeat = f", repeat_s: {repeat_s:g}" if repeat_s else ""
    return f"""\
notify:
  targets:
    {TARGET}: {{url: "http://127.0.0.1:{port}/hook", format: json, secret_env: {SECRET_ENV}}}
escalation:
  policies:
    emergency: {{steps: [{{after_s: 0, notify: duty_screen}}, {{after_s: 1, notify: {TARGET}}}]{repeat}}}
    routine: {{steps: [{{after_s: 0, notify: duty_screen}}, {{after_s: 1, notify: {TARGET}}}]}}
{policies}{extra}"""


class ChaosService(CarewatchProcess):
    """`carewatch serve` with the chaos rules and the webhook secret; optionally its
    database in another directory (a small file system) than its config and log."""

    def __init__(
        self,
        data_dir: Path,
        mqtt_url: str,
        influx_url: str | None,
        receiver_port: int,
        db_dir: Path | None = None,
        rules: str | None = None,
    ) -> None:
        super().__init__(
            data_dir, mqtt_url, DEMO_SITE, influx_url, rules=rules or rules_yaml(receiver_port)
        )
        self.env[SECRET_ENV] = SECRET
        self.db_dir = db_dir or self.dir
        if db_dir is not None:
            text = self.config.read_text()
            self.config.write_text(text.replace(f"data_dir: {self.dir}\n", f"data_dir: {db_dir}\n"))

    @property
    def db(self) -> Path:
        return self.db_dir / "carewatch.db"

    def ready(self) -> dict[str, bool] | None:
        """/readyz's checks; None while the process does not answer."""
        try:
            checks: dict[str, bool] = self.get("/readyz").json()["checks"]
            return checks
        except (httpx.HTTPError, ValueError, KeyError):
            return None

    def read(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, args).fetchall()
        finally:
            conn.close()

    def count(self, sql: str, *args: object) -> int:
        return int(self.read(sql, *args)[0][0] or 0)


# --------------------------------------------------------------------------- the stream


class Stream:
    """Devices publishing QoS 1 at `rate` msg/s: one message in `event_every` an event with
    a distinct id (a press on a call button or a fall, alternately, round robin over the
    devices), the rest telemetry with an explicit, per-device increasing `ts`, round
    robin over every registered device (so none goes silent).

    Like real devices it keeps what the broker has not acknowledged and sends it again
    after a reconnect (paho keeps un-acked QoS 1 messages, even when publishing while
    disconnected); at most `window` messages are outstanding."""

    def __init__(
        self,
        port: int,
        registry: Registry,
        tag: str,
        rate: float = RATE,
        event_every: int = EVENT_EVERY,
        window: int = 60_000,
    ) -> None:
        self.tag = tag
        self.rate = rate
        self.event_every = event_every
        devices = sorted(registry.devices(), key=lambda d: d.id)
        self._telemetry = [(d.id, d.type.name) for d in devices]
        self._buttons = [d.id for d in devices if d.type.name == "call_button"]
        self._wearables = [d.id for d in devices if d.type.name == "wearable"]
        self.events: list[str] = []  # ids, in order sent
        self.telemetry: dict[tuple[str, str], int] = defaultdict(int)  # (type, device) -> n
        self.sent = 0
        self.probes = 0  # publish_one
        self.acked = 0
        self.errors: list[str] = []
        self._last_ts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._window = threading.Semaphore(window)
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._thread: threading.Thread | None = None
        self.started_at = 0.0
        self.stopped_at = 0.0
        c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"chaos-stream-{tag}-{os.getpid()}",
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        c.max_inflight_messages_set(0)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(min_delay=1, max_delay=2)
        c.on_publish = self._on_publish
        c.connect("127.0.0.1", port, keepalive=10)
        c.loop_start()
        self._client = c

    def _on_publish(self, *_args: object) -> None:
        with self._lock:
            self.acked += 1
        self._window.release()

    def _message(self, n: int) -> tuple[str, bytes]:
        now = time.time_ns() // 1_000_000
        if n % self.event_every == 0:
            k = n // self.event_every
            eid = f"{self.tag}-{k:07d}"
            self.events.append(eid)
            if k % 2 == 0:
                dev = self._buttons[(k // 2) % len(self._buttons)]
                body: dict[str, object] = {"event": "press", "id": eid, "button": "bed"}
            else:
                dev = self._wearables[(k // 2) % len(self._wearables)]
                body = {"event": "fall", "id": eid, "confidence": 0.9}
            body["ts"] = now
            return f"{T}/{dev}/event", orjson.dumps(body)
        k = n - n // self.event_every - 1
        dev, dtype = self._telemetry[k % len(self._telemetry)]
        ts = max(now, self._last_ts.get(dev, 0) + 1)
        self._last_ts[dev] = ts
        name, value = FIELDS[dtype]
        self.telemetry[(dtype, dev)] += 1
        return f"{T}/{dev}/telemetry", orjson.dumps({"ts": ts, name: value(k)})

    def _run(self) -> None:
        n = 0
        start = time.monotonic()
        while not self._stop.is_set():
            if not self._running.is_set():  # paused: the clock of the pace stops too
                paused = time.monotonic()
                self._running.wait(0.2)
                start += time.monotonic() - paused
                continue
            delay = start + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if not self._window.acquire(timeout=1.0):
                continue  # the broker is away long enough to fill the window: wait
            try:
                topic, payload = self._message(n)
            except Exception as exc:  # a stream that died must fail the run, not thin it
                self.errors.append(f"message {n}: {exc!r}")
                self._window.release()
                break
            info = self._client.publish(topic, payload, qos=1)
            if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
                self.errors.append(f"publish {n}: rc={info.rc}")
                self._window.release()
                break
            n += 1
            self.sent = n

    def publish_one(self, device: str, kind: str, payload: bytes) -> None:
        """One message outside the stream's pattern and counts (a probe)."""
        self._window.acquire()
        info = self._client.publish(f"{T}/{device}/{kind}", payload, qos=1)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"publish refused: rc={info.rc}")
        with self._lock:
            self.probes += 1

    def start(self) -> Stream:
        self.started_at = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"stream-{self.tag}", daemon=True)
        self._thread.start()
        return self

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()
        if self._thread is not None:
            self._thread.join(10)
        self.stopped_at = time.monotonic()

    def wait_acked(self, timeout_s: float) -> bool:
        return bool(wait_until(lambda: self.acked >= self.sent + self.probes, timeout_s, 0.1))

    def close(self) -> None:
        self._stop.set()
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def telemetry_sent(self) -> int:
        return sum(self.telemetry.values())


class Staff:
    """Nurses at the screen: every `period_s` one unacknowledged call or fall is
    acknowledged and one fall resolved, through the API. A failing request (the service
    killed, the engine holding a batch) is simply tried again on the next round."""

    def __init__(self, service: CarewatchProcess, period_s: float = 0.5, seed: int = 6) -> None:
        self._service = service
        self._period = period_s
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = 0
        self.failed = 0

    def _round(self) -> None:
        alerts = self._service.get("/api/alerts", state="active_unack", limit=200).json()
        mine = [a for a in alerts if a["rule"] in ("call", "fall")]
        for action in ("ack", "resolve"):
            # a call is reset at the bedside (docs/rules.md): the screen resolves falls only
            pool = [a for a in mine if action == "ack" or a["rule"] == "fall"]
            if not pool:
                return
            a = pool[self._rng.randrange(len(pool))]
            mine.remove(a)
            r = self._service.post(f"/api/alerts/{a['id']}/{action}", {"by": "nurse-chaos"})
            if r.status_code == 200:
                self.done += 1

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            try:
                self._round()
            except (httpx.HTTPError, ValueError):
                self.failed += 1

    def start(self) -> Staff:
        self._thread = threading.Thread(target=self._run, name="staff", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)


def ack_all(service: CarewatchProcess) -> int:
    """Acknowledge every unacknowledged alert (ends all escalation): a quiet end state.
    Sent 16 at a time: the engine takes them in one batch."""
    from concurrent.futures import ThreadPoolExecutor

    def ack(alert_id: str) -> bool:
        r = service.post(f"/api/alerts/{alert_id}/ack", {"by": "nurse-chaos"})
        return r.status_code == 200

    n = 0
    with ThreadPoolExecutor(16) as pool:
        for _ in range(5):
            alerts = service.get("/api/alerts", state="active_unack", limit=5000).json()
            if not alerts:
                break
            n += sum(pool.map(ack, [a["id"] for a in alerts]))
    return n
