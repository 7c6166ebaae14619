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
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter

from alerting import outbox, points, store
from alerting.batchmetrics import BatchHistogram
from alerting.commands import Commands
from alerting.conditions import Conditions
from alerting.contacts import ContactBook
from alerting.correlate import Signals
from alerting.deadlines import OFF, ON, OOS, SHELVE, Deadline, Deadlines
from alerting.firepolicy import FIRE, FirePolicy
from alerting.items import (
    BatchResult,
    Command,
    CommandResult,
    DeviceCommand,
    Health,
    Incoming,
    Item,
    Observed,
    StoreWrite,
)
from alerting.lifecycle import CALM, Lifecycle, Where
from alerting.model import Alert, transitions
from alerting.outbox import Outbox
from alerting.rulebook import Rulebook
from alerting.rules import (
    AnyRule,
    ObservedRule,
)
from alerting.ruleset import RuleSet
from alerting.supervision import Supervision
from alerting.views import AlertView
from alerting.welfare import WELFARE, Welfare
from devices.model import (
    BridgeDevices,
    BridgeState,
    Decoded,
    DeviceEvent,
    DeviceStatus,
    Reading,
    Rejection,
)
from devices.ports import BatchItem, BatchSink, Clock
from devices.registry import Device, Registry
from devices.siteconfig import SYSTEM_SITE

log = logging.getLogger("carewatch.alerting.engine")

_WRITTEN = CommandResult(True, None, None)


