"""The alarm lifecycle (ISA-18.2 / IEC 62682): raise, repeat, clear, latch, acknowledge,
resolve, shelve, chatter and escalate. Every transition is audited and emitted as a Change.

Runs inside the engine's transaction; the engine owns the batch and the rules.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from alerting import store
from alerting.bedside import OVERRIDE_RESET
from alerting.contacts import Reach
from alerting.deadlines import ESC, OFF, SHELVE, Deadline, Deadlines
from alerting.model import Alert, AlertState, Change, Severity
from alerting.rulebook import Rulebook
from alerting.rules import AnyRule, EscalationPolicy
from alerting.ruleset import RuleSet

Key = tuple[str, str, str]  # (rule, site, subject)
CHATTER_COUNT = 3  # ISA-18.2: 3 or more occurrences in 1 minute is chattering
CHATTER_WINDOW_MS = 60_000
CALM = "calm"  # an OFF deadline holding the clear of a chattering alert


@dataclass(frozen=True, slots=True)
class Where:
    """Where an alert belongs: its floor and room (None where it has none, as system alerts) and
    the group key that makes one incident of the open alerts sharing it."""

    floor: str | None
    room: str | None
    group_key: str


class Lifecycle:
    """Every transition of an alert: stored, audited and added to `changes` (the engine's batch).
    Holds the open alerts in memory (`open`, `by_id`); the engine reloads them after a rollback, so
    memory never holds what did not commit."""

    def __init__(
        self, conn: sqlite3.Connection, rules: RuleSet | Rulebook, deadlines: Deadlines
    ) -> None:
        self._conn = conn
        self._rules = Rulebook.of_one(rules)
        self._deadlines = deadlines
        self.open: dict[Key, Alert] = {}
        self.by_id: dict[int, Alert] = {}
        self.changes: list[Change] = []
        self._audit: list[store.AuditRow] = []  # the batch's, written by flush()
        self._recent: dict[Key, deque[int]] = {}
        # called with each new occurrence (raise or repeat): correlation and repetition
        self.on_occurrence: Callable[[Alert, int], None] | None = None
        # the rule as it applies to the alert's device (overrides included); the engine
        # knows the registry. Without it: the site-wide rule.
        self.rule_of: Callable[[Alert], AnyRule | None] | None = None
        # whom a step naming a person reaches (alerting/contacts.py); without it every
        # step is a target
        self.reach: Callable[[Alert, str, int], Reach | None] | None = None

    def load(self, now: int) -> None:
        """The open alerts and their raises of the last minute (chatter counting), from the
        database: at startup and after every rollback."""
        self._audit = []
        self.open = {(a.rule, a.site, a.device_id): a for a in store.load_open(self._conn)}
        self.by_id = {a.id: a for a in self.open.values()}
        self._recent = {}
        if not self.by_id:
            return
        rows = self._conn.execute(
            "SELECT alert_id, at FROM audit WHERE at >= ? AND action IN ('raise', 'repeat')"
            " ORDER BY id",
            (now - CHATTER_WINDOW_MS,),
        ).fetchall()
        for alert_id, at in rows:
            a = self.by_id.get(alert_id)
            if a is not None:
                self._recent.setdefault(_key(a), deque()).append(at)

    # --- emitting --------------------------------------------------------------------

    def flush(self) -> None:
        """Write the batch's audit rows (one statement); the engine calls it right before
        the commit."""
        if self._audit:
            store.audit(self._conn, self._audit)
            self._audit = []

    def emit(
        self,
        action: str,
        alert: Alert,
        before: AlertState | None,
        now: int,
        by: str | None = None,
        note: str | None = None,
        target: str | None = None,
    ) -> None:
        """Audit one transition and add it to the batch's changes; the caller has stored the alert.
        A closed alert leaves the open set, its timers cancelled."""
        self._audit.append(
            (
                alert.id,
                now,
                action,
                before.value if before else None,
                alert.state.value,
                by,
                target if note is None else note if target is None else f"{target}: {note}",
            )
        )
        self.changes.append(Change(action, alert.snapshot(), now, by, note, target))
        if alert.state is AlertState.CLOSED:
            self.open.pop(_key(alert), None)
            self.by_id.pop(alert.id, None)
            self._recent.pop(_key(alert), None)
            self._deadlines.cancel((OFF, alert.rule, alert.site, alert.device_id))
            self._stop_escalation(alert)
            self._deadlines.cancel((SHELVE, alert.rule, alert.site, str(alert.id)))

    # --- conditions --------------------------------------------------------------------

    def raise_(
        self,
        rule: AnyRule,
        site: str,
        subject: str,
        now: int,
        value: str,
        severity: Severity,
        where: Where,
        repeat: bool = False,
    ) -> None:
        """The rule's condition holds. `repeat`: each call is a new occurrence (events)."""
        key = (rule.name, site, subject)
        alert = self.open.get(key)
        if alert is None:
            alert = Alert(
                id=0,
                site=site,
                device_id=subject,
                rule=rule.name,
                severity=severity,
                state=AlertState.ACTIVE_UNACK,
                latched=rule.latched,
                raised_at=now,
                last_at=now,
                occurrences=1,
                value=value,
                priority=rule.priority,
                floor=where.floor,
                room=where.room,
                group_key=where.group_key,
            )
            alert.id = store.insert(self._conn, alert)
            self.open[key] = alert
            self.by_id[alert.id] = alert
            self.emit("raise", alert, None, now)
            self._occurred(alert, now)
            self._start_escalation(alert, now)
            return
        returned = alert.condition_cleared_at is not None  # it went away and came back
        holding = alert.active or alert.state is AlertState.SHELVED
        if holding and not repeat and not returned:
            return  # a continuing condition is not a new occurrence, shelved or not
        self._deadlines.cancel((OFF, rule.name, site, subject))
        before = alert.state
        alert.occurrences += 1
        alert.last_at = now
        alert.value = value
        alert.condition_cleared_at = None
        if before is not AlertState.SHELVED:
            alert.state = AlertState.ACTIVE_UNACK
        store.update(self._conn, alert)
        self.emit("repeat", alert, before, now)
        self._occurred(alert, now)
        if alert.state is AlertState.ACTIVE_UNACK and before is not AlertState.ACTIVE_UNACK:
            self._start_escalation(alert, now)

    def _occurred(self, alert: Alert, now: int) -> None:
        recent = self._recent.setdefault(_key(alert), deque())
        recent.append(now)
        while recent and recent[0] <= now - CHATTER_WINDOW_MS:
            recent.popleft()
        if len(recent) >= CHATTER_COUNT and not alert.chattering:
            alert.chattering = True
            store.update(self._conn, alert)
            self.emit("chattering", alert, alert.state, now, note=f"{len(recent)} in 60 s")
        if self.on_occurrence is not None:
            self.on_occurrence(alert, now)

    def update_value(self, key: Key, value: str, now: int) -> bool:
        """A continuing condition: keep the latest value. False if no active (or shelved)
        alert whose condition still holds."""
        alert = self.open.get(key)
        if alert is None or alert.condition_cleared_at is not None:
            return False
        if not (alert.active or alert.state is AlertState.SHELVED):
            return False
        self._deadlines.cancel((OFF, *key))
        if alert.value != value:
            alert.value = value
            alert.last_at = now
            store.update(self._conn, alert)
        return True

    def is_clearable(self, key: Key) -> bool:
        """True while the alert's condition still holds (active or shelved, no clear recorded), so a
        clear has something to end."""
        a = self.open.get(key)
        return (
            a is not None
            and a.condition_cleared_at is None
            and (a.active or a.state is AlertState.SHELVED)
        )

    def condition_gone(
        self, rule_name: str, site: str, subject: str, now: int, held: bool = False
    ) -> None:
        """The condition cleared. Latched alerts only record it; a chattering alert waits
        for a minute of calm first (`held` is that minute passed)."""
        alert = self.open.get((rule_name, site, subject))
        if alert is None or not (alert.active or alert.state is AlertState.SHELVED):
            return
        if alert.condition_cleared_at is not None and not held:
            return
        before = alert.state
        if alert.chattering and not held and not alert.latched:
            alert.condition_cleared_at = now
            store.update(self._conn, alert)
            self._deadlines.set(
                Deadline(OFF, rule_name, site, subject, now + CHATTER_WINDOW_MS, now, CALM)
            )
            self.emit("condition_cleared", alert, before, now, note="chattering: held 60 s")
            return
        if held:
            alert.chattering = False
        if alert.condition_cleared_at is None:
            alert.condition_cleared_at = now
        if alert.latched or before is AlertState.SHELVED:
            store.update(self._conn, alert)  # stays until a person resets / unshelves it
            self.emit("condition_cleared", alert, before, now)
            return
        alert.cleared_at = now
        if before is AlertState.ACTIVE_ACK:
            alert.state = AlertState.CLOSED
            alert.closed_by = "system:cleared"
        else:
            alert.state = AlertState.CLEARED_UNACK
            self._stop_escalation(alert)
        store.update(self._conn, alert)
        self.emit("clear", alert, before, now)

    def reset_at_origin(self, rule_name: str, site: str, subject: str, now: int) -> None:
        """Staff presence at the bedside: closes the call, latched or not."""
        alert = self.open.get((rule_name, site, subject))
        if alert is None:
            return
        before = alert.state
        by = f"device:{subject}"
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
            alert.acknowledged_by = by
        alert.condition_cleared_at = alert.cleared_at = now
        alert.state = AlertState.CLOSED
        alert.closed_by = by
        store.update(self._conn, alert)
        self.emit("reset", alert, before, now, by)

    # --- operators -----------------------------------------------------------------------

    def ack(self, alert: Alert, now: int, by: str, note: str | None) -> None:
        """An operator acknowledges: escalation stops and a cleared alert closes. An alert already
        acknowledged or shelved is left as it is."""
        before = alert.state
        if before in (AlertState.ACTIVE_ACK, AlertState.SHELVED):
            return
        alert.acknowledged_at = now
        alert.acknowledged_by = by
        alert.note = note or alert.note
        if before is AlertState.CLEARED_UNACK:
            alert.state = AlertState.CLOSED
            alert.closed_by = by
        else:
            alert.state = AlertState.ACTIVE_ACK
        self._stop_escalation(alert)
        store.update(self._conn, alert)
        self.emit("ack", alert, before, now, by, note)

    def resolve(self, alert: Alert, now: int, by: str, note: str | None) -> None:
        """A person ends the alert, whatever its state (the `resolve` action)."""
        self.close(alert, now, by, note, "resolve")

    def override_reset(self, alert: Alert, now: int, by: str, note: str | None) -> None:
        """A supervisor resets a bedside call from afar (`override_reset`, with the reason):
        closed like a resolve, so follow-ups and the MQTT topic see it end, but audited apart."""
        self.close(alert, now, by, note, OVERRIDE_RESET)

    def close(self, alert: Alert, now: int, by: str, note: str | None, action: str) -> None:
        """A person ends the alert (resolve, an override, a fire alarm dismissed as false)."""
        before = alert.state
        if alert.acknowledged_at is None:
            alert.acknowledged_at = now
            alert.acknowledged_by = by
        if alert.cleared_at is None:
            alert.cleared_at = now
        alert.note = note or alert.note
        alert.closed_by = by
        alert.state = AlertState.CLOSED
        alert.shelved_until = None
        store.update(self._conn, alert)
        self.emit(action, alert, before, now, by, note)

    def save(self, alert: Alert) -> None:
        """Store the alert's row with no audit and no change: for fields set outside the lifecycle
        (the fire policy's `forwarded_at`), whose caller emits the change."""
        store.update(self._conn, alert)

    def shelve(self, alert: Alert, now: int, until: int, by: str, note: str | None) -> None:
        """Take the alert off the screen until `until` (epoch ms): escalation stops and a deadline
        unshelves it. The caller refuses latched alerts (commands.py)."""
        before = alert.state
        alert.state = AlertState.SHELVED
        alert.shelved_until = until
        alert.note = note or alert.note
        self._stop_escalation(alert)
        self._deadlines.set(Deadline(SHELVE, alert.rule, alert.site, str(alert.id), until, now))
        store.update(self._conn, alert)
        self.emit("shelve", alert, before, now, by, note)

    def unshelve(self, alert: Alert, now: int, by: str, note: str | None = None) -> None:
        """Shelving ends: back on screen if the condition holds, otherwise closed."""
        if alert.state is not AlertState.SHELVED:
            return
        self._deadlines.cancel((SHELVE, alert.rule, alert.site, str(alert.id)))
        alert.shelved_until = None
        if alert.condition_cleared_at is not None and not alert.latched:
            alert.state = AlertState.CLOSED
            alert.cleared_at = alert.condition_cleared_at
            alert.closed_by = by
        else:
            alert.state = AlertState.ACTIVE_UNACK
            alert.acknowledged_at = alert.acknowledged_by = None
        store.update(self._conn, alert)
        self.emit("unshelve", alert, AlertState.SHELVED, now, by, note)
        if alert.state is AlertState.ACTIVE_UNACK:
            self._start_escalation(alert, now)

    # --- escalation ----------------------------------------------------------------------

    def _policy(self, alert: Alert) -> EscalationPolicy | None:
        if self.rule_of is not None:
            rule = self.rule_of(alert)
        else:
            rule = self._rules.named(alert.site, alert.rule)
        return self._rules.policy(alert.site, rule, alert.severity) if rule else None

    def _start_escalation(self, alert: Alert, now: int) -> None:
        policy = self._policy(alert)
        if policy is None:
            return
        alert.escalation_level = -1
        first = now + int(policy.steps[0].after_s * 1000)
        self._deadlines.set(Deadline(ESC, alert.rule, alert.site, str(alert.id), first, now, "0"))

    def _stop_escalation(self, alert: Alert) -> None:
        self._deadlines.cancel((ESC, alert.rule, alert.site, str(alert.id)))

    def escalate(self, d: Deadline, now: int) -> None:
        """An escalation step came due: notify its target and schedule the next. A step
        naming a person the resident does not have (or in their quiet hours, `reach`) is
        recorded as skipped (`<step>: skipped: <why>` in the audit) and the next step
        follows at once, the rest of the climb keeping its pace."""
        alert = self.by_id.get(int(d.subject))
        policy = self._policy(alert) if alert else None
        if alert is None or policy is None or alert.state is not AlertState.ACTIVE_UNACK:
            return
        n, due = int(d.value), d.due_ms
        skipped_now: set[int] = set()  # skips in a row: at most one round
        while True:
            at = policy.step_at(n)
            if at is None or at[0] in skipped_now:
                return  # a whole round reached nobody: the console has the call
            idx, repeat = at
            target = policy.steps[idx].notify
            found = self.reach(alert, target, now) if self.reach is not None else None
            skipped = found.skipped if found is not None else None
            alert.escalation_level = idx
            store.update(self._conn, alert)
            self.emit(
                "renotify" if repeat else "escalate",
                alert,
                alert.state,
                now,
                note=None if skipped is None else f"skipped: {skipped}",
                target=target,
            )
            gap = policy.gap_after(n)
            if gap is None:
                return
            n += 1
            if skipped is None:
                every = int(gap * 1000)
                nxt = due + every  # on the schedule, even if served late
                after = policy.step_at(n)
                if nxt <= now and policy.cycle_from is not None:  # late (downtime, the clock
                    nxt = now + every  # jumped): a home's climb goes on at its pace from now
                elif nxt <= now and after is not None and after[1]:  # very late: one
                    nxt += ((now - nxt) // every + 1) * every  # re-notification for all missed
                self._deadlines.set(
                    Deadline(ESC, d.rule, d.site, d.subject, nxt, d.since_ms, str(n))
                )
                return
            skipped_now.add(idx)
            due = now  # nobody there: the next step at once


def _key(a: Alert) -> Key:
    return (a.rule, a.site, a.device_id)
