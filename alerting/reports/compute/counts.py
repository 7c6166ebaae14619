"""Where and what: alerts and annunciations per rule and per floor or room, and the alerts
per hour or day for the timeline chart."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from alerting.reports.compute.answers import (
    ANSWER_WITHIN_S,
    durations,
)
from alerting.reports.compute.history import (
    Alert,
    Context,
    prank,
)
from alerting.reports.model import Bucket, PlaceCount, RuleCount, Wait


def rule_counts(
    ctx: Context,
    raised: Sequence[Alert],
    waits: Sequence[Wait],
    annunciations: Sequence[tuple[int, int]],
    alerts: Mapping[int, Alert],
) -> list[RuleCount]:
    """Alerts, annunciations and answers per rule, emergencies first, busiest first."""
    n_alerts = Counter(a.row.rule for a in raised)
    n_ann = Counter(alerts[i].row.rule for _, i in annunciations)
    by_waits: dict[str, list[Wait]] = defaultdict(list)
    for w in waits:
        by_waits[w.rule].append(w)
    priority = {a.row.rule: a.row.priority for a in alerts.values()}
    out = []
    for rule in set(n_alerts) | set(n_ann) | set(by_waits):
        ws = by_waits.get(rule, [])
        secs = [w.seconds for w in ws if w.seconds is not None]
        d = durations(secs)
        out.append(
            RuleCount(
                rule=rule,
                title_zh=ctx.title(rule, "zh"),
                title_en=ctx.title(rule, "en"),
                priority=priority.get(rule, "routine"),
                alerts=n_alerts[rule],
                annunciations=n_ann[rule],
                waits=len(ws),
                within_60s=sum(1 for s in secs if s <= ANSWER_WITHIN_S),
                median_ack_s=d.median_s,
                max_ack_s=d.max_s,
            )
        )
    out.sort(key=lambda c: (prank(c.priority), -c.alerts, -c.annunciations, c.rule))
    return out


def place_counts(
    ctx: Context,
    raised: Sequence[Alert],
    annunciations: Sequence[tuple[int, int]],
    alerts: Mapping[int, Alert],
    rooms: bool,
) -> list[PlaceCount]:
    """Alerts and annunciations per floor, or per room (rooms=True), for the distribution."""

    def key(a: Alert) -> tuple[str | None, str | None]:
        return (a.row.floor, a.row.room if rooms else None)

    n_alerts = Counter(key(a) for a in raised)
    n_emergency = Counter(key(a) for a in raised if a.row.priority == "emergency")
    n_ann = Counter(key(alerts[i]) for _, i in annunciations)
    out = []
    for floor, room in set(n_alerts) | set(n_ann):
        if rooms and room is None:
            continue
        out.append(
            PlaceCount(
                floor=floor,
                room=room,
                label=ctx.room_label(room) if rooms else ctx.floor_label(floor),
                alerts=n_alerts[(floor, room)],
                emergency=n_emergency[(floor, room)],
                annunciations=n_ann[(floor, room)],
            )
        )
    if rooms:
        out.sort(key=lambda p: (-p.alerts, -p.annunciations, p.room or ""))
    else:
        out.sort(key=lambda p: (p.floor is None, p.floor or ""))
    return out


def timeline_of(raised: Sequence[Alert], start_ms: int, end_ms: int, step: int) -> list[Bucket]:
    """Alerts raised per hour or per day by priority: the timeline chart."""
    n = math.ceil((end_ms - start_ms) / step)
    counts = [[0, 0, 0] for _ in range(n)]
    for a in raised:
        i = (a.row.raised_at - start_ms) // step
        p = prank(a.row.priority)
        if p < 3:
            counts[i][p] += 1
    return [Bucket(start_ms + i * step, *c) for i, c in enumerate(counts)]