class Engine:
    """The one place alert state changes: what the rules say about each message, timer
    deadlines served when due, operators' commands, all in one transaction per batch.

    Owned by one thread (alerting/runner.py), so alert state has a single writer and needs
    no locks. `process` commits the batch's alert rows, audit, deadlines, outbox rows and
    the sinks' rows (spool, dead letters) together; only after that commit may the runner
    ack the batch's messages, which is why nothing acked is ever lost.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        registry: Registry,
        rules: RuleSet | Rulebook,
        clock: Clock,
        sinks: Sequence[BatchSink],
        metrics: CollectorRegistry,
        skip_stale: bool = False,
    ) -> None:
        self._conn = conn
        self._registry = registry
        self._rules = Rulebook.of_one(rules)
        self._clock = clock
        self._sinks = sinks
        self._deadlines = Deadlines(conn)
        self._life = Lifecycle(conn, rules, self._deadlines)
        self._signals = Signals(conn, rules)
        self._life.on_occurrence = self._on_occurrence
        self._fire = FirePolicy(rules, self._deadlines, self._life)
        contacts = ContactBook(registry, self._rules)  # steps naming family, community...
        self._life.reach = contacts.reach
        self._outbox = Outbox(conn, rules, AlertView(registry, rules), contacts.reach)
        self._life.rule_of = self._rule_of
        self._watch = Supervision(conn, registry, rules, self._deadlines)
        self._cond = Conditions(self._life, self._deadlines, self._rules.tz, self._raise)
        self._commands = Commands(conn, registry, rules, self._life, self._fire, self._watch)
        self._welfare = Welfare(
            registry, self._rules, self._deadlines, self._observed, self._life.is_clearable
        )
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
        self._m_latency = BatchHistogram(
            "carewatch_ingest_commit_seconds",
            "From MQTT receipt to commit",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            metrics,
        )

    # --- setup ---------------------------------------------------------------------------

    def setup(self) -> None:
        """Create or migrate the schema, then load the open alerts, deadlines and windows
        from the database: a restart resumes where the last commit left off."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        store.create_schema(conn)
        outbox.create_schema(conn)
        for sink in self._sinks:
            sink.create_schema(conn)
        self._watch.setup(self._clock.now_ms())
        self._deadlines.load()  # the welfare checks arm what is not armed yet
        self._life.load(self._clock.now_ms())
        self._welfare.setup(self._clock.now_ms())
        self._write_rows()
        conn.execute("COMMIT")
        self._reload()

    def _write_rows(self) -> None:
        """The rows the transaction's changes left in memory, one statement per table, right
        before every commit (devices/sqlrows.py says why statements count)."""
        self._watch.flush()
        self._life.flush()
        self._deadlines.flush()

    def _reload(self) -> None:
        now = self._clock.now_ms()
        self._deadlines.load()
        self._life.load(now)
        self._signals.load(now)
        self._outbox.load()
        self._watch.load()

    def open_alerts(self) -> list[Alert]:
        """Snapshots of every open alert (the cache the engine decides from)."""
        return [a.snapshot() for a in self._life.open.values()]

    def in_maintenance(self) -> dict[tuple[str, str], int]:
        """(site, device) -> end of maintenance in epoch ms, for the device-health view."""
        return self._watch.maintenance()

    def heard_times(self) -> dict[tuple[str, str], int]:
        """(site, device) -> when it was heard last in this process (epoch ms; the stored
        time may be older by up to a slack, alerting/supervision.py). Any thread."""
        return self._watch.heard_times()

    def next_due_ms(self) -> int | None:
        """The earliest deadline (supervision or timer), so the runner's queue wait ends
        exactly when something falls due instead of polling."""
        dues = [x for x in (self._watch.next_due(), self._deadlines.next_due()) if x is not None]
        return min(dues) if dues else None

    def shift_timers(self, step_ms: int) -> None:
        """The wall clock stepped by `step_ms` (NTP, an operator): move every timer by the
        same amount, so each still fires after the time it was armed for, neither an hour
        late after a step back nor all at once after a step forward. Timers are kept as
        wall-clock instants (readable, the same after a restart); this keeps them on the
        monotonic time that really passed. One transaction, then the caches reload."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("UPDATE deadlines SET due_ms = due_ms + ?", (step_ms,))
            self._watch.shift(step_ms)
            conn.execute(
                "UPDATE alerts SET shelved_until = shelved_until + ? WHERE state = 'shelved'"
                " AND shelved_until IS NOT NULL",
                (step_ms,),
            )
            conn.execute("UPDATE maintenance SET until_ms = until_ms + ?", (step_ms,))
            conn.execute("COMMIT")
            self._watch.shifted(step_ms)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            self._reload()

    # --- the batch ---------------------------------------------------------------------

    def process(self, batch: Sequence[Item]) -> BatchResult:
        """One transaction: all items of the batch plus the deadlines due by now.

        On any error the transaction rolls back and the cache is reloaded from the
        database, so memory never holds a change that did not commit; the caller then
        acks nothing and the broker redelivers."""
        self._result = result = BatchResult()
        self._life.changes = result.changes
        now = self._clock.now_ms()
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            accepted: list[Decoded] = []
            for i, item in enumerate(batch):
                if isinstance(item, Command):
                    result.results[i] = self._commands.alert(item, now)
                elif isinstance(item, DeviceCommand):
                    result.results[i] = self._commands.device(item, now)
                elif isinstance(item, Observed):
                    self._observed(item, now)
                    result.results[i] = _WRITTEN
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
                    if isinstance(d, BridgeState):
                        self._gateway(d, now)
                    elif not isinstance(d, BridgeDevices):  # a sink keeps those
                        self._evaluate(d, now)
            self._serve_due(now)
            self._fire.observe(result.changes, 0, now)
            self._outbox.route(result.changes, now)
            items: list[BatchItem] = [*accepted, *transitions(result.changes)]
            for sink in self._sinks:
                sink.write(conn, items)
            self._write_rows()
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
        waited = []
        for item in batch:
            if isinstance(item, Incoming):
                d = item.decoded
                if isinstance(d, Rejection):
                    self._m_messages.labels("rejected", d.reason).inc()
                waited.append(max(0, now - d.received_ms) / 1000)
        self._m_latency.observe_many(waited)

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
        # a redelivery (broker DUP flag) is an old message held over an outage of our link:
        # taking it as a sign of life now would push the device's deadline out by the outage
        if not d.redelivered:
            self._watch.heard(key, now)
            if not isinstance(d, DeviceStatus):  # a sign of life counts even from one in repair
                self._welfare.seen(dev, d, now)
            if rs.absence:
                self._life.condition_gone(rs.absence.name, dev.site, dev.id, now)
        if isinstance(d, DeviceEvent):
            # in maintenance too: a panel says a point is back once, never again
            points.clear_by_event(rs, dev, d, self._life, self._deadlines, now)
        if out_of_service:
            return  # maintenance: stored, supervised on return, but raises nothing
        if isinstance(d, DeviceEvent):
            for rule in rs.on_event.get(d.event, ()):
                if rule.for_s > 0:
                    self._cond.level(
                        rule, dev.site, dev.id, True, False, d.event, now, rule.for_s, 0, dev
                    )
                else:  # a point of a panel is its own subject, on its own floor
                    subject, where, value = points.raised(rule, dev, d, self._registry.sites)
                    self._raise(rule, dev.site, subject, now, value, dev, where, repeat=True)
        elif isinstance(d, Reading):
            if self._newest is not None:  # stored, but older than what the rules saw
                order = (d.ts_ms, -1 if d.seq is None else d.seq)
                if order < self._newest.get(key, order):
                    self._m_stale.inc()
                    return
                self._newest[key] = order
            for level in rs.levels:
                self._cond.reading(level, dev, d, now)
            self._cond.remember_counters(rs.levels, dev, d)

    def _health(self, h: Health, now: int) -> None:
        rule = self._rules.system.get(h.component)
        if rule is None:
            return
        text = h.detail or h.component
        self._cond.level(
            rule,
            SYSTEM_SITE,  # the watch's own faults belong to no one site: every screen shows them
            f"system:{h.component}",
            not h.ok,
            h.ok,
            text,
            now,
            rule.for_s,
            0,
            None,
        )

    def _observed(self, o: Observed, now: int) -> None:
        """An outside check's verdict on an `observed` rule: raise (or refresh) while it
        holds, clear when it no longer does; unknown or disabled rules do nothing."""
        rule = self._rules.of(o.site).rules.get(o.rule)
        if not isinstance(rule, ObservedRule) or not rule.enabled:
            return
        dev = self._registry.get(o.site, o.device_id)
        text = o.value or o.rule
        self._cond.level(rule, o.site, o.device_id, o.holds, not o.holds, text, now, 0, 0, dev)

    def _gateway(self, g: BridgeState, now: int) -> None:
        """A Zigbee2MQTT gateway offline (its last will) or back: every Zigbee device of
        its sites is blind meanwhile, an alert of each site (not the watch's own)."""
        for site in g.sites:
            rule = self._rules.of(site).system.get("zigbee_bridge")
            if rule is not None:
                text = f"{g.base}/bridge/state: {'online' if g.online else 'offline'}"
                subject = "system:zigbee_bridge"
                self._cond.level(
                    rule, site, subject, not g.online, g.online, text, now, rule.for_s, 0, None
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
        dev = self._registry.get(alert.site, alert.device_id)  # a point's: its panel
        if dev is None:
            return self._rules.named(alert.site, alert.rule)
        return self._rules.rule(alert.rule, dev, alert.site)

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
            elif d.kind == WELFARE:
                self._welfare.due(d, now)
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
        rule = self._rules.rule(d.rule, dev, d.site)
        if rule is None:
            return  # rule removed or disabled since
        self._raise(rule, d.site, d.subject, now, d.value, dev)
