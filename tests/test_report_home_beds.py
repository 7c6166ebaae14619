"""The home-bed figures of the report (issue 16, point 7 and the visit rate of point 5) from
synthetic audit and visit rows, written in the documented formats (alerting/outcomes.py
note helpers; the `visits` table's columns): calls answered within 60 s, the first human
contact, outcomes, check-in compliance and the monthly visit rate, per site and summed
across the district."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from alerting.outcomes import contact_note, outcome_note
from alerting.reports.compute.home_beds import (
    HomeSite,
    Resident,
    district_totals,
    home_bed_figures,
    month_span,
)
from alerting.reports.rows import AlertRow, AuditRow, VisitRow

TZ = ZoneInfo("Asia/Shanghai")


def ms(text: str) -> int:
    """Local wall-clock time in Shanghai as epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp() * 1000)


START = ms("2026-03-02T00:00")
END = ms("2026-03-09T00:00")
AS_OF = ms("2026-03-10T00:00")

SITE = HomeSite("hb-wang", TZ, [Resident("r-1", "10:00", "hb-wang-call")], "cw-zhao", 7)


class Rows:
    """Alerts and audit rows of one home bed, as the engine and the console write them."""

    def __init__(self) -> None:
        self.alerts: list[AlertRow] = []
        self.audit: list[AuditRow] = []

    def call(self, at: str, rule: str = "call", priority: str = "emergency",
             site: str = "hb-wang", device: str = "hb-wang-call") -> int:  # fmt: skip
        i = len(self.alerts) + 1
        t = ms(at)
        self.alerts.append(AlertRow(i, site, device, rule, priority, "high", "1", "home", t,
                                    "active_unack", 1, None))  # fmt: skip
        self.audit.append(AuditRow(i, t, "raise", None, "active_unack", None, None))
        return i

    def row(self, alert: int, after_s: float, action: str, to: str, by: str | None,
            note: str | None = None, frm: str = "active_unack") -> None:  # fmt: skip
        t = self.alerts[alert - 1].raised_at + int(after_s * 1000)
        self.audit.append(AuditRow(alert, t, action, frm, to, by, note))

    def figures(self, visits: list[VisitRow] | None = None, site: HomeSite = SITE,
                as_of: int = AS_OF, month: str | None = None):  # type: ignore[no-untyped-def]  # fmt: skip
        return home_bed_figures(site, self.alerts, self.audit, visits or [], START, END, as_of,
                                month)  # fmt: skip


def test_no_calls_gives_zeros_and_no_shares_rather_than_a_division_by_zero():
    f = Rows().figures()
    c = f.calls
    assert (c.calls, c.answered, c.within_60s, c.share_within_60s) == (0, 0, 0, None)
    assert c.to_contact.median_s is None and c.to_contact.p90_s is None
    assert [o.calls for o in c.outcomes] == [0] * 6 and c.without_outcome == 0
    assert f.items == []


def test_answered_within_60_s_by_an_ack_an_outcome_or_a_contact_attempt_of_a_person():
    r = Rows()
    a = r.call("2026-03-02T08:00")  # acknowledged by the operator after 20 s
    r.row(a, 20, "ack", "active_ack", "op-chen")
    b = r.call("2026-03-03T08:00")  # the operator called the daughter first, after 45 s
    r.row(b, 45, "contact", "active_unack", "op-chen", contact_note("daughter", "no_answer"))
    r.row(b, 90, "contact", "active_unack", "op-chen", contact_note("son", "reached"))
    c = r.call("2026-03-04T08:00")  # escalated by the watch, then answered late (75 s)
    r.row(c, 60, "escalate", "active_unack", "system:escalation", "family_1: step 1")
    r.row(c, 75, "outcome", "active_ack", "op-chen", outcome_note("family_on_way", "女儿在路上"))
    d = r.call("2026-03-05T08:00")  # never answered: only the watch escalated it
    r.row(d, 60, "escalate", "active_unack", "system:escalation", "family_1")
    f = r.figures()
    by_id = {x.alert_id: x for x in f.items}
    assert (by_id[a].answer, by_id[b].answer, by_id[c].answer) == ("ack", "contact", "outcome")
    assert by_id[d].answered_ms is None and by_id[d].answered_by is None
    calls = f.calls
    assert (calls.calls, calls.answered, calls.unanswered, calls.pending) == (4, 3, 1, 0)
    assert calls.within_60s == 2 and calls.share_within_60s == 0.5
    assert calls.to_answer.median_s == 45.0 and calls.to_answer.max_s == 75.0


