"""The exact reconciliation of a chaos run: what was sent against what the service stored,
what InfluxDB holds and what the webhook receiver got, every number read from the real
stores (`census`, `settle`), and its report: a table per fault, a summary of all, and
bench/results/chaos-<time>.json."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerting.notify.receiver import Receiver
from alerting.outbox import FOLLOW_UPS, MQTT_TARGET
from tests.chaos_processes import FIELDS, RATE, RESULTS, SCALE, TARGET, ChaosService, Stream, mode
from tests.servers import InfluxProcess

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


def unescalated(
    service: ChaosService, slack_ms: int = 5000, steps: Sequence[tuple[int, int]] = ()
) -> list[int]:
    """Calls and falls that stayed unacknowledged past their supervisor step (1 s) plus
    slack without reaching it: a timer lost to the fault. Each time an alert becomes
    `active_unack` (raised, or a new occurrence after an acknowledgement) its escalation
    starts again, so each such stretch is judged on its own, from the audit trail. The
    slack covers an engine seconds behind; stretches a clock jump made negative are not
    judged. `steps`: (wall ms just after the step, step ms) of each forward step of the
    service's wall clock: a stretch across one lasted that much less (timers move with
    the clock)."""
    now = time.time_ns() // 1_000_000
    rows = service.read(
        "SELECT u.alert_id, u.at, u.action, u.from_state, u.to_state, u.note FROM audit u"
        " JOIN alerts a ON a.id = u.alert_id WHERE a.rule IN ('call', 'fall') ORDER BY u.id"
    )
    since: dict[int, tuple[int, bool]] = {}  # alert -> (unacked since, escalated since)
    late: set[int] = set()

    def judge(alert_id: int, until: int) -> None:
        start, escalated = since.pop(alert_id)
        jumped = sum(step for at, step in steps if step > 0 and start < at <= until)
        if until - start - jumped >= 1000 + slack_ms and not escalated:
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


def show(config: pytest.Config, text: str) -> None:
    """Print past pytest's capture: the tables are the point of `make chaos`."""
    capman = config.pluginmanager.getplugin("capturemanager")
    with capman.global_and_fixture_disabled():
        print(text, flush=True)
