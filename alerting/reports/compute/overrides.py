"""Supervisors' overrides: calls reset from afar instead of at the bedside (nurse-call
practice resets a call by presence in the room; alerting/bedside.py). Each is an audit
row `override_reset`; the report counts those made in the period, by room and by person,
and lists each with its reason, so a manager sees where the bedside reset is skipped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from alerting.bedside import OVERRIDE_RESET
from alerting.reports.compute.history import Alert
from alerting.reports.model import OverrideRow, Overrides


def override_figures(alerts: Iterable[Alert], start_ms: int, end_ms: int) -> Overrides:
    """Every override made in [start_ms, end_ms), in time order, with the counts per room
    (rooms by id) and per supervisor (staff id)."""
    items = sorted(
        (
            OverrideRow(
                alert_id=a.row.id,
                rule=a.row.rule,
                device_id=a.row.device_id,
                floor=a.row.floor,
                room=a.row.room,
                bed=a.device.bed if a.device else None,
                raised_ms=a.row.raised_at,
                at_ms=r.at,
                by=r.by,
                reason=r.note,
            )
            for a in alerts
            for r in a.audit
            if r.action == OVERRIDE_RESET and start_ms <= r.at < end_ms
        ),
        key=lambda o: (o.at_ms, o.alert_id),
    )
    rooms = Counter(o.room or "-" for o in items)
    people = Counter(o.by or "-" for o in items)
    return Overrides(
        count=len(items),
        by_room=dict(rooms.most_common()),
        by_person=dict(people.most_common()),
        items=items,
    )
