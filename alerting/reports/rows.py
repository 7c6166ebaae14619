"""What the watch report reads: rows of the alert store and readings statistics, as typed
data (alerting/reports/source.py fills them). Times are epoch milliseconds (`*_ms`).
No residents' names: alerts are placed by floor, room, bed and device id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AlertRow:
    """One alert as the report reads it from `alerts` (source.load_rows); `raised_at` in epoch ms,
    `state` as stored."""

    id: int
    site: str
    device_id: str
    rule: str
    priority: str
    severity: str
    floor: str | None
    room: str | None
    raised_at: int
    state: str
    occurrences: int
    value: str | None


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One audit row of an alert (source.load_rows, renotify rows left out): the history every wait,
    episode and fire figure is computed from."""

    alert_id: int
    at: int
    action: str
    from_state: str | None
    to_state: str
    by: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class DeviceLogRow:
    """One maintenance start or end from `device_log` (source.load_rows), for the maintenance
    windows."""

    at: int
    device_id: str
    action: str
    by: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class StoreRows:
    """What the alert store holds about a period (store.load_rows reads it)."""

    alerts: Sequence[AlertRow]
    audit: Sequence[AuditRow]  # in the order written
    device_log: Sequence[DeviceLogRow] = ()


@dataclass(frozen=True, slots=True)
class FieldStats:
    """Minimum and maximum of one field of one device over the period."""

    count: int
    min: float
    min_at_ms: int
    max: float
    max_at_ms: int


@dataclass(frozen=True, slots=True)
class VisitRow:
    """One welfare visit of a home bed from `visits` (source.load_visits): who visited which
    resident when (`at_ms`), and its outcome as recorded."""

    site: str
    resident: str
    worker: str
    at_ms: int
    outcome: str


# --- the result ------------------------------------------------------------------------