def test_a_call_ringing_now_is_pending_not_late():
    r = Rows()
    r.call("2026-03-08T23:59:30")
    f = r.figures(as_of=ms("2026-03-08T23:59:50"))
    assert (f.calls.unanswered, f.calls.pending, f.calls.share_within_60s) == (1, 1, None)


def test_first_human_contact_is_a_contact_reached_or_the_acknowledgement_whichever_first():
    r = Rows()
    a = r.call("2026-03-02T08:00")  # reached the son at 90 s, never acknowledged before
    r.row(a, 45, "contact", "active_unack", "op-chen", contact_note("daughter", "no_answer"))
    r.row(a, 90, "contact", "active_unack", "op-chen", contact_note("son", "reached"))
    r.row(a, 100, "ack", "active_ack", "op-chen")
    b = r.call("2026-03-03T08:00")  # acknowledged at 30 s, family reached later
    r.row(b, 30, "ack", "active_ack", "op-chen")
    r.row(b, 120, "contact", "active_ack", "op-chen", contact_note("daughter", "reached"),
          frm="active_ack")  # fmt: skip
    c = r.call("2026-03-04T08:00")  # nobody reached, never acknowledged: no contact
    r.row(c, 50, "contact", "active_unack", "op-chen", contact_note("daughter", "no_answer"))
    d = r.call("2026-03-05T08:00")  # reset at the terminal: a device, not a person
    r.row(d, 10, "reset", "closed", "device:hb-wang-call")
    f = r.figures()
    by_id = {x.alert_id: x for x in f.items}
    assert (by_id[a].contact, (by_id[a].contact_ms or 0) - by_id[a].raised_ms) == (
        "reached",
        90_000,
    )
    assert (by_id[b].contact, (by_id[b].contact_ms or 0) - by_id[b].raised_ms) == ("ack", 30_000)
    assert by_id[c].contact is None and by_id[c].attempts == 1
    assert by_id[d].contact is None and by_id[d].answered_ms is None
    assert by_id[d].closed_ms == by_id[d].raised_ms + 10_000
    t = f.calls.to_contact
    assert (t.count, t.median_s, t.p90_s) == (2, 60.0, 90.0)
    assert f.calls.no_contact == 2


def test_outcomes_by_code_an_outcome_without_a_contact_and_calls_without_an_outcome():
    r = Rows()
    a = r.call("2026-03-02T08:00")  # outcome straight away: it acknowledges (the contact)
    r.row(a, 25, "outcome", "closed", "op-chen", outcome_note("false_alarm"))
    b = r.call("2026-03-03T08:00")
    r.row(b, 20, "ack", "active_ack", "op-chen")
    r.row(b, 300, "outcome", "active_ack", "op-chen", outcome_note("family_on_way"), "active_ack")
    r.row(b, 900, "outcome", "active_ack", "op-chen", outcome_note("ambulance_120", "胸痛"),
          "active_ack")  # fmt: skip
    c = r.call("2026-03-04T08:00")
    r.row(c, 15, "ack", "active_ack", "op-chen")
    r.row(c, 40, "outcome", "active_ack", "op-chen", "no_such_code", "active_ack")  # ignored
    f = r.figures()
    counts = {o.code: o.calls for o in f.calls.outcomes}
    assert list(counts) == ["false_alarm", "solved_by_phone", "family_on_way", "community_sent",
                            "ambulance_120", "fire_119"]  # fmt: skip
    assert counts == {"false_alarm": 1, "solved_by_phone": 0, "family_on_way": 1,
                      "community_sent": 0, "ambulance_120": 1, "fire_119": 0}  # fmt: skip
    assert f.calls.without_outcome == 1 and f.calls.help_sent == 1
    first = next(x for x in f.items if x.alert_id == a)
    assert (first.contact, first.answer, first.outcomes) == ("ack", "outcome", ["false_alarm"])
    assert first.contact_ms == first.raised_ms + 25_000


