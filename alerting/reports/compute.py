"""The watch report from rows: pure (no clock, no I/O), so a test can feed a known week.

Definitions (docs/reports.md says the same for readers of the report):

- A *wait* is a time staff had to answer an alert: it starts when the alert is raised, or
  when it comes back (a new occurrence) after someone acknowledged it, and ends at the
  first staff response: acknowledge, resolve, reset at the bedside (`cancel` from the
  call button), dismiss or confirm a fire alarm, shelve. Time to acknowledge is that wait.
- Time to resolve: raise to closed, for alerts raised in the period.
- Within 60 s: answered in 60 s or less (the careline standard: 98.5 % of emergency calls).
  Waits unanswered but younger than 60 s when the report is made are *pending* and left
  out of the share.
- Annunciations: raises and repeats the duty room saw (shelved repeats excluded); the
  ISA-18.2 alarm-load figures count these, for one duty room (the site's screen).
- Percentiles: median as usual (the mean of the two middle values for an even count);
  p90 by nearest rank.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from alerting.reports.model import (
    AlarmLoad,
    AlertRow,
    AuditRow,
    BatteryRow,
    Bin,
    Bucket,
    ChatterRow,
    DeviceAvailability,
    DeviceFigures,
    Durations,
    FireAlarm,
    FireFigures,
    Flood,
    MaintenanceRow,
    Noisy,
    OfflineEpisode,
    PlaceCount,
    Responses,
    RuleCount,
    SeriesFigure,
    ShiftFigures,
    ShiftSpan,
    ShiftTotal,
    StaleRow,
    StoreRows,
    TypeAvailability,
    Wait,
    WatchReport,
)
from alerting.reports.shifts import ShiftDef, shift_spans
from alerting.rules import AbsenceRule, EventRule, ThresholdRule
from alerting.ruleset import RuleSet
from devices.registry import Device, Registry

UNACK = frozenset({"active_unack", "cleared_unack"})
ANNUNCIATE = frozenset({"raise", "repeat"})
PRIORITIES = ("emergency", "routine", "trouble")
ANSWER_WITHIN_S = 60.0  # careline standard: 98.5 % of emergency calls within 60 s
CARELINE_TARGET = 0.985
FIRE_ACK_S = 15.0  # NFPA 72 positive alarm sequence
FLOOD_COUNT = 10  # ISA-18.2: more than 10 alarms in 10 minutes
TEN_MIN_MS = 600_000
STALE_MS = 24 * 3_600_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
HISTOGRAM = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0)


def durations(values: Iterable[float]) -> Durations:
    v = sorted(values)
    if not v:
        return Durations(0, None, None, None, None)
    p90 = v[math.ceil(0.9 * len(v)) - 1]
    return Durations(len(v), statistics.fmean(v), statistics.median(v), p90, v[-1])


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole > 0 else None


@dataclass(slots=True)
class _Alert:
    """An alert with its audit rows and what follows from them."""

    row: AlertRow
    audit: list[AuditRow]
    device: Device | None
    closed_ms: int | None

    def state_at(self, at: int) -> str:
        state = "active_unack"
        for r in self.audit:
            if r.at > at:
                break
            state = r.to_state
        return state


class _Context:
    def __init__(self, registry: Registry, rules: RuleSet) -> None:
        self.registry = registry
        self.rules = rules
        site = registry.site
        self.floor_names = {f.id: f.name or f.id for f in site.floors}
        self.room_names = {r.id: r.name for f in site.floors for r in f.rooms}

    def title(self, rule: str, lang: str) -> str:
        return self.rules.title(rule, lang)

    def room_label(self, room: str | None) -> str:
        if room is None:
            return "-"
        name = self.room_names.get(room)
        return f"{room} {name}" if name else room

    def floor_label(self, floor: str | None) -> str:
        return "-" if floor is None else self.floor_names.get(floor, floor)


def build_report(
    rows: StoreRows,
    registry: Registry,
    rules: RuleSet,
    start_ms: int,
    end_ms: int,
    as_of_ms: int,
    shifts: Sequence[ShiftDef] = (),
    equipment: Sequence[SeriesFigure] = (),
) -> WatchReport:
    """The report over [start_ms, end_ms), as known at `as_of_ms` (answers given after the
    period but before `as_of_ms` count; a period ending in the future ends at `as_of_ms`)."""
    end_ms = min(end_ms, as_of_ms)
    if end_ms <= start_ms:
        raise ValueError("the report period is empty")
    ctx = _Context(registry, rules)
    alerts = _alerts(rows, registry, as_of_ms)
    spans = shift_spans(shifts, rules.tz, start_ms, end_ms)

    def shift_of(ms: int) -> str | None:
        return next((s.name for s in spans if s.start_ms <= ms < s.end_ms), None)

    all_waits = [w for a in alerts.values() for w in _waits(a, shift_of)]
    waits = sorted(
        (w for w in all_waits if start_ms <= w.started_ms < end_ms),
        key=lambda w: (w.started_ms, w.alert_id, w.number),
    )
    raised = [a for a in alerts.values() if start_ms <= a.row.raised_at < end_ms]
    raised.sort(key=lambda a: (a.row.raised_at, a.row.id))
    annunciations = sorted(
        (r.at, a.row.id)
        for a in alerts.values()
        for r in a.audit
        if r.action in ANNUNCIATE and r.to_state != "shelved" and start_ms <= r.at < end_ms
    )

    responses = [_responses(p, waits, raised, as_of_ms) for p in PRIORITIES]
    responses.append(_responses("all", waits, raised, as_of_ms))
    late = [
        w
        for w in waits
        if w.priority == "emergency" and w.seconds is not None and w.seconds > ANSWER_WITHIN_S
    ]
    unanswered = sorted(
        (w for w in waits if w.answered_ms is None),
        key=lambda w: (
            PRIORITIES.index(w.priority) if w.priority in PRIORITIES else 9,
            w.started_ms,
        ),
    )
    step: Literal["hour", "day"] = "hour" if end_ms - start_ms <= 2 * DAY_MS else "day"
    return WatchReport(
        site_id=registry.site.id,
        site_name=registry.site.name,
        start_ms=start_ms,
        end_ms=end_ms,
        as_of_ms=as_of_ms,
        timezone=str(rules.tz.key),
        responses=responses,
        late=late,
        unanswered=unanswered,
        by_rule=_by_rule(ctx, raised, waits, annunciations, alerts),
        by_floor=_by_place(ctx, raised, annunciations, alerts, rooms=False),
        by_room=_by_place(ctx, raised, annunciations, alerts, rooms=True),
        shifts=[_shift(s, waits, raised, as_of_ms) for s in spans],
        shift_totals=_shift_totals(shifts, spans, waits, raised, as_of_ms),
        load=_load(ctx, alerts, annunciations, start_ms, end_ms),
        devices=_devices(ctx, alerts, rows, start_ms, end_ms),
        fire=_fire(ctx, raised, waits, equipment),
        timeline_step=step,
        timeline=_timeline(raised, start_ms, end_ms, HOUR_MS if step == "hour" else DAY_MS),
        ack_histogram=_histogram([w for w in waits if w.priority == "emergency"]),
        waits=waits,
    )


# --- alerts and waits -----


def _alerts(rows: StoreRows, registry: Registry, as_of_ms: int) -> dict[int, _Alert]:
    by_alert: dict[int, list[AuditRow]] = defaultdict(list)
    for r in rows.audit:
        if r.at <= as_of_ms:
            by_alert[r.alert_id].append(r)
    out: dict[int, _Alert] = {}
    for a in rows.alerts:
        if a.raised_at > as_of_ms:
            continue
        audit = by_alert.get(a.id, [])
        closed = next((r.at for r in audit if r.to_state == "closed"), None)
        out[a.id] = _Alert(a, audit, registry.get(a.site, a.device_id), closed)
    return out


def _answer(r: AuditRow) -> str | None:
    """The staff response this audit row is, if any, for an alert waiting for one."""
    if r.action == "forward":
        return "confirm" if r.by else None  # forwarded by the watch itself is no answer
    if r.to_state not in UNACK:
        return r.action
    return None


def _waits(a: _Alert, shift_of: Callable[[int], str | None]) -> list[Wait]:
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


def _responses(
    group: str, waits: Sequence[Wait], raised: Sequence[_Alert], as_of_ms: int
) -> Responses:
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
        share_within_60s=_share(within, len(ws) - pending),
        late=len(answered) - within,
        to_ack=durations(answered),
        to_resolve=durations(closed),
        still_open=len(alerts) - len(closed),
    )


# --- counts -----


def _by_rule(
    ctx: _Context,
    raised: Sequence[_Alert],
    waits: Sequence[Wait],
    annunciations: Sequence[tuple[int, int]],
    alerts: Mapping[int, _Alert],
) -> list[RuleCount]:
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
    out.sort(key=lambda c: (_prank(c.priority), -c.alerts, -c.annunciations, c.rule))
    return out


def _prank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)


def _by_place(
    ctx: _Context,
    raised: Sequence[_Alert],
    annunciations: Sequence[tuple[int, int]],
    alerts: Mapping[int, _Alert],
    rooms: bool,
) -> list[PlaceCount]:
    def key(a: _Alert) -> tuple[str | None, str | None]:
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


# --- shifts -----


def _shift(
    s: ShiftSpan, waits: Sequence[Wait], raised: Sequence[_Alert], as_of_ms: int
) -> ShiftFigures:
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
        emergency=_responses("emergency", ws, rs, as_of_ms),
    )


def _shift_totals(
    shifts: Sequence[ShiftDef],
    spans: Sequence[ShiftSpan],
    waits: Sequence[Wait],
    raised: Sequence[_Alert],
    as_of_ms: int,
) -> list[ShiftTotal]:
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
                emergency=_responses("emergency", ws, rs, as_of_ms),
            )
        )
    return out


# --- alarm load (ISA-18.2) -----


def _load(
    ctx: _Context,
    alerts: Mapping[int, _Alert],
    annunciations: Sequence[tuple[int, int]],
    start_ms: int,
    end_ms: int,
) -> AlarmLoad:
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
        top10_devices_share=_share(sum(x.annunciations for x in top_devices), n),
        per_period=per_period,
    )


def _most(keys: Iterable[str]) -> str:
    counts = Counter(keys)
    return min(counts, key=lambda k: (-counts[k], k)) if counts else ""


def _top(counts: Counter[str], n: int = 10) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


# --- devices -----


def _devices(
    ctx: _Context, alerts: Mapping[int, _Alert], rows: StoreRows, start_ms: int, end_ms: int
) -> DeviceFigures:
    rules = ctx.rules.rules
    absence = {n for n, r in rules.items() if isinstance(r, AbsenceRule)}
    battery = {
        n
        for n, r in rules.items()
        if (isinstance(r, ThresholdRule) and r.field == "battery_pct")
        or (isinstance(r, EventRule) and "low_battery" in r.events)
    }
    span = end_ms - start_ms
    episodes: list[OfflineEpisode] = []
    batteries: list[BatteryRow] = []
    for a in alerts.values():
        if a.row.rule in absence:
            episodes += _episodes(a, start_ms, end_ms)
        elif a.row.rule in battery:
            open_at_end = a.closed_ms is None or a.closed_ms > end_ms
            if start_ms <= a.row.raised_at < end_ms or (a.row.raised_at < start_ms and open_at_end):
                batteries.append(
                    BatteryRow(
                        alert_id=a.row.id,
                        device_id=a.row.device_id,
                        device_type=a.device.type.name if a.device else None,
                        floor=a.row.floor,
                        room=a.row.room,
                        raised_ms=a.row.raised_at,
                        open_at_end=open_at_end,
                        value=a.row.value,
                    )
                )
    episodes.sort(key=lambda e: (e.start_ms, e.device_id))
    batteries.sort(key=lambda b: (b.raised_ms, b.device_id))

    per_device: dict[str, list[OfflineEpisode]] = defaultdict(list)
    for e in episodes:
        per_device[e.device_id].append(e)
    devices = []
    for dev_id, eps in per_device.items():
        off = sum(e.seconds for e in eps)
        first = eps[0]
        devices.append(
            DeviceAvailability(
                device_id=dev_id,
                device_type=first.device_type,
                floor=first.floor,
                room=first.room,
                episodes=len(eps),
                offline_s=off,
                availability=1 - off * 1000 / span,
            )
        )
    devices.sort(key=lambda d: (d.availability, d.device_id))

    registered = ctx.registry.devices()
    by_type = []
    for t in sorted({d.type.name for d in registered}):
        of_type = [d for d in registered if d.type.name == t]
        ids = {d.id for d in of_type}
        eps = [e for e in episodes if e.device_id in ids]
        off = sum(e.seconds for e in eps)
        by_type.append(
            TypeAvailability(
                device_type=t,
                label_zh=of_type[0].type.label("zh"),
                label_en=of_type[0].type.label("en"),
                registered=len(of_type),
                offline_devices=len({e.device_id for e in eps}),
                episodes=len(eps),
                offline_s=off,
                availability=1 - off * 1000 / (span * len(of_type)),
            )
        )
    reg_ids = {d.id for d in registered}
    offline_s = sum(e.seconds for e in episodes if e.device_id in reg_ids)
    return DeviceFigures(
        registered=len(registered),
        availability=1 - offline_s * 1000 / (span * len(registered)) if registered else None,
        offline_s=offline_s,
        by_type=by_type,
        devices=devices,
        episodes=episodes,
        battery=batteries,
        maintenance=_maintenance(ctx, rows, start_ms, end_ms),
    )


def _episodes(a: _Alert, start_ms: int, end_ms: int) -> list[OfflineEpisode]:
    """Offline from each raise or repeat of an offline alert until the device was heard
    again (its condition cleared) or the alert was closed."""
    spans: list[tuple[int, int | None]] = []
    since: int | None = None
    for r in a.audit:
        if r.action in ANNUNCIATE:
            if since is None:
                since = r.at
        elif since is not None and (
            r.action in ("clear", "condition_cleared", "reset") or r.to_state == "closed"
        ):
            spans.append((since, r.at))
            since = None
    if since is not None:
        spans.append((since, None))
    out = []
    dev = a.device
    for lo, hi in spans:
        inside = min(end_ms if hi is None else hi, end_ms) - max(lo, start_ms)
        if inside <= 0 and not (start_ms <= lo < end_ms):
            continue
        out.append(
            OfflineEpisode(
                alert_id=a.row.id,
                device_id=a.row.device_id,
                device_type=dev.type.name if dev else None,
                floor=a.row.floor,
                room=a.row.room,
                start_ms=lo,
                end_ms=hi if hi is not None and hi <= end_ms else None,
                seconds=max(inside, 0) / 1000,
            )
        )
    return out


def _maintenance(
    ctx: _Context, rows: StoreRows, start_ms: int, end_ms: int
) -> list[MaintenanceRow]:
    out = []
    open_: dict[str, tuple[int, str | None, str | None]] = {}

    def add(
        dev_id: str, lo: int, hi: int | None, by: str | None, note: str | None, ended_by: str | None
    ) -> None:
        if lo < end_ms and (hi is None or hi > start_ms):
            dev = ctx.registry.by_id(dev_id)
            out.append(
                MaintenanceRow(
                    device_id=dev_id,
                    device_type=dev.type.name if dev else None,
                    room=dev.room if dev else None,
                    start_ms=lo,
                    end_ms=hi if hi is not None and hi <= end_ms else None,
                    by=by,
                    note=note,
                    ended_by=ended_by if hi is not None and hi <= end_ms else None,
                )
            )

    for r in sorted(rows.device_log, key=lambda r: r.at):
        if r.action == "maintenance_start":
            open_[r.device_id] = (r.at, r.by, r.note)
        elif r.action == "maintenance_end" and r.device_id in open_:
            lo, by, note = open_.pop(r.device_id)
            add(r.device_id, lo, r.at, by, note, r.by)
    for dev_id, (lo, by, note) in open_.items():
        add(dev_id, lo, None, by, note, None)
    out.sort(key=lambda m: (m.start_ms, m.device_id))
    return out


# --- fire -----


def _fire(
    ctx: _Context,
    raised: Sequence[_Alert],
    waits: Sequence[Wait],
    equipment: Sequence[SeriesFigure],
) -> FireFigures:
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


# --- charts -----


def _timeline(raised: Sequence[_Alert], start_ms: int, end_ms: int, step: int) -> list[Bucket]:
    n = math.ceil((end_ms - start_ms) / step)
    counts = [[0, 0, 0] for _ in range(n)]
    for a in raised:
        i = (a.row.raised_at - start_ms) // step
        p = _prank(a.row.priority)
        if p < 3:
            counts[i][p] += 1
    return [Bucket(start_ms + i * step, *c) for i, c in enumerate(counts)]


def _histogram(waits: Sequence[Wait]) -> list[Bin]:
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


def local_text(ms: int, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return datetime.fromtimestamp(ms / 1000, tz).strftime(fmt)
