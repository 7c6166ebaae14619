"""Fire safety: each fire alarm with its acknowledgement time (NFPA 72 positive alarm
sequence: 15 s), whether and why it went to the fire brigade, and the fire equipment."""

from __future__ import annotations

from collections.abc import Sequence

from alerting.reports.compute.history import (
    Alert,
    Context,
)
from alerting.reports.model import FireAlarm, FireFigures, SeriesFigure, Wait
from alerting.reports.rows import AuditRow

FIRE_ACK_S = 15.0  # NFPA 72 positive alarm sequence


def fire_figures(
    ctx: Context,
    raised: Sequence[Alert],
    waits: Sequence[Wait],
    equipment: Sequence[SeriesFigure],
) -> FireFigures:
    """Every fire alarm raised in the period with its answer and forward, and the fire
    equipment readings (NFPA 72: the 15 s acknowledgement matters most)."""
    fire_rules = {n for n, r in ctx.rules.rules.items() if r.fire is not None}
    first_wait = {w.alert_id: w for w in waits if w.number == 1}
    items = []
    for a in raised:
        if a.row.rule not in fire_rules:
            continue
        fwd = next((r for r in a.audit if r.action == "forward"), None)
        dismissed = next((r for r in a.audit if r.action == "dismiss"), None)
        w = first_wait.get(a.row.id)
        items.append(
            FireAlarm(
                alert_id=a.row.id,
                rule=a.row.rule,
                device_id=a.row.device_id,
                floor=a.row.floor,
                room=a.row.room,
                raised_ms=a.row.raised_at,
                ack_s=w.seconds if w else None,
                forwarded_ms=fwd.at if fwd else None,
                forwarded_by=fwd.by if fwd else None,
                forward_note=_forward_note(fwd),
                dismissed_by=dismissed.by if dismissed else None,
                dismiss_note=dismissed.note if dismissed else None,
            )
        )
    return FireFigures(
        alarms=len(items),
        acked_within_15s=sum(1 for f in items if f.ack_s is not None and f.ack_s <= FIRE_ACK_S),
        forwarded=sum(1 for f in items if f.forwarded_ms is not None),
        forwarded_auto=sum(1 for f in items if f.forwarded_ms is not None and not f.forwarded_by),
        dismissed=sum(1 for f in items if f.dismissed_by is not None),
        items=items,
        equipment=list(equipment),
    )


def _forward_note(r: AuditRow | None) -> str | None:
    """The audit note of a forward is "<target>: <why>"; keep the why."""
    if r is None or r.note is None:
        return None
    return r.note.split(": ", 1)[-1]
