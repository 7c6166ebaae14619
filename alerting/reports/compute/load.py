"""Alarm load after ISA-18.2: alarms per 10 minutes, floods (more than 10 in 10 minutes),
chattering and stale alarms, the noisiest devices and rules. Counted in annunciations:
what one duty room heard."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from alerting.reports.compute.history import (
    HOUR_MS,
    Alert,
    Context,
    share,
)
from alerting.reports.model import AlarmLoad, ChatterRow, Flood, Noisy, StaleRow

FLOOD_COUNT = 10  # ISA-18.2: more than 10 alarms in 10 minutes
TEN_MIN_MS = 600_000
STALE_MS = 24 * 3_600_000


def alarm_load(
    ctx: Context,
    alerts: Mapping[int, Alert],
    annunciations: Sequence[tuple[int, int]],
    start_ms: int,
    end_ms: int,
) -> AlarmLoad:
    """The ISA-18.2 alarm-load figures over [start_ms, end_ms), from the annunciations."""
    times = [t for t, _ in annunciations]
    n = len(times)
    span = end_ms - start_ms
    periods = math.ceil(span / TEN_MIN_MS)
    per_period = [0] * periods
    for t in times:
        per_period[(t - start_ms) // TEN_MIN_MS] += 1
    over = sum(1 for c in per_period if c > FLOOD_COUNT)

    peak, peak_at, j = 0, None, 0
    for i, t in enumerate(times):
        while t - times[j] >= TEN_MIN_MS:
            j += 1
        if i - j + 1 > peak:
            peak, peak_at = i - j + 1, t

    floods: list[Flood] = []
    group: list[int] | None = None  # [first alarm, start, end]
    windows: list[list[int]] = []
    for i in range(FLOOD_COUNT, n):
        first = times[i - FLOOD_COUNT]
        if times[i] - first < TEN_MIN_MS:
            lo, hi = times[i], min(first + TEN_MIN_MS, end_ms)
            if group is not None and lo <= group[2]:
                group[2] = max(group[2], hi)
            else:
                group = [first, lo, hi]
                windows.append(group)
    for first, lo, hi in windows:
        inside = [alerts[a] for t, a in annunciations if first <= t < hi]
        floods.append(
            Flood(
                start_ms=lo,
                end_ms=hi,
                seconds=(hi - lo) / 1000,
                alarms=len(inside),
                top_device=_most(a.row.device_id for a in inside),
                top_rule=_most(a.row.rule for a in inside),
            )
        )

    chattering = []
    for a in alerts.values():
        row = next(
            (r for r in a.audit if r.action == "chattering" and start_ms <= r.at < end_ms), None
        )
        if row is not None:
            chattering.append(
                ChatterRow(
                    alert_id=a.row.id,
                    device_id=a.row.device_id,
                    rule=a.row.rule,
                    floor=a.row.floor,
                    room=a.row.room,
                    since_ms=row.at,
                    annunciations=sum(1 for _, i in annunciations if i == a.row.id),
                )
            )
    chattering.sort(key=lambda c: (-c.annunciations, c.since_ms))

    stale = []
    for a in alerts.values():
        if a.row.raised_at <= end_ms - STALE_MS and (a.closed_ms is None or a.closed_ms > end_ms):
            stale.append(
                StaleRow(
                    alert_id=a.row.id,
                    device_id=a.row.device_id,
                    rule=a.row.rule,
                    priority=a.row.priority,
                    floor=a.row.floor,
                    room=a.row.room,
                    raised_ms=a.row.raised_at,
                    age_h=(end_ms - a.row.raised_at) / HOUR_MS,
                    state=a.state_at(end_ms),
                )
            )
    stale.sort(key=lambda s: s.raised_ms)

    by_device = Counter(alerts[i].row.device_id for _, i in annunciations)
    room_of = {alerts[i].row.device_id: alerts[i].row.room for _, i in annunciations}
    by_rule = Counter(alerts[i].row.rule for _, i in annunciations)
    top_devices = [Noisy(d, room_of[d] or "", c, c / n) for d, c in _top(by_device)]
    top_rules = [Noisy(r, ctx.title(r, "zh"), c, c / n) for r, c in _top(by_rule)]
    return AlarmLoad(
        annunciations=n,
        ten_minute_periods=periods,
        per_10min=n / (span / TEN_MIN_MS),
        peak_10min=peak,
        peak_at_ms=peak_at,
        periods_over_10=over,
        share_periods_over_10=over / periods,
        floods=floods,
        flood_s=sum(f.seconds for f in floods),
        chattering=chattering,
        stale=stale,
        top_devices=top_devices,
        top_rules=top_rules,
        top10_devices_share=share(sum(x.annunciations for x in top_devices), n),
        per_period=per_period,
    )


def _most(keys: Iterable[str]) -> str:
    """The most frequent key (ties: the smallest), or "" when there are none."""
    counts = Counter(keys)
    return min(counts, key=lambda k: (-counts[k], k)) if counts else ""


def _top(counts: Counter[str], n: int = 10) -> list[tuple[str, int]]:
    """The `n` largest counts, ties by key, so the order is stable."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
