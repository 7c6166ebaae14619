"""The watch report's figures over the known week (tests/report_week.py): response times,
counts, shifts and alarm load, each against numbers worked out by hand."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from alerting.reports.shifts import ShiftDef, parse_hhmm
from tests.report_week import END, close, t

TZ = ZoneInfo("Asia/Shanghai")
SHIFTS = [
    ShiftDef("早班", parse_hhmm("07:00"), "Day"),
    ShiftDef("中班", parse_hhmm("15:00"), "Evening"),
    ShiftDef("夜班", parse_hhmm("23:00"), "Night"),
]


# --- response times ----------------------------------------------------------------------


def test_emergency_calls_answered_within_60_s_and_how_fast(report):
    e = report.responses_for("emergency")
    assert (e.alerts, e.waits, e.answered, e.unanswered, e.pending) == (15, 16, 15, 1, 0)
    assert (e.within_60s, e.late) == (12, 3)
    assert e.share_within_60s == 0.75  # against the careline 98.5 %
    assert (e.to_ack.count, e.to_ack.median_s, e.to_ack.p90_s, e.to_ack.max_s) == (15, 40, 75, 180)
    assert close(e.to_ack.mean_s, 698 / 15)
    # raise -> closed: 120 180 180 240 300 300 330 360 600 600 600 600 900 900, one open
    assert (e.to_resolve.count, e.to_resolve.median_s, e.to_resolve.p90_s) == (14, 345, 900)
    assert (e.to_resolve.max_s, e.still_open) == (900, 1)


def test_routine_trouble_and_all(report):
    r = report.responses_for("routine")  # pressure dip 270 s, chattering monitor 300 s
    assert (r.alerts, r.waits, r.within_60s, r.share_within_60s) == (2, 2, 0, 0.0)
    assert (r.to_ack.median_s, r.to_ack.max_s, r.to_resolve.median_s) == (285, 300, 435)
    tr = report.responses_for("trouble")  # battery never, offline 1200 s and 300 s
    assert (tr.alerts, tr.waits, tr.answered, tr.unanswered) == (3, 3, 2, 1)
    assert (tr.to_ack.median_s, tr.to_ack.max_s) == (750, 1200)
    assert (tr.to_resolve.count, tr.to_resolve.median_s, tr.still_open) == (2, 5100, 1)
    a = report.responses_for("all")
    assert (a.alerts, a.waits, a.answered, a.within_60s) == (20, 21, 19, 12)
    assert close(a.share_within_60s, 12 / 21)


def test_late_and_unanswered_calls_are_listed_with_room_bed_and_who(report):
    late = [(w.device_id, w.number, w.seconds, w.answer, w.answered_by) for w in report.late]
    assert late == [
        ("cb-203-1", 1, 75, "ack", "nurse-li"),
        ("cb-301-1", 1, 180, "reset", "device:cb-301-1"),
        ("cb-207-1", 2, 70, "ack", "nurse-li"),
    ]
    assert [(w.device_id, w.rule, w.priority) for w in report.unanswered] == [
        ("cb-212-1", "call", "emergency"),
        ("cb-105-1", "battery_low", "trouble"),
    ]
    call = report.unanswered[0]
    assert (call.room, call.bed, call.floor, call.escalated_to) == ("212", "212-1", "2", "director")
    assert call.started_ms == t(6, "03:00:00") and call.shift == "夜班"
    # the last call of the period was answered after it ended: counted, 50 s
    last = report.waits[-1]
    assert (last.device_id, last.seconds, last.answered_ms > END) == ("cb-106-1", 50, True)


def test_ack_histogram_of_emergency_waits(report):
    assert [(b.label, b.count) for b in report.ack_histogram] == [
        ("0-15 s", 4),
        ("15-30 s", 3),
        ("30-60 s", 5),
        ("60-120 s", 2),
        ("120-300 s", 1),
        ("300-600 s", 0),
        ("> 600 s", 0),
        ("unanswered", 1),
    ]


# --- counts ---------------------------------------------------------------------------------


def test_alerts_by_rule_priority_floor_and_room(report):
    rows = [
        (
            r.rule,
            r.priority,
            r.alerts,
            r.annunciations,
            r.waits,
            r.within_60s,
            r.median_ack_s,
            r.max_ack_s,
        )
        for r in report.by_rule
    ]
    assert rows == [
        ("call", "emergency", 10, 11, 11, 7, 54, 180),
        ("fall", "emergency", 2, 2, 2, 2, 17.5, 20),
        ("smoke", "emergency", 2, 2, 2, 2, 25, 40),
        ("sos", "emergency", 1, 1, 1, 1, 8, 8),
        ("overcurrent", "routine", 1, 12, 1, 0, 300, 300),
        ("water_pressure_low", "routine", 1, 1, 1, 0, 270, 270),
        ("device_offline", "trouble", 2, 2, 2, 0, 750, 1200),
        ("battery_low", "trouble", 1, 1, 1, 0, None, None),
    ]
    assert report.by_rule[0].title_zh == "紧急呼叫"
    assert [(f.label, f.alerts, f.emergency, f.annunciations) for f in report.by_floor] == [
        ("1F", 8, 5, 8),
        ("2F", 8, 6, 20),
        ("3F", 4, 4, 4),
    ]
    rooms = [(r.room, r.alerts, r.annunciations) for r in report.by_room]
    assert rooms[:3] == [("2-utility", 2, 13), ("101", 2, 2), ("207", 1, 2)]
    assert len(rooms) == 18 and sum(r[1] for r in rooms) == 20


def test_timeline_per_watch_day(report):
    assert report.timeline_step == "day"
    assert [(b.emergency, b.routine, b.trouble) for b in report.timeline] == [
        (5, 0, 0),
        (1, 0, 1),
        (1, 0, 1),
        (0, 2, 1),
        (1, 0, 0),
        (4, 0, 0),
        (3, 0, 0),
    ]
    assert report.timeline[1].start_ms == t(1, "07:00:00")


# --- shifts ---------------------------------------------------------------------------------


def test_figures_per_shift_and_per_shift_name(report):
    assert len(report.shifts) == 21
    first = report.shifts[0]
    assert (first.name, first.date, first.start_ms, first.end_ms) == (
        "早班",
        "2026-03-02",
        t(0, "07:00:00"),
        t(0, "15:00:00"),
    )
    night = next(s for s in report.shifts if s.name == "夜班" and s.date == "2026-03-02")
    assert (night.alerts, night.emergency.waits, night.emergency.within_60s) == (2, 2, 0)
    assert (night.emergency.share_within_60s, night.emergency.to_ack.median_s) == (0.0, 127.5)
    tue = next(s for s in report.shifts if s.name == "早班" and s.date == "2026-03-03")
    assert (tue.alerts, tue.unanswered, tue.emergency.waits) == (2, 1, 1)
    quiet = next(s for s in report.shifts if s.name == "早班" and s.date == "2026-03-06")
    assert (quiet.alerts, quiet.emergency.share_within_60s) == (0, None)
    totals = [
        (
            s.name,
            s.shifts,
            s.alerts,
            s.unanswered,
            s.emergency.waits,
            s.emergency.within_60s,
            s.emergency.to_ack.median_s,
        )
        for s in report.shift_totals
    ]
    assert totals == [
        ("早班", 7, 8, 1, 5, 5, 12),
        ("中班", 7, 6, 0, 6, 5, 35),
        ("夜班", 7, 6, 1, 5, 2, 67.5),
    ]
    assert close(report.shift_totals[1].emergency.share_within_60s, 5 / 6)


# --- alarm load (ISA-18.2) ------------------------------------------------------------------


def test_alarm_load_flood_chattering_stale_and_noisiest(report):
    load = report.load
    assert (load.annunciations, load.ten_minute_periods) == (32, 1008)
    assert close(load.per_10min, 32 / 1008)
    assert (load.peak_10min, load.peak_at_ms) == (12, t(3, "15:33:40"))
    assert (load.periods_over_10, load.share_periods_over_10) == (1, 1 / 1008)
    [flood] = load.floods
    assert (flood.start_ms, flood.end_ms, flood.seconds) == (
        t(3, "15:33:20"),
        t(3, "15:40:20"),
        420,
    )
    assert (flood.alarms, flood.top_device, flood.top_rule) == (12, "e-2f-panel", "overcurrent")
    assert load.flood_s == 420
    [chatter] = load.chattering
    assert (chatter.device_id, chatter.since_ms, chatter.annunciations) == (
        "e-2f-panel",
        t(3, "15:30:40"),
        12,
    )
    assert [(s.device_id, round(s.age_h, 2), s.state) for s in load.stale] == [
        ("cb-105-1", 141.0, "active_unack"),
        ("cb-212-1", 28.0, "active_unack"),
    ]
    assert [(n.key, n.annunciations) for n in load.top_devices] == [
        ("e-2f-panel", 12),
        ("cb-207-1", 2),
        ("cb-101-1", 1),
        ("cb-102-1", 1),
        ("cb-105-1", 1),
        ("cb-106-1", 1),
        ("cb-110-1", 1),
        ("cb-111-1", 1),
        ("cb-203-1", 1),
        ("cb-212-1", 1),
    ]
    assert load.top10_devices_share == 22 / 32
    assert [(n.key, n.annunciations) for n in load.top_rules] == [
        ("overcurrent", 12),
        ("call", 11),
        ("device_offline", 2),
        ("fall", 2),
        ("smoke", 2),
        ("battery_low", 1),
        ("sos", 1),
        ("water_pressure_low", 1),
    ]
    assert sum(load.per_period) == 32 and max(load.per_period) == 12
