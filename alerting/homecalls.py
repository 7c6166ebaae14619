"""The call-centre console's commands on a home call: a contact attempt and an outcome.

A home call is any alert of a home-bed site (the console queues them). The operator calls
the resident's contacts and records each attempt (`contact`), then what became of the call
(`outcome`, alerting/outcomes.py). Both are audit rows the report reads back, so they are
written by the engine in its transaction like every other command. An outcome is the
moment someone answered: it acknowledges the alert if nobody had (escalation stops), and a
closing outcome (false alarm, solved by phone) resolves it too.
"""

from __future__ import annotations

from alerting.contacts import resident_of
from alerting.items import Command, CommandResult
from alerting.lifecycle import Lifecycle
from alerting.model import Alert, AlertState
from alerting.outcomes import (
    CONTACT_ACTION,
    CONTACT_RESULTS,
    OUTCOME_ACTION,
    OUTCOMES,
    contact_note,
    outcome_note,
)
from devices.registry import Registry
from devices.siteconfig import ResidentConfig


def is_home_call(registry: Registry, alert: Alert) -> bool:
    """Whether the console handles `alert`: its site is a home bed."""
    site = registry.sites.get(alert.site)
    return site is not None and site.kind == "home_bed"


def call_resident(registry: Registry, alert: Alert) -> ResidentConfig | None:
    """Whom a home call is about: as for its escalation (contacts.resident_of), the resident
    of the alert's device, else the home's first resident."""
    return resident_of(registry, alert.site, alert.device_id)


class HomeCalls:
    """Applies `outcome` and `contact` commands inside the engine's transaction; a refused
    one (`error`) changes nothing."""

    def __init__(self, registry: Registry, life: Lifecycle) -> None:
        self._registry = registry
        self._life = life

    def apply(self, alert: Alert, cmd: Command, now: int) -> CommandResult:
        """One console command on an open alert (the caller found it open)."""
        if not is_home_call(self._registry, alert):
            return CommandResult(False, "not_home_call", alert.snapshot())
        if cmd.action == "contact":
            return self._contact(alert, cmd, now)
        return self._outcome(alert, cmd, now)

    def _contact(self, alert: Alert, cmd: Command, now: int) -> CommandResult:
        resident = call_resident(self._registry, alert)
        known = {c.id for c in resident.contacts} if resident else set()
        if cmd.contact not in known:
            return CommandResult(False, "unknown_contact", alert.snapshot())
        if cmd.code not in CONTACT_RESULTS:
            return CommandResult(False, "unknown_result", alert.snapshot())
        note = contact_note(cmd.contact, cmd.code, cmd.note)
        self._life.emit(CONTACT_ACTION, alert, alert.state, now, cmd.by, note)
        return CommandResult(True, None, alert.snapshot())

    def _outcome(self, alert: Alert, cmd: Command, now: int) -> CommandResult:
        outcome = OUTCOMES.get(cmd.code or "")
        if outcome is None:
            return CommandResult(False, "unknown_outcome", alert.snapshot())
        note = outcome_note(outcome.code, cmd.note)
        if alert.acknowledged_at is None:  # answered now: the escalation stops
            self._life.ack(alert, now, cmd.by, None)
        self._life.emit(OUTCOME_ACTION, alert, alert.state, now, cmd.by, note)
        if outcome.closes and alert.state is not AlertState.CLOSED:
            self._life.resolve(alert, now, cmd.by, note)
        return CommandResult(True, None, alert.snapshot())
