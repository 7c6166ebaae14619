"""The home-bed figures from rows: pure (no clock, no I/O), so a test feeds synthetic audit
and visit rows. docs/home-beds.md ("Report") says the same for readers.

- A *home call* is an alert of a home-bed site raised in the period, whatever its
  priority: everything the call-centre console queues.
- *Answered*: the first audit row of the call written by a person (not the watch,
  `system:*`, nor a device, `device:*`) that acknowledges it, resolves it, or records an
  outcome or a contact attempt (alerting/outcomes.py). Within 60 s: answered 60 s or less
  after the raise; a call unanswered and younger than 60 s when the report is made is
  *pending* and left out of the share, as the watch report does.
- *First human contact*: the earlier of the first contact attempt whose result is
  `reached` (someone answered the phone) and the first acknowledgement by a person (the
  operator took the call at the terminal). A call with neither had no human contact.
- *Outcomes*: the codes of the call's `outcome` audit rows (parse_outcome_note); a call
  with two outcomes counts under each, `without_outcome` counts calls with none.
- *Check-in compliance*: for each resident with `checkin_by`, every local day whose
  check-in hour falls in the period (and before the report is made) is due; a day is on
  time unless a `daily_checkin` alert about the resident (filed under
  Registry.resident_subject) was raised on that local date.
- *Visit rate* (月探访率) of a month in the site's zone: residents with at least one visit
  whose outcome counts as a visit (VISITED_OUTCOMES) in the month / residents planned
  (a site's `visits` plan covers all its residents). A worker's rate: residents planned to
  them that they visited themselves / residents planned to them, over all their sites.
- Percentiles as the watch report: median as usual, p90 by nearest rank.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from alerting.outcomes import (
    CONTACT_ACTION,
    OUTCOME_ACTION,
    OUTCOMES,
    parse_contact_note,
    parse_outcome_note,
)
from alerting.reports.compute.answers import ANSWER_WITHIN_S, durations
from alerting.reports.compute.history import UNACK, share
from alerting.reports.model_home import (
    CallFigures,
    CheckinFigures,
    HomeBedFigures,
    HomeBedTotals,
    HomeCall,
    OutcomeCount,
    ResidentCheckin,
    SiteVisits,
    WorkerVisits,
)
from alerting.reports.rows import AlertRow, AuditRow, VisitRow
from alerting.reports.shifts import local_date, local_ms, parse_hhmm

CHECKIN_RULE = "daily_checkin"  # contracts: no check-in by `checkin_by` raises this rule
# visit outcomes that count for the visit rate: the worker saw the resident. A visit that
# found nobody at home (`not_home`) or was turned away (`refused`) is recorded, not counted
VISITED_OUTCOMES = frozenset({"visited"})
REACHED = "reached"
NOT_PEOPLE = ("system:", "device:")  # `by` of the watch itself and of a device (a reset)


def by_person(by: str | None) -> bool:
    """Whether an audit row was written by a person (an operator, a nurse), not the watch or a
    device: only a person answers a home call."""
    return bool(by) and not str(by).startswith(NOT_PEOPLE)


def home_call(alert: AlertRow, audit: Iterable[AuditRow]) -> HomeCall:
    """One call's answer, first human contact and outcomes from its audit rows (in order)."""
    answered: AuditRow | None = None
    ack_ms: int | None = None
    reached_ms: int | None = None
    attempts = 0
    outcomes: list[str] = []
    closed: int | None = None
    for r in audit:
        if r.to_state == "closed" and closed is None:
            closed = r.at
        if not by_person(r.by):
            continue
        if r.action == CONTACT_ACTION:
            parsed = parse_contact_note(r.note)
            if parsed is None:
                continue
            attempts += 1
            if parsed[1] == REACHED and reached_ms is None:
                reached_ms = r.at
        elif r.action == OUTCOME_ACTION:
            code = parse_outcome_note(r.note)
            if code is None:
                continue
            outcomes.append(code)
        if ack_ms is None and r.to_state not in UNACK and r.action != CONTACT_ACTION:
            ack_ms = r.at
        if answered is None and (
            r.action in (OUTCOME_ACTION, CONTACT_ACTION) or r.to_state not in UNACK
        ):
            answered = r
    firsts = [(t, how) for t, how in ((reached_ms, REACHED), (ack_ms, "ack")) if t is not None]
    contact_ms, contact = min(firsts) if firsts else (None, None)
    return HomeCall(
        alert_id=alert.id,
        rule=alert.rule,
        priority=alert.priority,
        device_id=alert.device_id,
        raised_ms=alert.raised_at,
        answered_ms=answered.at if answered else None,
        answered_by=answered.by if answered else None,
        answer=answered.action if answered else None,
        contact_ms=contact_ms,
        contact=contact,
        attempts=attempts,
        outcomes=outcomes,
        closed_ms=closed,
    )


