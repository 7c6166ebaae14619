"""Alerts and their states (ISA-18.2 / IEC 62682 vocabulary, PROTOCOL.md names)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from devices.model import AlertTransition


class AlertState(StrEnum):
    """An alert's state (ISA-18.2 names): active or cleared, acknowledged or not, shelved, or
    closed. Stored as its value in `alerts.state`."""

    ACTIVE_UNACK = "active_unack"
    ACTIVE_ACK = "active_ack"
    CLEARED_UNACK = "cleared_unack"
    CLOSED = "closed"
    SHELVED = "shelved"


OPEN_STATES = frozenset(s for s in AlertState if s is not AlertState.CLOSED)
ACTIVE_STATES = frozenset({AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK})


class Severity(StrEnum):
    """How bad an alert is; with the rule it picks the escalation policy. Stored and sent as its
    value."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


SEVERITY_RANK = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}


@dataclass(slots=True)
class Alert:
    """One alert of one rule for one subject (a device, or a system part, floor or room), as stored
    in `alerts`. Times are epoch ms. The engine's copy is mutable; listeners and callers get
    `snapshot`s."""

    id: int
    site: str
    device_id: str
    rule: str
    severity: Severity
    state: AlertState
    latched: bool
    raised_at: int
    last_at: int
    occurrences: int
    value: str | None = None
    condition_cleared_at: int | None = None
    acknowledged_at: int | None = None
    acknowledged_by: str | None = None
    cleared_at: int | None = None
    closed_by: str | None = None
    note: str | None = None
    priority: str = "routine"  # emergency > routine > trouble
    floor: str | None = None
    room: str | None = None
    group_key: str = ""  # one incident = the open alerts sharing a group key
    shelved_until: int | None = None
    chattering: bool = False
    escalation_level: int = -1  # index of the last escalation step notified
    forwarded_at: int | None = None  # fire policy: sent to the fire brigade

    @property
    def active(self) -> bool:
        """True in the two active states, acknowledged or not. A shelved or cleared alert is not
        active, even while its condition holds."""
        return self.state in ACTIVE_STATES

    def snapshot(self) -> Alert:
        """A copy to hand out of the engine thread: later changes do not reach it."""
        return Alert(**{k: getattr(self, k) for k in self.__slots__})


@dataclass(frozen=True, slots=True)
class Change:
    """One committed transition of one alert, for listeners (screen, MQTT, webhooks)."""

    action: str  # raise, repeat, ack, clear, resolve, reset, escalate, shelve, ...
    alert: Alert
    at: int
    by: str | None = None
    note: str | None = None
    target: str | None = None  # escalate / renotify: the notifier target


# notifications, not changes of the alert: not stored as alert transitions
NOT_TRANSITIONS = frozenset({"escalate", "renotify"})


def transitions(changes: Sequence[Change]) -> list[AlertTransition]:
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
