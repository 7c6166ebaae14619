"""Answer times: the waits (each time staff had to answer an alert), how fast each priority
was answered, and the histogram of emergency answer times (the careline standard)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence

from alerting.reports.compute.history import (
    UNACK,
    Alert,
    share,
)
from alerting.reports.model import Bin, Durations, Responses, Wait
from alerting.reports.rows import AuditRow

ANSWER_WITHIN_S = 60.0  # careline standard: 98.5 % of emergency calls within 60 s
CARELINE_TARGET = 0.985

HISTOGRAM = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def durations(values: Iterable[float]) -> Durations:
    """Count, mean, median and p90 (nearest rank) of a sample: the figures every
    answer-time row shows."""
    v = sorted(values)
    if not v:
        return Durations(0, None, None, None, None)
    p90 = v[math.ceil(0.9 * len(v)) - 1]
    return Durations(len(v), statistics.fmean(v), statistics.median(v), p90, v[-1])


def _answer(r: AuditRow) -> str | None:
    """The staff response this audit row is, if any, for an alert waiting for one."""
    if r.action == "forward":
        return "confirm" if r.by else None  # forwarded by the watch itself is no answer
    if r.to_state not in UNACK:
        return r.action
    return None


def alert_waits(a: Alert, shift_of: Callable[[int], str | None]) -> list[Wait]:
    """Each time staff had to answer this alert: from its raise, or its return after an
    acknowledgement, to the first staff response (or still open)."""
    out: list[Wait] = []
    start: int | None = None
    escalated: str | None = None
    number = 0

    def wait(answered: AuditRow | None, how: str | None) -> Wait:
        assert start is not None
        dev = a.device
        return Wait(
            alert_id=a.row.id,
            number=number,
            rule=a.row.rule,
            priority=a.row.priority,
            severity=a.row.severity,
            device_id=a.row.device_id,
            device_type=dev.type.name if dev else None,
            floor=a.row.floor,
            room=a.row.room,
            bed=dev.bed if dev else None,
            started_ms=start,
            answered_ms=answered.at if answered else None,
            seconds=(answered.at - start) / 1000 if answered else None,
            answered_by=answered.by if answered else None,
            answer=how,
            escalated_to=escalated,
            closed_ms=a.closed_ms,
            shift=shift_of(start),
        )

    for r in a.audit:
        if start is None:
            if r.to_state in UNACK and (r.action == "raise" or r.from_state not in UNACK):
                start, escalated, number = r.at, None, number + 1
            continue
        if r.action in ("escalate", "renotify"):
            escalated = (r.note or "").split(":", 1)[0] or escalated
            continue
        how = _answer(r)
        if how is not None:
            out.append(wait(r, how))
            start = None
    if start is not None:
        out.append(wait(None, None))
    return out


def group_responses(
    group: str, waits: Sequence[Wait], raised: Sequence[Alert], as_of_ms: int
) -> Responses:
    """How fast one priority (or "all") was answered and resolved; pending waits (younger
    than 60 s, still open) are left out of the share, as the careline standard does."""
    ws = [w for w in waits if group == "all" or w.priority == group]
    alerts = [a for a in raised if group == "all" or a.row.priority == group]
    answered = [w.seconds for w in ws if w.seconds is not None]
    pending = sum(
        1 for w in ws if w.answered_ms is None and as_of_ms - w.started_ms < ANSWER_WITHIN_S * 1000
    )
    within = sum(1 for s in answered if s <= ANSWER_WITHIN_S)
    closed = [(a.closed_ms - a.row.raised_at) / 1000 for a in alerts if a.closed_ms is not None]
    return Responses(
        group=group,
        alerts=len(alerts),
        waits=len(ws),
        answered=len(answered),
        unanswered=len(ws) - len(answered),
        pending=pending,
        within_60s=within,
        share_within_60s=share(within, len(ws) - pending),
        late=len(answered) - within,
        to_ack=durations(answered),
        to_resolve=durations(closed),
        still_open=len(alerts) - len(closed),
    )


def ack_histogram(waits: Sequence[Wait]) -> list[Bin]:
    """Emergency waits per answer-time band, the last two bands being "later" and "never"."""
    bins = []
    lo: float | None = None
    for hi in HISTOGRAM:
        count = sum(
            1
            for w in waits
            if w.seconds is not None and (lo is None or w.seconds > lo) and w.seconds <= hi
        )
        bins.append(Bin(f"{0 if lo is None else lo:g}-{hi:g} s", lo, hi, count))
        lo = hi
    bins.append(
        Bin(
            f"> {lo:g} s",
            lo,
            None,
            sum(1 for w in waits if w.seconds is not None and w.seconds > (lo or 0)),
        )
    )
    bins.append(Bin("unanswered", None, None, sum(1 for w in waits if w.seconds is None)))
    return bins
