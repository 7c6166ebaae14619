"""The fault-injection harness of tests/test_chaos.py (issue 6).

A steady stream of QoS 1 messages (events with distinct ids, telemetry with explicit device
timestamps) from a tolerant publisher, staff acknowledging and resolving alerts through the
API, a real webhook receiver, and at the end an exact reconciliation of what was sent
against what the service stored, what InfluxDB holds and what the receiver got.

Durations: `CAREWATCH_CHAOS_SCALE` (default 0.05: the short mode of `make test`, each fault
at least a few seconds; 1 = the issue's full lengths, `make chaos`); the stream's rate:
`CAREWATCH_CHAOS_RATE` (msg/s, default 300).
"""

from __future__ import annotations

import errno
import glob
import json
import os
import random
import sqlite3
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from alerting.notify.receiver import Receiver
from alerting.outbox import FOLLOW_UPS, MQTT_TARGET
from devices.registry import Registry
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess, InfluxProcess

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
            topic, payload = self._message(n)
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
    acknowledged and one resolved, through the API. A failing request (the service
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
            if not mine:
                return
            a = mine.pop(self._rng.randrange(len(mine)))
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


# --------------------------------------------------------------------------- the census


@dataclass
class Check:
    what: str
    expected: int
    actual: int
    missing: int = 0
    extra: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.expected == self.actual and self.missing == 0 and self.extra == 0


def _diff(what: str, expected: set[Any], actual: set[Any], note: str = "") -> Check:
    return Check(
        what, len(expected), len(actual), len(expected - actual), len(actual - expected), note
    )


def _count(what: str, expected: int, actual: int, note: str = "") -> Check:
    return Check(what, expected, actual, max(0, expected - actual), max(0, actual - expected), note)


def influx_series(influx: InfluxProcess, q: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{influx.url}/query", params={"db": "carewatch", "q": q}, timeout=30)
    r.raise_for_status()
    result = r.json()["results"][0]
    if "error" in result:
        raise RuntimeError(result["error"])
    series: list[dict[str, Any]] = result.get("series", [])
    return series


def influx_count(influx: InfluxProcess, q: str) -> int:
    return sum(int(s["values"][0][1]) for s in influx_series(influx, q))


def notifications_due(audit: list[tuple[int, str, str | None]]) -> list[tuple[int, int, str]]:
    """What the audit trail says the webhook target must have been told, re-derived from
    docs/notifications.md independently of the outbox: each escalation step naming it, then
    every later follow-up of the same alert; (alert id, seq, action)."""
    seq: dict[int, int] = {}
    due = []
    for alert_id, action, note in audit:
        told = action in ("escalate", "renotify") and note == TARGET
        if told or (action in FOLLOW_UPS and alert_id in seq):
            seq[alert_id] = seq.get(alert_id, 0) + 1
            due.append((alert_id, seq[alert_id], action))
    return due


def census(
    service: ChaosService,
    influx: InfluxProcess | None,
    receiver: Receiver,
    stream: Stream,
) -> list[Check]:
    """Sent vs stored vs delivered, exactly; every number read from the real stores."""
    checks: list[Check] = []
    tag = stream.tag
    sent_events = {f"id:{e}" for e in stream.events}
    logged = service.read("SELECT key FROM event_log WHERE key LIKE ?", f"id:{tag}-%")
    checks.append(_diff("events sent -> event_log keys", sent_events, {k for (k,) in logged}))
    occ = service.count("SELECT sum(occurrences) FROM alerts WHERE rule IN ('call', 'fall')")
    checks.append(_count("events sent -> alert occurrences (call+fall)", len(sent_events), occ))
    audit = service.read("SELECT alert_id, action, note FROM audit ORDER BY id")
    transitions = sum(1 for _, action, _ in audit if action not in ("escalate", "renotify"))
    if influx is not None:
        ev = influx_count(
            influx,
            'SELECT count("event_key") FROM "device_event" WHERE "event" = \'press\''
            " OR \"event\" = 'fall'",
        )
        checks.append(_count("events sent -> device_event points", len(sent_events), ev))
        got: dict[tuple[str, str], int] = {}
        for dtype, (name, _) in FIELDS.items():
            q = f'SELECT count("{name}") FROM "{dtype}" GROUP BY "device"'
            for s in influx_series(influx, q):
                got[(dtype, s["tags"]["device"])] = int(s["values"][0][1])
        sent = stream.telemetry
        missing = sum(max(0, n - got.get(k, 0)) for k, n in sent.items())
        extra = sum(max(0, n - sent.get(k, 0)) for k, n in got.items())
        checks.append(
            Check(
                "telemetry sent -> InfluxDB points",
                stream.telemetry_sent,
                sum(got.values()),
                missing,
                extra,
                "per device",
            )
        )
        changes = influx_count(influx, 'SELECT count("alert_id") FROM "alert_change"')
        checks.append(_count("alert transitions (audit) -> alert_change pts", transitions, changes))
        checks.append(_count("spool rows left", 0, service.count("SELECT count(*) FROM points")))
    due = notifications_due(audit)
    outbox = service.read(
        "SELECT alert_id, seq, action, key, state FROM outbox WHERE target = ? ORDER BY id", TARGET
    )
    checks.append(
        _diff(
            f"notifications due (audit) -> outbox [{TARGET}]",
            set(due),
            {(a, s, act) for a, s, act, _, _ in outbox},
        )
    )
    states = defaultdict(int)
    for *_, state in outbox:
        states[state] += 1
    keys = receiver.keys()
    dup_note = f"{receiver.duplicates} repeat(s) recognised by key" if receiver.duplicates else ""
    not_delivered = {k: st for *_, k, st in outbox if st != "delivered"}
    delivered = _diff("outbox -> delivered at the receiver", {r[3] for r in outbox}, set(keys))
    delivered.extra += len(keys) - len(set(keys))  # a key recorded twice
    if not_delivered:
        delivered.missing = max(delivered.missing, len(not_delivered))
        dup_note = (dup_note + "; " if dup_note else "") + f"outbox states {dict(states)}"
    delivered.note = dup_note
    checks.append(delivered)
    arrived: dict[str, list[int]] = defaultdict(list)
    for d in receiver.received:
        arrived[str(d["alert_id"])].append(int(d["seq"]))
    disorder = sum(1 for seqs in arrived.values() if seqs != sorted(seqs))
    checks.append(_count("alerts whose notices arrived out of order", 0, disorder))
    topic = service.read(
        "SELECT state, count(*) FROM outbox WHERE target = ? GROUP BY state", MQTT_TARGET
    )
    topic_states = dict(topic)
    checks.append(
        _count(
            "alert changes (audit) -> alert topic delivered",
            transitions,
            int(topic_states.get("delivered", 0)),
            ", ".join(f"{k} {v}" for k, v in topic_states.items() if k != "delivered"),
        )
    )
    checks.append(_count("dead letters", 0, service.count("SELECT count(*) FROM dead_letters")))
    return checks


def unescalated(service: ChaosService, slack_ms: int = 5000) -> list[int]:
    """Calls and falls that stayed unacknowledged past their supervisor step (1 s) plus
    slack without reaching it: a timer lost to the fault. Each time an alert becomes
    `active_unack` (raised, or a new occurrence after an acknowledgement) its escalation
    starts again, so each such stretch is judged on its own, from the audit trail. The
    slack covers an engine seconds behind; stretches a clock jump made negative are not
    judged."""
    now = time.time_ns() // 1_000_000
    rows = service.read(
        "SELECT u.alert_id, u.at, u.action, u.from_state, u.to_state, u.note FROM audit u"
        " JOIN alerts a ON a.id = u.alert_id WHERE a.rule IN ('call', 'fall') ORDER BY u.id"
    )
    since: dict[int, tuple[int, bool]] = {}  # alert -> (unacked since, escalated since)
    late: set[int] = set()

    def judge(alert_id: int, until: int) -> None:
        start, escalated = since.pop(alert_id)
        if until - start >= 1000 + slack_ms and not escalated:
            late.add(alert_id)

    for alert_id, at, action, before, after, note in rows:
        if after == "active_unack" and before != "active_unack":
            since[alert_id] = (at, False)
        elif alert_id in since and action == "escalate" and note == TARGET:
            since[alert_id] = (since[alert_id][0], True)
        elif alert_id in since and after != "active_unack":
            judge(alert_id, at)
    for alert_id in list(since):
        judge(alert_id, now)
    return sorted(late)


def settle(
    service: ChaosService,
    influx: InfluxProcess | None,
    receiver: Receiver,
    stream: Stream,
    timeout_s: float,
) -> tuple[list[Check], float]:
    """Until the census is exact and stays the same for 2 s (the 1 s escalation steps have
    come and gone); the last census on time-out. Returns it and the seconds it took."""
    t0 = time.monotonic()
    stream.wait_acked(timeout_s)
    last: list[Check] | None = None
    while True:
        try:
            now = census(service, influx, receiver, stream)
        except (sqlite3.Error, httpx.HTTPError, RuntimeError) as exc:
            now = [Check(f"census failed: {exc}"[:60], 0, 1)]
        if all(c.ok for c in now) and now == last:
            return now, time.monotonic() - t0
        if time.monotonic() - t0 > timeout_s:
            return now, time.monotonic() - t0
        last = now if all(c.ok for c in now) else None
        time.sleep(2.0 if last else 0.5)


# --------------------------------------------------------------------------- reporting


@dataclass
class Outcome:
    fault: str
    mode: str
    rate: float
    seconds: float
    settle_s: float
    checks: list[Check]
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def table(self) -> str:
        head = (
            f"\nCHAOS {self.fault} [{self.mode}, {self.rate:g} msg/s]: "
            f"{self.seconds:.1f} s, reconciled {self.settle_s:.1f} s after the stream stopped"
        )
        lines = [head]
        if self.facts:
            lines.append("  " + "; ".join(f"{k}: {v}" for k, v in self.facts.items()))
        lines.append(f"  {'check':<50} {'expected':>9} {'actual':>9} {'missing':>8} {'extra':>6}")
        for c in self.checks:
            mark = "" if c.ok else "  <-- MISMATCH"
            note = f"  ({c.note})" if c.note else ""
            lines.append(
                f"  {c.what:<50} {c.expected:>9} {c.actual:>9} {c.missing:>8} {c.extra:>6}"
                f"{note}{mark}"
            )
        return "\n".join(lines)

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def summary(outcomes: list[Outcome]) -> str:
    def pick(o: Outcome, prefix: str) -> str:
        c = next((c for c in o.checks if c.what.startswith(prefix)), None)
        return "-" if c is None else f"{c.expected}/{c.actual}"

    lines = [
        "",
        f"CHAOS SUMMARY [{mode()}]: sent/stored, due/delivered; every row must match exactly",
        f"  {'fault':<34} {'secs':>6} {'events->alerts':>15} {'points->influx':>15}"
        f" {'notices due->got':>17} {'dups':>5}  result",
    ]
    for o in outcomes:
        dups = next((c.note.split()[0] for c in o.checks if "repeat(s) recognised" in c.note), "0")
        lines.append(
            f"  {o.fault:<34} {o.seconds:>6.0f} {pick(o, 'events sent -> alert'):>15}"
            f" {pick(o, 'telemetry sent'):>15} {pick(o, 'outbox -> delivered'):>17}"
            f" {dups:>5}  {'OK' if o.ok else 'MISMATCH'}"
        )
    return "\n".join(lines)


def write_results(outcomes: list[Outcome]) -> Path | None:
    if not outcomes:
        return None
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"chaos-{time.strftime('%Y%m%dT%H%M%S')}.json"
    doc = {"bench": "chaos", "scale": SCALE, "rate": RATE, "faults": [o.row() for o in outcomes]}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


# --------------------------------------------------------------------------- host faults


def faketime_library() -> Path | None:
    """libfaketime's multi-threaded preload library (Debian: package `faketime`)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    return Path(found[0]) if found else None


# libfaketime 0.9.10 (Debian 12) mangles clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)
# when the monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1): EINVAL
# (github.com/wolfcw/libfaketime/issues/426). Python 3.11's time.sleep is exactly that call;
# select() with a relative timeout is not affected, and nothing else in the service is.
_SITECUSTOMIZE = '''\
"""Loaded only into a service started under libfaketime by tests/chaos_support.py."""
import select
import time


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
'''


class HostClock:
    """The wall clock of one process, moved while it runs: libfaketime preloaded with an
    offset file it re-reads every second. Only CLOCK_REALTIME moves, as when NTP steps a
    host's clock; the monotonic clock (timeouts, sleeps) runs on untouched."""

    def __init__(self, directory: Path, library: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.file = directory / "faketime.rc"
        self.file.write_text("+0\n")
        site = directory / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        pythonpath = os.environ.get("PYTHONPATH")
        self.env = {
            "LD_PRELOAD": str(library),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": str(site) + (os.pathsep + pythonpath if pythonpath else ""),
        }

    def set(self, offset: str) -> None:
        """'+2h', '-1h', '+0': relative to the real time (libfaketime's syntax)."""
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(offset + "\n")
        tmp.replace(self.file)


def served_time(service: CarewatchProcess) -> float | None:
    """The service's wall clock as its HTTP Date header says (1 s resolution)."""
    from email.utils import parsedate_to_datetime

    try:
        date = service.get("/healthz").headers.get("date")
    except httpx.HTTPError:
        return None
    return parsedate_to_datetime(date).timestamp() if date else None


@contextmanager
def small_filesystem(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of `size_mb` at `path` (needs root and mount rights); skip if impossible."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a small file system needs root (mount -t tmpfs)")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def checkpoint(db: Path) -> None:
    """Copy the WAL into the database and truncate it (what SQLite does by itself now and
    then), so that a disk filled next is hit by the next commits, not minutes later."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def fill(path: Path, leave_bytes: int) -> Path:
    """A file taking all but `leave_bytes` of the file system's free space (the service
    writes meanwhile: measured again until the allocation fits)."""
    filler = path / "filler"
    with filler.open("wb") as f:
        for _ in range(20):
            try:
                os.posix_fallocate(f.fileno(), 0, max(0, free_bytes(path) - leave_bytes))
                return filler
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    raise RuntimeError(f"could not fill {path}")


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