def home_calls(
    alerts: Sequence[AlertRow], audit: Sequence[AuditRow], site: str, start_ms: int, end_ms: int
) -> list[HomeCall]:
    """The calls of `site` raised in [start_ms, end_ms), oldest first."""
    rows: dict[int, list[AuditRow]] = {}
    for r in audit:
        rows.setdefault(r.alert_id, []).append(r)
    calls = [
        home_call(a, rows.get(a.id, ()))
        for a in alerts
        if a.site == site and start_ms <= a.raised_at < end_ms
    ]
    calls.sort(key=lambda c: (c.raised_ms, c.alert_id))
    return calls


def call_figures(group: str, calls: Sequence[HomeCall], as_of_ms: int) -> CallFigures:
    """How `calls` were answered: within 60 s (pending ones out of the share), time to answer
    and to first human contact, outcomes by code."""
    answer_s = [(c.answered_ms - c.raised_ms) / 1000 for c in calls if c.answered_ms is not None]
    contact_s = [(c.contact_ms - c.raised_ms) / 1000 for c in calls if c.contact_ms is not None]
    pending = sum(
        1
        for c in calls
        if c.answered_ms is None and as_of_ms - c.raised_ms < ANSWER_WITHIN_S * 1000
    )
    within = sum(1 for s in answer_s if s <= ANSWER_WITHIN_S)
    outcomes = [
        OutcomeCount(code, sum(1 for c in calls if code in c.outcomes), o.help_sent)
        for code, o in OUTCOMES.items()
    ]
    return CallFigures(
        group=group,
        calls=len(calls),
        answered=len(answer_s),
        unanswered=len(calls) - len(answer_s),
        pending=pending,
        within_60s=within,
        share_within_60s=share(within, len(calls) - pending),
        to_answer=durations(answer_s),
        to_contact=durations(contact_s),
        no_contact=len(calls) - len(contact_s),
        outcomes=outcomes,
        without_outcome=sum(1 for c in calls if not c.outcomes),
        help_sent=sum(1 for c in calls if any(OUTCOMES[o].help_sent for o in c.outcomes)),
    )


# --- check-ins ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resident:
    """What the figures need of a resident of the site file: the id, the check-in hour (None:
    no daily check-in) and the device their alerts are filed under (resident_subject)."""

    id: str
    checkin_by: str | None
    subject: str | None


def checkin_figures(
    residents: Sequence[Resident],
    alerts: Sequence[AlertRow],
    site: str,
    tz: ZoneInfo,
    start_ms: int,
    end_ms: int,
    as_of_ms: int,
) -> CheckinFigures:
    """Days due and days on time of every resident with a check-in hour, over the period."""
    until = min(end_ms, as_of_ms)
    out = []
    for res in residents:
        if res.checkin_by is None:
            continue
        at = parse_hhmm(res.checkin_by)
        due = _due_days(at, tz, start_ms, until)
        missed = sorted(
            {
                local_date(a.raised_at, tz)
                for a in alerts
                if a.site == site and a.rule == CHECKIN_RULE and a.device_id == res.subject
            }
            & set(due)
        )
        out.append(
            ResidentCheckin(
                resident=res.id,
                checkin_by=res.checkin_by,
                days=len(due),
                on_time=len(due) - len(missed),
                missed=[d.isoformat() for d in missed],
            )
        )
    days = sum(r.days for r in out)
    on_time = sum(r.on_time for r in out)
    return CheckinFigures(days, on_time, share(on_time, days), out)


def _due_days(at: time, tz: ZoneInfo, start_ms: int, until_ms: int) -> list[date]:
    """The local dates whose `at` falls in [start_ms, until_ms)."""
    if until_ms <= start_ms:
        return []
    out = []
    day = local_date(start_ms, tz) - timedelta(days=1)
    last = local_date(until_ms, tz)
    while day <= last:
        if start_ms <= local_ms(day, at, tz) < until_ms:
            out.append(day)
        day += timedelta(days=1)
    return out


# --- visits ------------------------------------------------------------------------------