def test_emergency_calls_are_counted_apart_from_every_call():
    r = Rows()
    r.call("2026-03-02T08:00")
    r.call("2026-03-02T09:00", rule="callback_request", priority="routine")
    r.call("2026-03-02T10:00", rule="battery_low", priority="trouble")
    r.call("2026-03-02T11:00", site="riverside")  # another site: not this home's call
    r.call("2026-03-09T00:00")  # the period's end: the next report's
    f = r.figures()
    assert (f.calls.calls, f.emergency.calls) == (3, 1)


def test_check_in_compliance_counts_days_without_a_daily_checkin_alert():
    r = Rows()
    # no check-in by 10:00 on 3 and 6 March; another resident's alert is not r-1's
    r.call("2026-03-03T10:00", rule="daily_checkin", priority="routine")
    r.call("2026-03-06T10:00", rule="daily_checkin", priority="routine")
    r.call("2026-03-07T10:00", rule="daily_checkin", priority="routine", device="hb-wang-band")
    two = HomeSite("hb-wang", TZ, [Resident("r-1", "10:00", "hb-wang-call"),
                                  Resident("r-2", "09:00", "hb-wang-band"),
                                  Resident("r-3", None, "hb-wang-call")], None, None)  # fmt: skip
    c = r.figures(site=two).checkin
    r1, r2 = c.residents
    assert (r1.resident, r1.days, r1.on_time, r1.missed) == (
        "r-1",
        7,
        5,
        ["2026-03-03", "2026-03-06"],
    )
    assert (r2.resident, r2.days, r2.on_time, r2.missed) == ("r-2", 7, 6, ["2026-03-07"])
    assert (c.days, c.on_time) == (14, 11) and c.share == pytest.approx(11 / 14)
    # a report made on 4 March at 09:00: the 4th's check-in is not due yet
    early = r.figures(site=two, as_of=ms("2026-03-04T09:30")).checkin
    assert [(x.days, x.on_time) for x in early.residents] == [(2, 1), (3, 3)]


def visit(
    resident: str, worker: str, at: str, outcome: str = "visited", site: str = "hb-wang"
) -> VisitRow:
    return VisitRow(site, resident, worker, ms(at), outcome)


def test_the_month_runs_in_the_sites_time_zone():
    start, end = month_span("2026-03", TZ)
    assert start == ms("2026-03-01T00:00") and end == ms("2026-04-01T00:00")
    assert month_span("2026-12", TZ)[1] == ms("2027-01-01T00:00")
    two = HomeSite("hb-wang", TZ, [Resident("r-1", None, None), Resident("r-2", None, None)],
                   "cw-zhao", 7)  # fmt: skip
    visits = [
        visit("r-1", "cw-zhao", "2026-02-28T23:50"),  # February, local
        visit("r-1", "cw-zhao", "2026-04-01T00:10"),  # 31 March 16:10 UTC: April, local
        visit("r-2", "cw-zhao", "2026-03-31T23:59"),  # 31 March 15:59 UTC: March
    ]
    v = Rows().figures(visits, site=two, month="2026-03", as_of=ms("2026-04-02T00:00")).visits
    assert (v.planned, v.visited, v.rate, v.not_visited) == (2, 1, 0.5, ["r-1"])
    april = Rows().figures(visits, site=two, month="2026-04", as_of=ms("2026-04-02T00:00"))
    assert april.visits.visited == 1 and april.visits.not_visited == ["r-2"]


