"""The rule engine: every alert state change happens here, one transaction per batch.

Messages, health observations, timer deadlines and operator commands are processed in
queue order by one thread (see runner.py). A batch's alert changes, de-duplication rows,
deadlines and the batch sinks' rows (spool, dead letters; the spool also stores the batch's
alert transitions for the time-series store) commit together; only then are messages
acked. The lifecycle of an alert is in lifecycle.py; this module decides what the rules
say about each message and serves the deadlines.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram

from alerting import outbox, store
from alerting.correlate import Signals
from alerting.deadlines import OFF, ON, OOS, SHELVE, Deadline, Deadlines
from alerting.firepolicy import FIRE, FirePolicy
from alerting.items import (
    MAX_MAINTENANCE_S,
    MAX_SHELVE_S,
    BatchResult,
    Command,
    CommandResult,
    DeviceCommand,
    Health,
    Incoming,
    Item,
    StoreWrite,
)
from alerting.lifecycle import CALM, Lifecycle, Where
from alerting.model import Alert, AlertState, Change
from alerting.outbox import Outbox
from alerting.rules import (
    AbsenceRule,
    AnyRule,
    EventRule,
    LevelRule,
    RateRule,
    ThresholdRule,
    TimeWindowRule,
)
from alerting.ruleset import RuleSet
from alerting.supervision import Supervision
from alerting.views import AlertView
from devices.model import (
    AlertTransition,
    Decoded,
    DeviceEvent,
    DeviceStatus,
    Reading,
    Rejection,
    Scalar,
)
from devices.ports import BatchItem, BatchSink, Clock
from devices.registry import Device, Registry

log = logging.getLogger("carewatch.alerting.engine")

# notifications, not changes of the alert: not stored as alert transitions
NOT_TRANSITIONS = frozenset({"escalate", "renotify"})


_WRITTEN = CommandResult(True, None, None)


def _fmt(v: Scalar) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _transitions(changes: Sequence[Change]) -> list[AlertTransition]:
    """The batch's alert changes as neutral data for the sinks (the time-series store)."""
    out = []
    for c in changes:
        if c.action in NOT_TRANSITIONS:
            continue
        a = c.alert
        out.append(
            AlertTransition(
                site=a.site,
                device_id=a.device_id,
                alert_id=a.id,
                rule=a.rule,
                severity=a.severity.value,
                priority=a.priority,
                action=c.action,
                state=a.state.value,
                floor=a.floor,
                room=a.room,
                occurrences=a.occurrences,
                value=a.value,
                at_ms=c.at,
            )
        )
    return out


