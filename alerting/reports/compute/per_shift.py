"""The figures of each duty shift, and of each shift name over the whole period."""

from __future__ import annotations

from collections.abc import Sequence

from alerting.reports.compute.answers import (
    group_responses,
)
from alerting.reports.compute.history import (
    Alert,
)
from alerting.reports.model import ShiftFigures, ShiftSpan, ShiftTotal, Wait
from alerting.reports.shifts import ShiftDef


def shift_figures(
    s: ShiftSpan, waits: Sequence[Wait], raised: Sequence[Alert], as_of_ms: int
) -> ShiftFigures:
    """One shift's alerts and its emergency answer times."""
    ws = [w for w in waits if s.start_ms <= w.started_ms < s.end_ms]
    rs = [a for a in raised if s.start_ms <= a.row.raised_at < s.end_ms]
    return ShiftFigures(
        name=s.name,
        name_en=s.name_en,
        date=s.date,
        start_ms=s.start_ms,
        end_ms=s.end_ms,
        alerts=len(rs),
        unanswered=sum(1 for w in ws if w.answered_ms is None),
        emergency=group_responses("emergency", ws, rs, as_of_ms),
    )


def shift_totals(
    shifts: Sequence[ShiftDef],
    spans: Sequence[ShiftSpan],
    waits: Sequence[Wait],
    raised: Sequence[Alert],
    as_of_ms: int,
) -> list[ShiftTotal]:
    """Each shift name over the whole period: which shift answers slowest, week after week."""
    out = []
    for d in sorted(shifts, key=lambda s: s.start):
        mine = [s for s in spans if s.name == d.name]
        if not mine:
            continue

        def inside(ms: int, mine: list[ShiftSpan] = mine) -> bool:
            return any(s.start_ms <= ms < s.end_ms for s in mine)

        ws = [w for w in waits if inside(w.started_ms)]
        rs = [a for a in raised if inside(a.row.raised_at)]
        out.append(
            ShiftTotal(
                name=d.name,
                name_en=d.name_en,
                shifts=len(mine),
                alerts=len(rs),
                unanswered=sum(1 for w in ws if w.answered_ms is None),
                emergency=group_responses("emergency", ws, rs, as_of_ms),
            )
        )
    return out