def test_the_visit_rate_counts_residents_seen_not_visits_and_not_a_failed_visit():
    two = HomeSite("hb-wang", TZ, [Resident("r-1", None, None), Resident("r-2", None, None)],
                   "cw-zhao", 7)  # fmt: skip
    visits = [
        visit("r-1", "cw-zhao", "2026-03-02T10:00"),
        visit("r-1", "cw-zhao", "2026-03-09T10:00"),
        visit("r-2", "cw-zhao", "2026-03-09T10:30", "not_home"),  # not seen: no visit
        visit("r-2", "cw-zhao", "2026-03-16T10:30", "refused"),  # turned away: no visit
    ]
    f = Rows().figures(visits, site=two, as_of=ms("2026-03-31T12:00"))
    assert f.month == "2026-03"  # the month the report's period starts in
    assert (f.visits.planned, f.visits.visited, f.visits.visits, f.visits.rate) == (2, 1, 2, 0.5)
    [w] = f.workers
    assert (w.worker, w.planned, w.visited, w.visits, w.rate) == ("cw-zhao", 2, 1, 2, 0.5)
    # a site without a visit plan has no rate
    none = HomeSite("hb-wang", TZ, [Resident("r-1", None, None)], None, None)
    assert Rows().figures(visits, site=none).visits.rate is None


def test_a_visit_after_the_report_was_made_is_not_counted_yet():
    visits = [visit("r-1", "cw-zhao", "2026-03-20T10:00")]
    f = Rows().figures(visits, as_of=ms("2026-03-15T00:00"))
    assert (f.visits.visited, f.visits.rate) == (0, 0.0)


def test_a_worker_with_two_sites_and_a_stand_in_summed_across_the_district():
    a = HomeSite("hb-wang", TZ, [Resident("r-1", "10:00", "hb-wang-call")], "cw-zhao", 7)
    b = HomeSite("hb-li", TZ, [Resident("r-1", None, None), Resident("r-2", None, None)],
                 "cw-zhao", 14)  # fmt: skip
    c = HomeSite("hb-sun", TZ, [Resident("r-1", None, None)], "cw-qian", 7)
    visits = [
        visit("r-1", "cw-zhao", "2026-03-03T10:00"),  # hb-wang r-1 (same id, other site)
        visit("r-1", "cw-zhao", "2026-03-04T10:00", site="hb-li"),
        visit("r-2", "cw-qian", "2026-03-05T10:00", site="hb-li"),  # a stand-in visited
    ]
    rw, rl, rs = Rows(), Rows(), Rows()
    x = rw.call("2026-03-02T08:00")
    rw.row(x, 30, "ack", "active_ack", "op-chen")
    y = rl.call("2026-03-03T08:00", site="hb-li", device="hb-li-call")
    rl.row(y, 90, "ack", "active_ack", "op-chen")
    rl.call("2026-03-03T09:00", site="hb-li", device="hb-li-call")  # never answered
    as_of = ms("2026-04-01T00:00")
    figs = [r.figures(visits, site=s, as_of=as_of) for r, s in ((rw, a), (rl, b), (rs, c))]
    li = figs[1]
    assert (li.visits.planned, li.visits.visited, li.visits.not_visited) == (2, 2, [])
    assert {w.worker: (w.planned, w.visited) for w in li.workers} == {
        "cw-zhao": (2, 1),  # r-2 was seen, but not by the planned worker
        "cw-qian": (0, 0),
    }
    total = district_totals(figs, as_of)
    assert (total.sites, total.planned, total.visited) == (3, 4, 3)
    assert total.visit_rate == 0.75
    workers = {w.worker: w for w in total.workers}
    assert (workers["cw-zhao"].planned, workers["cw-zhao"].visited) == (3, 2)
    assert workers["cw-zhao"].sites == ["hb-li", "hb-wang"]
    assert (workers["cw-qian"].planned, workers["cw-qian"].visited, workers["cw-qian"].visits) == (
        1,
        0,
        1,
    )
    assert workers["cw-qian"].sites == ["hb-li", "hb-sun"]
    # the calls of every site together: the median of all calls, not of the sites' medians
    assert (total.calls.calls, total.calls.answered, total.calls.within_60s) == (3, 2, 1)
    assert total.calls.to_answer.median_s == 60.0
    assert (total.checkin_days, total.checkin_share) == (7, 1.0)
