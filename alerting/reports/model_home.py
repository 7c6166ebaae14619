"""The home-bed figures of the report as typed data (家庭养老床位: a home call reaches a person
who answers): the calls and how fast a person answered them, the first human contact, the
operator's outcomes, the daily check-in and the month's welfare visits (月探访率).
compute/home_beds.py makes them from rows; times are epoch ms (`*_ms`), durations seconds,
shares fractions 0..1. Residents appear by their id in the site file, never by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerting.reports.model import Durations


@dataclass(frozen=True, slots=True)
class HomeCall:
    """One home call (an alert of a home-bed site raised in the period) as the console's audit
    rows tell it: when a person first answered and first spoke to someone, and the outcomes."""

    alert_id: int
    rule: str
    priority: str
    device_id: str
    raised_ms: int
    answered_ms: int | None  # the first person's ack, outcome or contact attempt
    answered_by: str | None
    answer: str | None  # the audit action that answered it: ack, outcome, contact, resolve...
    contact_ms: int | None  # first human contact: a contact reached, or the acknowledgement
    contact: str | None  # "reached" (a contact answered the phone) or "ack"
    attempts: int  # contact attempts (reached or not)
    outcomes: list[str]  # outcome codes in the order recorded
    closed_ms: int | None


@dataclass(frozen=True, slots=True)
class OutcomeCount:
    """Calls that got one outcome code (a call with two outcomes counts under both)."""

    code: str
    calls: int
    help_sent: bool  # the code sends a person or service to the home


@dataclass(frozen=True, slots=True)
class CallFigures:
    """How a group of home calls (all, or the emergency ones) was answered."""

    group: str  # "all" or "emergency"
    calls: int
    answered: int
    unanswered: int  # no person's answer when the report was made
    pending: int  # unanswered and younger than 60 s: left out of the share
    within_60s: int
    share_within_60s: float | None  # within_60s / (calls - pending)
    to_answer: Durations
    to_contact: Durations  # raise -> first human contact
    no_contact: int  # calls without a human contact
    outcomes: list[OutcomeCount]  # every code of alerting/outcomes.py, in its order
    without_outcome: int
    help_sent: int  # calls with at least one help-sending outcome


@dataclass(frozen=True, slots=True)
class ResidentCheckin:
    """One resident's daily check-ins: days due in the period, days on time, the days missed."""

    resident: str
    checkin_by: str  # HH:MM local
    days: int
    on_time: int
    missed: list[str]  # local dates (YYYY-MM-DD) a daily_checkin alert was raised


@dataclass(frozen=True, slots=True)
class CheckinFigures:
    """Check-in compliance over the period: days on time / days due, all residents."""

    days: int
    on_time: int
    share: float | None
    residents: list[ResidentCheckin]


@dataclass(frozen=True, slots=True)
class WorkerVisits:
    """One community worker's welfare visits in the month: residents planned to them, those they
    visited (outcome `visited`), and how many such visits they made."""

    worker: str
    sites: list[str]  # the sites planned to them or visited by them
    planned: int
    visited: int
    rate: float | None  # visited / planned
    visits: int


@dataclass(frozen=True, slots=True)
class SiteVisits:
    """A home bed's visit rate for the month (月探访率): residents with at least one visit /
    residents planned (the site's `visits` plan covers every resident)."""

    worker: str | None  # the planned worker (None: the site has no plan)
    every_days: int | None
    planned: int
    visited: int
    rate: float | None
    visits: int  # visits counted, any worker
    not_visited: list[str]  # resident ids planned but not visited


@dataclass(frozen=True, slots=True)
class HomeBedFigures:
    """The home-bed section of one site's report: calls over [start_ms, end_ms), check-ins over
    the same period, and the visits of the month `month` ([month_start_ms, month_end_ms),
    counted up to the report's time)."""

    site_id: str
    start_ms: int
    end_ms: int
    calls: CallFigures
    emergency: CallFigures
    checkin: CheckinFigures
    month: str  # YYYY-MM, site time zone
    month_start_ms: int
    month_end_ms: int
    visits: SiteVisits
    workers: list[WorkerVisits]
    items: list[HomeCall]


@dataclass(frozen=True, slots=True)
class HomeBedTotals:
    """Every home bed the caller may read, summed: calls (medians over all calls), check-ins,
    the visit rate, and each worker across their sites."""

    sites: int
    calls: CallFigures
    emergency: CallFigures
    checkin_days: int
    checkin_on_time: int
    checkin_share: float | None
    planned: int
    visited: int
    visit_rate: float | None
    workers: list[WorkerVisits]
