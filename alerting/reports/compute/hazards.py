"""The hazard register in the watch report (seed 004: 隐患问题整改销号率 100%): hazards
opened, fixed, closed and overdue in the period, the closure rate (整改销号率) two ways,
and the ageing of the hazards still open at the period's end. Pure: rows in, figures out
(docs/reports.md, "Hazards", says the same definitions for readers).

A hazard's state at a time is read from its row's stamps (closed_ms, fixed_ms,
started_ms): the register keeps each step's time, so a report of a past day shows the
hazards as they stood at its end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alerting.hazards import Hazard

DAY_MS = 86_400_000
# ageing buckets of open hazards: (label, from days, to days)
AGEING = (("0_1d", 0, 1), ("1_7d", 1, 7), ("7_30d", 7, 30), ("30d_plus", 30, None))


@dataclass(frozen=True, slots=True)
class HazardItem:
    """One hazard as the report and the export list it: ids, category, place ids and
    times, never the words a person typed (description, location) nor who."""

    id: int
    category: str
    state: str  # at the period's end
    source: str
    floor: str | None
    room: str | None
    opened_ms: int
    deadline_ms: int
    fixed_ms: int | None
    closed_ms: int | None
    overdue: bool  # past its deadline and not fixed at the period's end


@dataclass(frozen=True, slots=True)
class HazardFigures:
    """The register's figures of one period (definitions: docs/reports.md, "Hazards")."""

    opened: int  # opened in the period
    fixed: int  # hazards with a fix recorded in the period
    closed: int  # closed (signed off) in the period
    overdue: int  # past their deadline unfixed at some time in the period
    open_at_end: int  # not closed at the period's end
    overdue_at_end: int
    closed_of_opened: int  # of those opened in the period, closed by the report's making
    closure_rate: float | None  # closed_of_opened / opened; None when none was opened
    due: int  # hazards whose deadline fell in the period
    closed_of_due: int  # of those, closed by the report's making
    closure_rate_due: float | None  # closed_of_due / due; None when none fell due
    ageing: dict[str, int]  # open hazards at the period's end by age (AGEING)
    items: list[HazardItem]  # open at the end, or opened, fixed or closed in the period


def state_at(h: Hazard, t: int) -> str:
    """The state `h` was in at `t` (its steps' stamps before `t`)."""
    if h.opened_ms >= t:
        return "none"
    if h.closed_ms is not None and h.closed_ms < t:
        return "closed"
    if h.fixed_ms is not None and h.fixed_ms < t:
        return "fixed"
    if h.started_ms is not None and h.started_ms < t:
        return "in_progress"
    return "open"


def _overdue_in(h: Hazard, start_ms: int, end_ms: int) -> bool:
    """Past its deadline and not fixed by it, at some time in [start_ms, end_ms)."""
    if h.opened_ms >= end_ms or h.deadline_ms >= end_ms:
        return False
    if h.closed_ms is not None and h.closed_ms < start_ms:
        return False
    fixed = h.fixed_ms
    return fixed is None or (fixed > h.deadline_ms and fixed > start_ms)


def _rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def hazard_figures(
    hazards: Sequence[Hazard], fixes: Sequence[tuple[int, int]], start_ms: int, end_ms: int,
    as_of_ms: int,
) -> HazardFigures:  # fmt: skip
    """The figures over [start_ms, end_ms) as known at `as_of_ms`; `fixes` are the (hazard
    id, time) of every fix step in the log (a hazard reopened and fixed again counts once
    per period)."""
    opened = [h for h in hazards if start_ms <= h.opened_ms < end_ms]
    fixed_ids = {hid for hid, at in fixes if start_ms <= at < end_ms}
    closed = [h for h in hazards if h.closed_ms is not None and start_ms <= h.closed_ms < end_ms]
    due = [h for h in hazards if start_ms <= h.deadline_ms < end_ms and h.opened_ms < end_ms]

    def closed_by_making(h: Hazard) -> bool:
        return h.closed_ms is not None and h.closed_ms <= as_of_ms

    ageing = {label: 0 for label, _, _ in AGEING}
    items: list[HazardItem] = []
    for h in sorted(hazards, key=lambda x: x.id):
        at_end = state_at(h, end_ms)
        if at_end == "none":
            continue
        late = at_end in ("open", "in_progress") and h.deadline_ms < end_ms
        touched = (h.id in fixed_ids or start_ms <= h.opened_ms
                   or (h.closed_ms is not None and h.closed_ms >= start_ms))  # fmt: skip
        if at_end != "closed":
            days = (end_ms - h.opened_ms) / DAY_MS
            label = next(lb for lb, lo, hi in AGEING if days >= lo and (hi is None or days < hi))
            ageing[label] += 1
        elif not touched:
            continue
        items.append(
            HazardItem(h.id, h.category, at_end, h.source, h.floor, h.room, h.opened_ms,
                       h.deadline_ms, h.fixed_ms if h.fixed_ms is not None
                       and h.fixed_ms < end_ms else None,
                       h.closed_ms if at_end == "closed" else None, late)
        )  # fmt: skip
    open_at_end = [i for i in items if i.state != "closed"]
    closed_of_opened = sum(1 for h in opened if closed_by_making(h))
    closed_of_due = sum(1 for h in due if closed_by_making(h))
    return HazardFigures(
        opened=len(opened),
        fixed=len(fixed_ids),
        closed=len(closed),
        overdue=sum(1 for h in hazards if _overdue_in(h, start_ms, end_ms)),
        open_at_end=len(open_at_end),
        overdue_at_end=sum(1 for i in open_at_end if i.overdue),
        closed_of_opened=closed_of_opened,
        closure_rate=_rate(closed_of_opened, len(opened)),
        due=len(due),
        closed_of_due=closed_of_due,
        closure_rate_due=_rate(closed_of_due, len(due)),
        ageing=ageing,
        items=items,
    )
