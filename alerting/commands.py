"""Operators' commands, applied by the engine inside its transaction: an alert's ack,
resolve, fire confirm/dismiss, shelve and unshelve; a device's maintenance start and end.

Each answers with a CommandResult whose `error` names why it was refused (the API turns
it into 404/409), so a refused command changes nothing. A call reset at the bedside
(alerting/bedside.py) is resolved only with `override`, a supervisor's (the API checks who).
"""

from __future__ import annotations

import sqlite3

from alerting.bedside import resets_at_bedside
from alerting.firepolicy import FirePolicy
from alerting.homecalls import HomeCalls
from alerting.items import (
    MAX_MAINTENANCE_S,
    MAX_SHELVE_S,
    Command,
    CommandResult,
    DeviceCommand,
    ErrorCode,
)
from alerting.lifecycle import Lifecycle
from alerting.model import Alert, AlertState
from alerting.rulebook import Rulebook
from alerting.rules import AbsenceRule
from alerting.ruleset import RuleSet
from alerting.supervision import Supervision
from devices.registry import Registry


class Commands:
    """The engine's command side; shares the engine's lifecycle, fire policy and
    supervision, so a command and the messages around it see one state."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        registry: Registry,
        rules: RuleSet | Rulebook,
        life: Lifecycle,
        fire: FirePolicy,
        watch: Supervision,
    ) -> None:
        self._conn = conn
        self._registry = registry
        self._rules = Rulebook.of_one(rules)
        self._life = life
        self._fire = fire
        self._watch = watch
        self._calls = HomeCalls(registry, life)

    def alert(self, cmd: Command, now: int) -> CommandResult:
        """ack, resolve, confirm/dismiss a fire, shelve/unshelve, a home call's outcome or
        contact attempt: one alert's command."""
        alert = self._life.by_id.get(cmd.alert_id)
        if alert is None:
            row = self._conn.execute(
                "SELECT 1 FROM alerts WHERE id = ?", (cmd.alert_id,)
            ).fetchone()
            return CommandResult(False, "not_found" if row is None else "closed", None)
        if cmd.action in ("outcome", "contact"):
            result = self._calls.apply(alert, cmd, now)
            if alert.state is AlertState.CLOSED:
                self._rearm_supervision(alert, now)
            return result
        if cmd.action == "ack":
            self._life.ack(alert, now, cmd.by, cmd.note)
        elif cmd.action == "resolve":
            dev = self._registry.get(alert.site, alert.device_id)
            site = self._registry.sites.get(alert.site)
            home_bed = site is not None and site.kind == "home_bed"
            bedside = resets_at_bedside(self._rules, alert, dev, home_bed)
            if bedside != cmd.override:  # a call without override, or override of no call
                error: ErrorCode = "not_bedside" if cmd.override else "bedside_reset"
                return CommandResult(False, error, alert.snapshot())
            if cmd.override:
                self._life.override_reset(alert, now, cmd.by, cmd.note)
            else:
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
        if dev is None or not isinstance(self._rules.rule(alert.rule, dev, dev.site), AbsenceRule):
            return
        self._watch.rearm(dev, now)

    def device(self, cmd: DeviceCommand, now: int) -> CommandResult:
        """Maintenance of one device: start (bounded) or end it."""
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
