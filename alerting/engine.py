"""The rule engine: every alert state change happens here, one transaction per batch.

Messages, timer deadlines and operator commands are processed in queue order by one
thread (see runner.py). A batch's alert changes, its de-duplication rows, deadlines and
the batch sinks' rows (spool, dead letters) commit together; only then are messages acked.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram

from alerting import store
from alerting.model import Alert, AlertState, Change, Severity
from alerting.rules import AbsenceRule, EventRule, RuleSet, ThresholdRule
from devices.model import Decoded, DeviceEvent, DeviceStatus, Reading, Rejection
from devices.ports import BatchSink, Clock
from devices.registry import Registry

log = logging.getLogger("carewatch.alerting.engine")

Key = tuple[str, str, str]  # (rule, site, device)


@dataclass(slots=True)
class Incoming:
    decoded: Decoded
    ack: Callable[[], None] | None = None


@dataclass(slots=True)
class Command:
    action: Literal["ack", "resolve"]
    alert_id: int
    by: str
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    error: Literal["not_found", "closed", "internal"] | None
    alert: Alert | None


@dataclass(slots=True)
class BatchResult:
    changes: list[Change] = field(default_factory=list)
    results: dict[int, CommandResult] = field(default_factory=dict)  # index in batch -> result
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0


@dataclass(slots=True)
class _Pending:
    since_ms: int
    due_ms: int
    value: str


class Engine:
    def __init__(
        self,
        conn: sqlite3.Connection,
        registry: Registry,
        rules: RuleSet,
        clock: Clock,
        sinks: Sequence[BatchSink],
        metrics: CollectorRegistry,
    ) -> None:
        self._conn = conn
        self._registry = registry
        self._rules = rules
        self._clock = clock
        self._sinks = sinks
        self._open: dict[Key, Alert] = {}
        self._by_id: dict[int, Alert] = {}
        self._pending: dict[Key, _Pending] = {}
        self._seen: dict[tuple[str, str], int] = {}
        self._result = BatchResult()
        self._m_messages = Counter(
            "carewatch_messages",
            "Messages by outcome and reason",
            ["outcome", "reason"],
            registry=metrics,
        )
        self._m_raised = Counter(
            "carewatch_alerts_raised", "Alerts raised", ["rule", "severity"], registry=metrics
        )
        self._m_latency = Histogram(
            "carewatch_ingest_commit_seconds",
            "From MQTT receipt to commit",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=metrics,
        )

    # --- setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        store.create_schema(conn)
        for sink in self._sinks:
            sink.create_schema(conn)
        now = self._clock.now_ms()
        # every registered device is supervised from the start, silent ones included
        conn.executemany(
            "INSERT OR IGNORE INTO device_state(site, device_id, last_seen_ms, online, due_ms)"
            " VALUES (?, ?, NULL, NULL, ?)",
            [(d.site, d.id, now + d.type.supervision_s * 1000) for d in self._registry.devices()],
        )
        conn.execute("COMMIT")
        self._reload()

    def _reload(self) -> None:
        self._open = {(a.rule, a.site, a.device_id): a for a in store.load_open(self._conn)}
        self._by_id = {a.id: a for a in self._open.values()}
        self._pending = {
            (r, s, d): _Pending(since, due, v or "")
            for r, s, d, since, due, v in self._conn.execute(
                "SELECT rule, site, device_id, since_ms, due_ms, value FROM pending"
            )
        }
        self._seen = {}

    def open_alerts(self) -> list[Alert]:
        return [a.snapshot() for a in self._open.values()]

    def next_due_ms(self) -> int | None:
        row = self._conn.execute("SELECT min(due_ms) FROM device_state").fetchone()
        dues = [p.due_ms for p in self._pending.values()]
        if row[0] is not None:
            dues.append(row[0])
        return min(dues) if dues else None

    # --- the batch ---------------------------------------------------------------------

    def process(self, batch: Sequence[Incoming | Command]) -> BatchResult:
        """One transaction: all messages and commands of the batch plus due deadlines."""
        self._result = result = BatchResult()
        now = self._clock.now_ms()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            accepted: list[Decoded] = []
            for i, item in enumerate(batch):
                if isinstance(item, Command):
                    result.results[i] = self._command(item, now)
                    continue
                d = item.decoded
                if isinstance(d, Rejection):
                    accepted.append(d)
                    result.rejected += 1
                    continue
                if isinstance(d, DeviceEvent) and not self._first_time(d):
                    result.duplicates += 1
                    continue
                accepted.append(d)
                result.accepted += 1
                self._evaluate(d, now)
            self._serve_due(now)
            for sink in self._sinks:
                sink.write(conn, accepted)
            self._flush_seen()
            conn.execute("COMMIT")
        except BaseException:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite may already have rolled back (disk full, I/O error)
            finally:
                self._reload()  # the cache may hold changes that never committed
            raise
        self._count(batch, now)
        return result

    def _count(self, batch: Sequence[Incoming | Command], now: int) -> None:
        r = self._result
        for c in r.changes:
            if c.action == "raise":
                self._m_raised.labels(c.alert.rule, c.alert.severity.value).inc()
        if r.accepted:
            self._m_messages.labels("accepted", "").inc(r.accepted)
        if r.duplicates:
            self._m_messages.labels("duplicate", "").inc(r.duplicates)
        for item in batch:
            if isinstance(item, Incoming):
                d = item.decoded
                if isinstance(d, Rejection):
                    self._m_messages.labels("rejected", d.reason).inc()
                self._m_latency.observe(max(0, now - d.received_ms) / 1000)

    def _first_time(self, e: DeviceEvent) -> bool:
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO event_log(site, device_id, key, ts_ms, event, received_ms)"
            " VALUES (?,?,?,?,?,?)",
            (e.site, e.device_id, e.key, e.ts_ms, e.event, e.received_ms),
        )
        return cur.rowcount == 1

    # --- rules -------------------------------------------------------------------------

    def _evaluate(self, d: Reading | DeviceEvent | DeviceStatus, now: int) -> None:
        dev = (d.site, d.device_id)
        absence = self._rules.absence.get(d.device_type)
        if isinstance(d, DeviceStatus) and not d.online:
            self._seen.pop(dev, None)
            self._conn.execute(
                "UPDATE device_state SET online = 0, due_ms = NULL WHERE site=? AND device_id=?",
                dev,
            )
            if absence:
                self._raise(
                    absence,
                    d.site,
                    d.device_id,
                    now,
                    "last will: offline",
                    self._offline_severity(absence, d.site, d.device_id),
                )
            return
        self._seen[dev] = now
        if absence:
            self._condition_gone(absence, d.site, d.device_id, now)
        if isinstance(d, DeviceEvent):
            for rule in self._rules.on_event.get((d.device_type, d.event), ()):
                self._raise(rule, d.site, d.device_id, now, d.event, rule.severity, repeat=True)
            for rule in self._rules.on_clear_event.get((d.device_type, d.event), ()):
                if rule.clear_resets:
                    self._reset_at_origin(rule, d.site, d.device_id, now)
                else:
                    self._condition_gone(rule, d.site, d.device_id, now)
        elif isinstance(d, Reading):
            for t in self._rules.thresholds.get(d.device_type, ()):
                value = d.fields.get(t.field)
                if isinstance(value, float):
                    self._threshold(t, d.site, d.device_id, value, now)

    def _offline_severity(self, rule: AbsenceRule, site: str, device_id: str) -> Severity:
        dev = self._registry.get(site, device_id)
        return rule.fire_safety_severity if dev and dev.type.fire_safety else rule.severity

    def _threshold(self, rule: ThresholdRule, site: str, device: str, v: float, now: int) -> None:
        key = (rule.name, site, device)
        text = f"{rule.field}={v:g}"
        if rule.breached(v):
            alert = self._open.get(key)
            if alert and alert.state in (AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK):
                alert.value = text  # still breached: keep the latest value, no new occurrence
                alert.last_at = now
                store.update(self._conn, alert)
                return
            if rule.for_s == 0:
                self._raise(rule, site, device, now, text, rule.severity)
                return
            pending = self._pending.get(key)
            if pending is None:
                due = now + int(rule.for_s * 1000)
                self._pending[key] = _Pending(now, due, text)
                self._conn.execute(
                    "INSERT INTO pending(rule, site, device_id, since_ms, due_ms, value)"
                    " VALUES (?,?,?,?,?,?)",
                    (*key, now, due, text),
                )
            else:
                pending.value = text
                if pending.due_ms <= now:
                    self._fire_pending(key, rule, now)
            return
        if key in self._pending:
            del self._pending[key]
            self._conn.execute("DELETE FROM pending WHERE rule=? AND site=? AND device_id=?", key)
        if rule.cleared(v):
            self._condition_gone(rule, site, device, now)

    def _fire_pending(self, key: Key, rule: ThresholdRule, now: int) -> None:
        pending = self._pending.pop(key)
        self._conn.execute("DELETE FROM pending WHERE rule=? AND site=? AND device_id=?", key)
        self._raise(rule, key[1], key[2], now, pending.value, rule.severity)

    def _serve_due(self, now: int) -> None:
        for key in [k for k, p in self._pending.items() if p.due_ms <= now]:
            rule = self._rules.rules.get(key[0])
            if isinstance(rule, ThresholdRule):
                self._fire_pending(key, rule, now)
            else:  # rule removed from the rule set: drop its deadline
                del self._pending[key]
                self._conn.execute(
                    "DELETE FROM pending WHERE rule=? AND site=? AND device_id=?", key
                )
        due = self._conn.execute(
            "SELECT site, device_id FROM device_state WHERE due_ms <= ? LIMIT 5000", (now,)
        ).fetchall()
        for site, device_id in due:
            self._conn.execute(
                "UPDATE device_state SET due_ms = NULL WHERE site=? AND device_id=?",
                (site, device_id),
            )
            dev = self._registry.get(site, device_id)
            rule = self._rules.absence.get(dev.type.name) if dev else None
            if dev is None or rule is None:
                continue
            self._raise(
                rule,
                site,
                device_id,
                now,
                f"silent > {dev.type.supervision_s} s",
                self._offline_severity(rule, site, device_id),
            )

    def _flush_seen(self) -> None:
        if not self._seen:
            return
        rows = []
        for (site, device_id), at in self._seen.items():
            dev = self._registry.get(site, device_id)
            if dev is not None:
                rows.append((site, device_id, at, at + dev.type.supervision_s * 1000))
        self._conn.executemany(
            "INSERT INTO device_state(site, device_id, last_seen_ms, online, due_ms)"
            " VALUES (?,?,?,1,?) ON CONFLICT(site, device_id) DO UPDATE SET"
            " last_seen_ms = excluded.last_seen_ms, online = 1, due_ms = excluded.due_ms",
            rows,
        )
        self._seen = {}

    # --- lifecycle ---------------------------------------------------------------------

    def _emit(
        self,
        action: str,
        alert: Alert,
        before: AlertState | None,
        now: int,
        by: str | None = None,
        note: str | None = None,
    ) -> None:
        store.audit(
            self._conn,
            alert.id,
            now,
            action,
            before.value if before else None,
            alert.state.value,
            by,
            note,
        )
        self._result.changes.append(Change(action, alert.snapshot(), now, by, note))
        if alert.state is AlertState.CLOSED:
            self._open.pop((alert.rule, alert.site, alert.device_id), None)
            self._by_id.pop(alert.id, None)

    def _raise(
        self,
        rule: EventRule | ThresholdRule | AbsenceRule,
        site: str,
        device: str,
        now: int,
        value: str,
        severity: Severity,
        repeat: bool = False,
    ) -> None:
        key = (rule.name, site, device)
        alert = self._open.get(key)
        if alert is None:
            latched = isinstance(rule, EventRule | ThresholdRule) and rule.latched
            alert = Alert(
                id=0,
                site=site,
                device_id=device,
                rule=rule.name,
                severity=severity,
                state=AlertState.ACTIVE_UNACK,
                latched=latched,
                raised_at=now,
                last_at=now,
                occurrences=1,
                value=value,
            )
            alert.id = store.insert(self._conn, alert)
            self._open[key] = alert
            self._by_id[alert.id] = alert
            self._emit("raise", alert, None, now)
            return
        active = alert.state in (AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK)
        if active and not repeat:
            return  # a continuing condition is not a new occurrence
        before = alert.state
        alert.occurrences += 1
        alert.last_at = now
        alert.value = value
        alert.condition_cleared_at = None
        alert.state = AlertState.ACTIVE_UNACK
        store.update(self._conn, alert)
        self._emit("repeat", alert, before, now)

    def _condition_gone(
        self, rule: EventRule | ThresholdRule | AbsenceRule, site: str, device: str, now: int
    ) -> None:
        alert = self._open.get((rule.name, site, device))
        if alert is None or alert.state not in (AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK):
            return
        before = alert.state
        alert.condition_cleared_at = now
        if alert.latched:
            store.update(self._conn, alert)  # latched: stays until a person resets it
            self._emit("condition_cleared", alert, before, now)
            return
        alert.cleared_at = now
        alert.state = (
            AlertState.CLOSED if before is AlertState.ACTIVE_ACK else AlertState.CLEARED_UNACK
        )
        store.update(self._conn, alert)
        self._emit("clear", alert, before, now)

    def _reset_at_origin(self, rule: EventRule, site: str, device: str, now: int) -> None:
        alert = self._open.get((rule.name, site, device))
        if alert is None:
            return
        before = alert.state
        by = f"device:{device}"
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
            alert.acknowledged_by = by
        alert.condition_cleared_at = alert.cleared_at = now
        alert.state = AlertState.CLOSED
        alert.closed_by = by
        store.update(self._conn, alert)
        self._emit("reset", alert, before, now, by)

    def _command(self, cmd: Command, now: int) -> CommandResult:
        alert = self._by_id.get(cmd.alert_id)
        if alert is None:
            row = self._conn.execute(
                "SELECT 1 FROM alerts WHERE id = ?", (cmd.alert_id,)
            ).fetchone()
            if row is None:
                return CommandResult(False, "not_found", None)
            return CommandResult(False, "closed", None)
        before = alert.state
        if cmd.action == "ack":
            if before is AlertState.ACTIVE_ACK:
                return CommandResult(True, None, alert.snapshot())
            alert.acknowledged_at = now
            alert.acknowledged_by = cmd.by
            alert.note = cmd.note or alert.note
            alert.state = (
                AlertState.CLOSED if before is AlertState.CLEARED_UNACK else AlertState.ACTIVE_ACK
            )
            if alert.state is AlertState.CLOSED:
                alert.closed_by = cmd.by
        else:
            if alert.acknowledged_at is None:
                alert.acknowledged_at = now
                alert.acknowledged_by = cmd.by
            if alert.cleared_at is None:
                alert.cleared_at = now
            alert.note = cmd.note or alert.note
            alert.closed_by = cmd.by
            alert.state = AlertState.CLOSED
        store.update(self._conn, alert)
        self._emit(cmd.action, alert, before, now, cmd.by, cmd.note)
        if alert.state is AlertState.CLOSED:
            self._rearm_supervision(alert, now)
        return CommandResult(True, None, alert.snapshot())

    def _rearm_supervision(self, alert: Alert, now: int) -> None:
        """A closed offline alert for a still-silent device must be able to fire again."""
        dev = self._registry.get(alert.site, alert.device_id)
        if dev is None or not isinstance(self._rules.rules.get(alert.rule), AbsenceRule):
            return
        self._conn.execute(
            "UPDATE device_state SET due_ms = ? WHERE site = ? AND device_id = ?"
            " AND due_ms IS NULL",
            (now + dev.type.supervision_s * 1000, alert.site, alert.device_id),
        )
