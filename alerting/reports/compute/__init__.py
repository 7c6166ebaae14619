"""The watch report from rows: pure (no clock, no I/O), so a test can feed a known week.

Definitions (docs/reports.md says the same for readers of the report):

- A *wait* is a time staff had to answer an alert: it starts when the alert is raised, or
  when it comes back (a new occurrence) after someone acknowledged it, and ends at the
  first staff response: acknowledge, resolve, reset at the bedside (`cancel` from the
  call button), a supervisor's override of that reset, dismiss or confirm a fire alarm,
  shelve. Time to acknowledge is that wait.
- Overrides: calls a supervisor reset from afar (audit `override_reset`) in the period.
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

from collections.abc import Sequence
from typing import Literal

from alerting.reports.compute.answers import (
    ANSWER_WITHIN_S,
    ack_histogram,
    alert_waits,
    group_responses,
)
from alerting.reports.compute.counts import place_counts, rule_counts, timeline_of
from alerting.reports.compute.devices import device_figures
from alerting.reports.compute.equipment_faults import equipment_faults
from alerting.reports.compute.fire import fire_figures
from alerting.reports.compute.history import (
    ANNUNCIATE,
    DAY_MS,
    HOUR_MS,
    PRIORITIES,
    Context,
    read_alerts,
)
from alerting.reports.compute.load import alarm_load
from alerting.reports.compute.overrides import override_figures
from alerting.reports.compute.per_shift import shift_figures, shift_totals
from alerting.reports.model import SeriesFigure, WatchReport
from alerting.reports.rows import StoreRows
from alerting.reports.shifts import ShiftDef, shift_spans
from alerting.ruleset import RuleSet
from devices.registry import Registry


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
    ctx = Context(registry, rules)
    alerts = read_alerts(rows, registry, as_of_ms)
    spans = shift_spans(shifts, rules.tz, start_ms, end_ms)

    def shift_of(ms: int) -> str | None:
        return next((s.name for s in spans if s.start_ms <= ms < s.end_ms), None)

    all_waits = [w for a in alerts.values() for w in alert_waits(a, shift_of)]
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

    responses = [group_responses(p, waits, raised, as_of_ms) for p in PRIORITIES]
    responses.append(group_responses("all", waits, raised, as_of_ms))
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
        by_rule=rule_counts(ctx, raised, waits, annunciations, alerts),
        by_floor=place_counts(ctx, raised, annunciations, alerts, rooms=False),
        by_room=place_counts(ctx, raised, annunciations, alerts, rooms=True),
        shifts=[shift_figures(s, waits, raised, as_of_ms) for s in spans],
        shift_totals=shift_totals(shifts, spans, waits, raised, as_of_ms),
        load=alarm_load(ctx, alerts, annunciations, start_ms, end_ms),
        devices=device_figures(ctx, alerts, rows, start_ms, end_ms),
        fire=fire_figures(ctx, raised, waits, equipment),
        overrides=override_figures(alerts.values(), start_ms, end_ms),
        timeline_step=step,
        timeline=timeline_of(raised, start_ms, end_ms, HOUR_MS if step == "hour" else DAY_MS),
        ack_histogram=ack_histogram([w for w in waits if w.priority == "emergency"]),
        waits=waits,
        equipment_faults=equipment_faults(ctx, alerts, start_ms, end_ms),
    )