class Engine:
    def __init__(
        self,
        conn: sqlite3.Connection,
        registry: Registry,
        rules: RuleSet,
        clock: Clock,
        sinks: Sequence[BatchSink],
        metrics: CollectorRegistry,
        skip_stale: bool = False,
    ) -> None:
        self._conn = conn
        self._registry = registry
        self._rules = rules
        self._clock = clock
        self._sinks = sinks
        self._site = registry.site.id
        self._deadlines = Deadlines(conn)
        self._life = Lifecycle(conn, rules, self._deadlines)
        self._signals = Signals(conn, rules)
        self._life.on_occurrence = self._on_occurrence
        self._fire = FirePolicy(rules, self._deadlines, self._life)
        self._outbox = Outbox(conn, rules, AlertView(registry, rules))
        self._life.rule_of = self._rule_of
        self._watch = Supervision(conn, registry, rules, self._deadlines)
        # in memory only: a restart starts these windows afresh (docs/rules.md)
        self._samples: dict[tuple[str, str, str], deque[tuple[int, float]]] = {}
        self._counters: dict[tuple[str, str, str], float] = {}
        # ingest workers (docs/scaling.md): the newest (ts, seq) evaluated per device
        self._newest: dict[tuple[str, str], tuple[int, int]] | None = {} if skip_stale else None
        self._depth = 0
        self._result = BatchResult()
        self._m_messages = Counter(
            "carewatch_messages",
            "Messages by outcome and reason",
            ["outcome", "reason"],
            registry=metrics,
        )
        self._m_stale = Counter(
            "carewatch_stale_readings",
            "Readings stored but not evaluated: older than one the rules already saw",
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
        outbox.create_schema(conn)
        for sink in self._sinks:
            sink.create_schema(conn)
        self._watch.setup(self._clock.now_ms())
        conn.execute("COMMIT")
        self._reload()

    def _reload(self) -> None:
        now = self._clock.now_ms()
        self._deadlines.load()
        self._life.load(now)
        self._signals.load(now)
        self._outbox.load()
        self._watch.load()

    def open_alerts(self) -> list[Alert]:
        return [a.snapshot() for a in self._life.open.values()]

    def in_maintenance(self) -> dict[tuple[str, str], int]:
        return self._watch.maintenance()

    def next_due_ms(self) -> int | None:
        dues = [x for x in (self._watch.next_due(), self._deadlines.next_due()) if x is not None]
        return min(dues) if dues else None

    # --- the batch ---------------------------------------------------------------------

    def process(self, batch: Sequence[Item]) -> BatchResult:
        """One transaction: all items of the batch plus the deadlines due by now."""
        self._result = result = BatchResult()
        self._life.changes = result.changes
        now = self._clock.now_ms()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            accepted: list[Decoded] = []
            for i, item in enumerate(batch):
                if isinstance(item, Command):
                    result.results[i] = self._command(item, now)
                elif isinstance(item, DeviceCommand):
                    result.results[i] = self._device_command(item, now)
                elif isinstance(item, Health):
                    self._health(item, now)
                elif isinstance(item, StoreWrite):
                    item.apply(conn)
                    result.results[i] = _WRITTEN
                else:
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
            self._fire.observe(result.changes, 0, now)
            self._outbox.route(result.changes, now)
            items: list[BatchItem] = [*accepted, *_transitions(result.changes)]
            for sink in self._sinks:
                sink.write(conn, items)
            self._watch.flush()
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

    def _count(self, batch: Sequence[Item], now: int) -> None:
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

    # --- what the rules say about a message ------------------------------------------------

    def _evaluate(self, d: Reading | DeviceEvent | DeviceStatus, now: int) -> None:
        dev = self._registry.get(d.site, d.device_id)
        if dev is None:
            return
        rs = self._rules.for_device(dev)
        key = (d.site, d.device_id)
        out_of_service = self._watch.in_maintenance(key)
        if isinstance(d, DeviceStatus) and not d.online:
            self._watch.went_offline(key)
            if rs.absence and not out_of_service:
                self._raise(rs.absence, dev.site, dev.id, now, "last will: offline", dev)
            return
        self._watch.heard(key, now)
        if rs.absence:
            self._life.condition_gone(rs.absence.name, dev.site, dev.id, now)
        if out_of_service:
            return  # maintenance: stored, supervised on return, but raises nothing
        if isinstance(d, DeviceEvent):
            for rule in rs.on_event.get(d.event, ()):
                if rule.for_s > 0:
                    self._level(
                        rule, dev.site, dev.id, True, False, d.event, now, rule.for_s, 0, dev
                    )
                else:
                    self._raise(rule, dev.site, dev.id, now, d.event, dev, repeat=True)
            for rule in rs.on_clear.get(d.event, ()):
                self._deadlines.cancel((ON, rule.name, dev.site, dev.id))
                if rule.clear_resets:
                    self._life.reset_at_origin(rule.name, dev.site, dev.id, now)
                else:
                    self._life.condition_gone(rule.name, dev.site, dev.id, now)
        elif isinstance(d, Reading):
            if self._newest is not None:  # stored, but older than what the rules saw
                order = (d.ts_ms, -1 if d.seq is None else d.seq)
                if order < self._newest.get(key, order):
                    self._m_stale.inc()
                    return
                self._newest[key] = order
            for level in rs.levels:
                self._reading(level, dev, d, now)
            for level in rs.levels:  # counters remembered after every rule has seen them
                if isinstance(level, ThresholdRule) and level.inactive_field:
                    v = d.fields.get(level.inactive_field)
                    if isinstance(v, float):
                        self._counters[(dev.site, dev.id, level.inactive_field)] = v

    def _reading(
        self, rule: ThresholdRule | RateRule | TimeWindowRule, dev: Device, d: Reading, now: int
    ) -> None:
        v = d.fields.get(rule.field)
        if v is None:
            return
        if isinstance(rule, ThresholdRule):
            breached = rule.breached(v) and not self._moved(rule, dev, d)
            cleared = rule.cleared(v)
            key = (rule.name, dev.site, dev.id)
            if cleared and not breached and not self._life.is_clearable(key):
                # the usual reading: normal, nothing open; only a pending on-delay to drop
                self._deadlines.cancel((ON, *key))
                return
            text = f"{rule.field}={_fmt(v)}" if breached else ""  # shown only when raised
            self._level(
                rule,
                dev.site,
                dev.id,
                breached,
                cleared,
                text,
                now,
                rule.for_s,
                rule.clear_for_s,
                dev,
            )
        elif isinstance(rule, RateRule):
            if not isinstance(v, float):
                return
            rate = self._rate(rule, dev, d.ts_ms, v)
            if rate is None:
                return
            breached = (
                rate <= -rule.per_min if rule.direction == "falling" else rate >= rule.per_min
            )
            text = f"{rule.field} {rate:+.3g}/min"
            self._level(
                rule, dev.site, dev.id, breached, not breached, text, now, 0, rule.clear_for_s, dev
            )
        else:
            allowed = {a.replace("{room}", dev.room) for a in rule.allowed}
            inside = str(v) in allowed
            local = datetime.fromtimestamp(now / 1000, self._rules.tz).time()
            breached = not inside and rule.contains(local)
            text = f"{rule.field}={_fmt(v)}"
            self._level(rule, dev.site, dev.id, breached, inside, text, now, rule.for_s, 0, dev)

    def _moved(self, rule: ThresholdRule, dev: Device, d: Reading) -> bool:
        """The inactivity counter (e.g. steps) rose since the device's previous reading."""
        if rule.inactive_field is None:
            return False
        cur = d.fields.get(rule.inactive_field)
        prev = self._counters.get((dev.site, dev.id, rule.inactive_field))
        return isinstance(cur, float) and prev is not None and cur > prev

    def _rate(self, rule: RateRule, dev: Device, ts: int, v: float) -> float | None:
        """Units per minute over the rule's window, once it spans at least min_span_s."""
        samples = self._samples.setdefault((rule.name, dev.site, dev.id), deque())
        if samples and ts <= samples[-1][0]:
            return None  # out of order or repeated: no slope from it
        samples.append((ts, v))
        horizon = ts - int(rule.window_s * 1000)
        while samples and samples[0][0] < horizon:
            samples.popleft()
        t0, v0 = samples[0]
        span = ts - t0
        if span < rule.min_span_s * 1000:
            return None
        return (v - v0) / (span / 60_000)

    def _level(
        self,
        rule: LevelRule | EventRule,
        site: str,
        subject: str,
        breached: bool,
        cleared: bool,
        text: str,
        now: int,
        for_s: float,
        clear_for_s: float,
        dev: Device | None,
    ) -> None:
        """A condition that holds for a while: on-delay to raise, hysteresis or off-delay
        to clear. Both delays are deadlines, so they survive a restart."""
        key = (rule.name, site, subject)
        if breached:
            if self._life.update_value(key, text, now):
                return
            if for_s <= 0:
                self._raise(rule, site, subject, now, text, dev)
                return
            pending = self._deadlines.get((ON, *key))
            if pending is None:
                due = now + int(for_s * 1000)
                self._deadlines.set(Deadline(ON, rule.name, site, subject, due, now, text))
            else:
                pending.value = text
            return
        self._deadlines.cancel((ON, *key))
        if not cleared:  # inside the hysteresis band: not normal, the off-delay starts over
            off = self._deadlines.get((OFF, *key))
            if off is not None and off.value != CALM:
                self._deadlines.cancel((OFF, *key))
            return
        if self._life.is_clearable(key):
            if clear_for_s <= 0:
                self._life.condition_gone(rule.name, site, subject, now)
            elif self._deadlines.get((OFF, *key)) is None:
                due = now + int(clear_for_s * 1000)
                self._deadlines.set(Deadline(OFF, rule.name, site, subject, due, now, "off"))

    def _health(self, h: Health, now: int) -> None:
        rule = self._rules.system.get(h.component)
        if rule is None:
            return
        text = h.detail or h.component
        self._level(
            rule,
            self._site,
            f"system:{h.component}",
            not h.ok,
            h.ok,
            text,
            now,
            rule.for_s,
            0,
            None,
        )

    # --- raising ---------------------------------------------------------------------------

    def _where(self, rule: AnyRule, dev: Device | None, subject: str) -> Where:
        if dev is None:
            return Where(None, None, "system" if subject.startswith("system:") else subject)
        group = rule.group or ("floor" if dev.type.fire_safety else "room")
        key = f"floor:{dev.floor}" if group == "floor" else f"room:{dev.room}"
        return Where(dev.floor, dev.room, key)

    def _raise(
        self,
        rule: AnyRule,
        site: str,
        subject: str,
        now: int,
        value: str,
        dev: Device | None,
        where: Where | None = None,
        repeat: bool = False,
    ) -> None:
        severity = rule.severity_for(dev is not None and dev.type.fire_safety)
        self._life.raise_(
            rule,
            site,
            subject,
            now,
            value,
            severity,
            where or self._where(rule, dev, subject),
            repeat,
        )

    def _rule_of(self, alert: Alert) -> AnyRule | None:
        """The rule as it applies to the alert's device; site-wide for system alerts and
        correlations (their subject is no device)."""
        dev = self._registry.get(alert.site, alert.device_id)
        if dev is None:
            return self._rules.rules.get(alert.rule)
        return self._rules.rule(alert.rule, dev)

    def _on_occurrence(self, alert: Alert, now: int) -> None:
        if self._depth > 4:  # a rule set whose correlations feed each other in a loop
            return
        self._depth += 1
        try:
            for hit in self._signals.record(alert, now):
                group = alert.group_key if hit.subject == alert.device_id else hit.subject
                where = Where(hit.floor, hit.room, group)
                self._raise(hit.rule, alert.site, hit.subject, now, hit.value, None, where)
        finally:
            self._depth -= 1

    # --- deadlines -------------------------------------------------------------------------

    def _serve_due(self, now: int) -> None:
        self._serve_supervision(now)
        while (d := self._deadlines.pop_due(now)) is not None:
            if d.kind == ON:
                self._fire_on(d, now)
            elif d.kind == OFF:
                self._life.condition_gone(d.rule, d.site, d.subject, now, held=d.value == CALM)
            elif d.kind == SHELVE:
                alert = self._life.by_id.get(int(d.subject))
                if alert is not None:
                    self._life.unshelve(alert, now, "system:shelving_expired")
            elif d.kind == FIRE:
                self._fire.due(d, now)
            elif d.kind == OOS:
                self._watch.end_maintenance(
                    d.site, d.subject, now, "system:maintenance_expired", None, d.due_ms
                )
                if d.due_ms < now:  # re-armed from a past expiry: may be due already
                    self._serve_supervision(now)
            else:
                self._life.escalate(d, now)

    def _serve_supervision(self, now: int) -> None:
        for silent in self._watch.due(now):
            dev = silent.device
            value = f"silent > {silent.silent_s} s"
            self._raise(silent.rule, dev.site, dev.id, now, value, dev)

    def _fire_on(self, d: Deadline, now: int) -> None:
        dev = self._registry.get(d.site, d.subject)
        if dev is not None and self._watch.in_maintenance((d.site, d.subject)):
            return
        if dev is None and not d.subject.startswith("system:"):
            return  # the device left the registry
        rule = self._rules.rule(d.rule, dev)
        if rule is None:
            return  # rule removed or disabled since
        self._raise(rule, d.site, d.subject, now, d.value, dev)

    # --- operators -------------------------------------------------------------------------

    def _command(self, cmd: Command, now: int) -> CommandResult:
        alert = self._life.by_id.get(cmd.alert_id)
        if alert is None:
            row = self._conn.execute(
                "SELECT 1 FROM alerts WHERE id = ?", (cmd.alert_id,)
            ).fetchone()
            return CommandResult(False, "not_found" if row is None else "closed", None)
        if cmd.action == "ack":
            self._life.ack(alert, now, cmd.by, cmd.note)
        elif cmd.action == "resolve":
            self._life.resolve(alert, now, cmd.by, cmd.note)
        elif cmd.action == "confirm":
            if not self._fire.confirm(alert, now, cmd.by, cmd.note):
                return CommandResult(False, "not_fire", alert.snapshot())
        elif cmd.action == "dismiss":
            if not self._fire.dismiss(alert, now, cmd.by, cmd.note or "false alarm"):
                return CommandResult(False, "not_fire", alert.snapshot())
        elif cmd.action == "shelve":
            if alert.latched:  # life-safety alarms cannot be hidden
                return CommandResult(False, "not_shelvable", alert.snapshot())
            seconds = min(max(cmd.duration_s or 3600, 60), MAX_SHELVE_S)
            self._life.shelve(alert, now, now + int(seconds * 1000), cmd.by, cmd.note)
        else:
            if alert.state is not AlertState.SHELVED:
                return CommandResult(False, "not_shelved", alert.snapshot())
            self._life.unshelve(alert, now, cmd.by, cmd.note)
        if alert.state is AlertState.CLOSED:
            self._rearm_supervision(alert, now)
        return CommandResult(True, None, alert.snapshot())

    def _rearm_supervision(self, alert: Alert, now: int) -> None:
        """A closed offline alert for a still-silent device must be able to fire again."""
        dev = self._registry.get(alert.site, alert.device_id)
        if dev is None or not isinstance(self._rules.rule(alert.rule, dev), AbsenceRule):
            return
        self._watch.rearm(dev, now)

    def _device_command(self, cmd: DeviceCommand, now: int) -> CommandResult:
        dev = self._registry.by_id(cmd.device_id)
        if dev is None:
            return CommandResult(False, "unknown_device", None)
        if cmd.action == "maintenance_end":
            if not self._watch.in_maintenance((dev.site, dev.id)):
                return CommandResult(False, "not_in_maintenance", None)
            self._watch.end_maintenance(dev.site, dev.id, now, cmd.by, cmd.note)
            return CommandResult(True, None, None)
        seconds = min(max(cmd.duration_s or 3600, 60), MAX_MAINTENANCE_S)
        self._watch.start_maintenance(dev, now, now + int(seconds * 1000), cmd.by, cmd.note)
        return CommandResult(True, None, None)