def month_span(month: str, tz: ZoneInfo) -> tuple[int, int]:
    """[start, end) in epoch ms of the calendar month "YYYY-MM" in `tz`; ValueError if it is
    no month."""
    year, mon = (int(p) for p in month.split("-"))
    first = date(year, mon, 1)
    after = date(year + mon // 12, mon % 12 + 1, 1)
    return local_ms(first, time(0, 0), tz), local_ms(after, time(0, 0), tz)


def month_of(ms: int, tz: ZoneInfo) -> str:
    """The calendar month ("YYYY-MM") of epoch ms in `tz`."""
    return local_date(ms, tz).strftime("%Y-%m")


def counted(visits: Iterable[VisitRow], start_ms: int, until_ms: int) -> list[VisitRow]:
    """The visits in [start_ms, until_ms) whose outcome means the resident was seen."""
    return [v for v in visits if start_ms <= v.at_ms < until_ms and v.outcome in VISITED_OUTCOMES]


def site_visits(
    worker: str | None,
    every_days: int | None,
    residents: Sequence[str],
    visits: Sequence[VisitRow],
) -> SiteVisits:
    """One site's visit rate from its counted visits of the month (counted())."""
    planned = list(residents) if worker is not None else []
    seen = {v.resident for v in visits}
    visited = [r for r in planned if r in seen]
    return SiteVisits(
        worker=worker,
        every_days=every_days,
        planned=len(planned),
        visited=len(visited),
        rate=share(len(visited), len(planned)),
        visits=len(visits),
        not_visited=[r for r in planned if r not in seen],
    )


def worker_visits(
    plans: Mapping[str, tuple[str, Sequence[str]]], visits: Sequence[VisitRow]
) -> list[WorkerVisits]:
    """Each worker's rate: `plans` maps a site to (its planned worker, its residents);
    `visits` the counted visits of the month. Workers who visited without a plan are listed
    too (planned 0, no rate)."""
    workers = sorted({w for w, _ in plans.values()} | {v.worker for v in visits})
    out = []
    for w in workers:
        mine = [(s, r) for s, (pw, rs) in plans.items() if pw == w for r in rs]
        done = {(v.site, v.resident) for v in visits if v.worker == w}
        visited = sum(1 for key in mine if key in done)
        sites = sorted({s for s, _ in mine} | {v.site for v in visits if v.worker == w})
        out.append(
            WorkerVisits(
                worker=w,
                sites=sites,
                planned=len(mine),
                visited=visited,
                rate=share(visited, len(mine)),
                visits=sum(1 for v in visits if v.worker == w),
            )
        )
    return out


# --- the section and the district --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HomeSite:
    """What the figures need of a home-bed site: its id, zone, residents and visit plan."""

    id: str
    tz: ZoneInfo
    residents: Sequence[Resident]
    worker: str | None  # the visit plan's worker (None: no plan)
    every_days: int | None


def home_bed_figures(
    site: HomeSite,
    alerts: Sequence[AlertRow],
    audit: Sequence[AuditRow],
    visits: Sequence[VisitRow],
    start_ms: int,
    end_ms: int,
    as_of_ms: int,
    month: str | None = None,
) -> HomeBedFigures:
    """The home-bed section over [start_ms, end_ms) as known at `as_of_ms`; the visit rate of
    `month` (default: the month the period starts in), counted up to `as_of_ms`."""
    end_ms = min(end_ms, as_of_ms)
    month = month or month_of(start_ms, site.tz)
    m_start, m_end = month_span(month, site.tz)
    calls = home_calls(alerts, audit, site.id, start_ms, end_ms)
    seen = counted((v for v in visits if v.site == site.id), m_start, min(m_end, as_of_ms + 1))
    ids = [r.id for r in site.residents]
    plans = {site.id: (site.worker, ids)} if site.worker else {}
    return HomeBedFigures(
        site_id=site.id,
        start_ms=start_ms,
        end_ms=end_ms,
        calls=call_figures("all", calls, as_of_ms),
        emergency=call_figures(
            "emergency", [c for c in calls if c.priority == "emergency"], as_of_ms
        ),
        checkin=checkin_figures(
            site.residents, alerts, site.id, site.tz, start_ms, end_ms, as_of_ms
        ),
        month=month,
        month_start_ms=m_start,
        month_end_ms=m_end,
        visits=site_visits(site.worker, site.every_days, ids, seen),
        workers=worker_visits(plans, seen),
        items=calls,
    )


def district_totals(figures: Sequence[HomeBedFigures], as_of_ms: int) -> HomeBedTotals:
    """Every site's section summed: the calls' figures over all calls (medians of all, not of
    medians), check-ins and visits added, each worker over all their sites."""
    calls = sorted((c for f in figures for c in f.items), key=lambda c: c.raised_ms)
    days = sum(f.checkin.days for f in figures)
    on_time = sum(f.checkin.on_time for f in figures)
    planned = sum(f.visits.planned for f in figures)
    visited = sum(f.visits.visited for f in figures)
    workers: dict[str, list[WorkerVisits]] = {}
    for f in figures:
        for w in f.workers:
            workers.setdefault(w.worker, []).append(w)
    merged = []
    for name in sorted(workers):
        ws = workers[name]
        p = sum(w.planned for w in ws)
        v = sum(w.visited for w in ws)
        merged.append(
            WorkerVisits(
                worker=name,
                sites=sorted({s for w in ws for s in w.sites}),
                planned=p,
                visited=v,
                rate=share(v, p),
                visits=sum(w.visits for w in ws),
            )
        )
    return HomeBedTotals(
        sites=len(figures),
        calls=call_figures("all", calls, as_of_ms),
        emergency=call_figures(
            "emergency", [c for c in calls if c.priority == "emergency"], as_of_ms
        ),
        checkin_days=days,
        checkin_on_time=on_time,
        checkin_share=share(on_time, days),
        planned=planned,
        visited=visited,
        visit_rate=share(visited, planned),
        workers=merged,
    )
