"""The watch report over a known week: the engine on a fake clock is fed seven days of
scripted calls, falls, smoke, a chattering electrical monitor, offline devices, a low
battery and a maintenance window (Asia/Shanghai, shifts 07/15/23 h); every figure of the
report is checked against numbers worked out by hand from the script below.

Emergency waits (seconds to the first staff response), in order:
  12, 45, 15 (fall), 75, 180 (reset at the bedside), 10 (smoke), 30 and 70 (the same
  call pressed again after the ack), 40 (smoke, forwarded at 15 s), 8 (SOS), 58, 60,
  never, 20 (fall), 25, 50 (answered after the period ended)
  -> 16 waits, 15 answered, 12 within 60 s: 75 %; sorted answered
     8 10 12 15 20 25 30 40 45 50 58 60 70 75 180: median 40, p90 (14th of 15) 75, max 180.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerting.defaults import default_rules
from alerting.items import Command
from alerting.reports.compute import build_report
from alerting.reports.model import WatchReport
from alerting.reports.service import ReportService
from alerting.reports.shifts import ShiftDef, parse_hhmm, previous_shift, shift_at
from alerting.reports.source import PointStats, equipment, load_rows
from alerting.ruleset import Override, RuleSet
from devices.registry import Registry
from ingest.spool import EmbeddedReadings
from tests.engine_harness import Harness

TZ = ZoneInfo("Asia/Shanghai")
SHIFTS = [
    ShiftDef("早班", parse_hhmm("07:00"), "Day"),
    ShiftDef("中班", parse_hhmm("15:00"), "Evening"),
    ShiftDef("夜班", parse_hhmm("23:00"), "Night"),
]


def t(day: int, hms: str) -> int:
    """Epoch ms of 2026-03-(2+day) hh:mm:ss in Shanghai (day 0 = Monday 2 March)."""
    h, m, s = (int(x) for x in hms.split(":"))
    return int(datetime(2026, 3, 2 + day, h, m, s, tzinfo=TZ).timestamp() * 1000)


START = t(0, "07:00:00")
END = t(7, "07:00:00")
AS_OF = t(7, "08:00:00")
WEEK_S = 7 * 86400


def week_rules() -> RuleSet:
    # supervision far beyond the week: offline episodes come from last wills only
    return RuleSet(
        default_rules(), [Override(rule="device_offline", set={"supervision_s": 30 * 86400})]
    )


class Week:
    """Drives the harness to absolute times, serving every deadline when it falls due."""

    def __init__(self, path: Path, registry: Registry, begin_ms: int) -> None:
        self.h = Harness(path, registry, rules=week_rules())
        self.h.clock.t = begin_ms
        self.h.tick()
        self.n = 0

    def at(self, ms: int) -> None:
        h = self.h
        assert ms >= h.clock.t
        while (due := h.engine.next_due_ms()) is not None and due <= ms:
            h.clock.t = max(h.clock.t, due)
            h.tick()
        h.clock.t = ms
        h.tick()

    def event(self, ms: int, device: str, event: str) -> None:
        self.at(ms)
        self.n += 1
        self.h.send(device, "event", f'{{"event":"{event}","id":"w{self.n}"}}')

    def telemetry(self, ms: int, device: str, fields: str) -> None:
        self.at(ms)
        self.h.send(device, "telemetry", fields)

    def offline(self, ms: int, device: str) -> None:
        self.at(ms)
        self.h.send(device, "status", '{"online": false}')

    def alert(self, device: str, rule: str) -> int:
        row = self.h.conn.execute(
            "SELECT id FROM alerts WHERE device_id = ? AND rule = ? ORDER BY id DESC",
            (device, rule),
        ).fetchone()
        return int(row[0])

    def cmd(
        self,
        ms: int,
        action: str,
        device: str,
        rule: str,
        by: str = "nurse-li",
        note: str = "checked",
    ) -> None:
        self.at(ms)
        cmd = Command(action, self.alert(device, rule), by, note)  # type: ignore[arg-type]
        r = self.h.engine.process([cmd])
        assert r.results[0].ok, (action, device, r.results[0].error)

    def call(self, ms: int, device: str, ack_s: float | None, cancel_s: float | None) -> None:
        self.event(ms, device, "press")
        if ack_s is not None:
            self.cmd(ms + int(ack_s * 1000), "ack", device, "call")
        if cancel_s is not None:
            self.event(ms + int(cancel_s * 1000), device, "cancel")


def simulate_week(path: Path, registry: Registry, offset_days: int = 0) -> Harness:
    """The scripted week; `offset_days` moves all of it by whole days (Shanghai has no
    daylight saving, so local times stay the same)."""
    off = offset_days * 86_400_000

    def T(day: int, hms: str) -> int:
        return t(day, hms) + off

    w = Week(path, registry, START - 3_600_000 + off)
    # Monday 2 March
    w.call(T(0, "08:00:00"), "cb-101-1", 12, 300)
    w.call(T(0, "09:00:00"), "cb-102-1", 45, 360)
    w.telemetry(T(0, "12:00:00"), "p-2f-riser", '{"pressure_mpa": 0.42}')
    w.telemetry(
        T(0, "12:00:00"),
        "e-1f-panel",
        '{"residual_current_ma": 120, "cable_temp_c": 45, "current_a": 30}',
    )
    for panel, ma, temp, amps in (("e-2f-panel", 95, 41, 22), ("e-3f-panel", 140, 48, 35)):
        w.telemetry(
            T(0, "12:00:00"),
            panel,
            f'{{"residual_current_ma": {ma}, "cable_temp_c": {temp}, "current_a": {amps}}}',
        )
    w.event(T(0, "16:00:00"), "w-201-1", "fall")
    w.cmd(T(0, "16:00:15"), "ack", "w-201-1", "fall")
    w.cmd(T(0, "16:10:00"), "resolve", "w-201-1", "fall")
    w.call(T(0, "23:30:00"), "cb-203-1", 75, 600)
    # Tuesday: a call reset at the bedside without an ack, a low battery, a toast
    w.call(T(1, "02:00:00"), "cb-301-1", None, 180)
    w.telemetry(T(1, "10:00:00"), "cb-105-1", '{"battery_pct": 12}')
    w.event(T(1, "14:00:00"), "sd-204", "smoke_alarm")
    w.cmd(T(1, "14:00:10"), "ack", "sd-204", "smoke", by="nurse-wang")
    w.cmd(T(1, "14:02:00"), "dismiss", "sd-204", "smoke", by="nurse-wang", note="烤面包 toast")
    # Wednesday: a wearable offline 2.5 h; a call pressed again after its ack
    w.offline(T(2, "10:00:00"), "w-101-1")
    w.cmd(T(2, "10:20:00"), "ack", "w-101-1", "device_offline")
    w.telemetry(T(2, "12:30:00"), "w-101-1", '{"battery_pct": 80}')
    w.call(T(2, "20:00:00"), "cb-207-1", 30, None)
    w.event(T(2, "20:10:00"), "cb-207-1", "press")
    w.cmd(T(2, "20:11:10"), "ack", "cb-207-1", "call")
    w.event(T(2, "20:15:00"), "cb-207-1", "cancel")
    # Thursday: fire-water pressure dip; an electrical monitor chattering into a flood
    w.telemetry(T(3, "09:00:00"), "p-1f-riser", '{"pressure_mpa": 0.35}')
    w.telemetry(T(3, "11:00:00"), "p-1f-riser", '{"pressure_mpa": 0.08}')
    w.telemetry(T(3, "11:01:00"), "p-1f-riser", '{"pressure_mpa": 0.35}')
    w.cmd(T(3, "11:05:00"), "ack", "p-1f-riser", "water_pressure_low")
    for i in range(12):
        w.event(T(3, "15:30:00") + i * 20_000, "e-2f-panel", "overcurrent")
    w.cmd(T(3, "15:35:00"), "ack", "e-2f-panel", "overcurrent")
    w.cmd(T(3, "15:40:00"), "resolve", "e-2f-panel", "overcurrent")
    # Friday: a fire-water sensor offline 20 min; smoke not acknowledged in 15 s
    w.offline(T(4, "01:00:00"), "p-2f-riser")
    w.cmd(T(4, "01:05:00"), "ack", "p-2f-riser", "device_offline")
    w.telemetry(T(4, "01:20:00"), "p-2f-riser", '{"pressure_mpa": 0.40}')
    w.telemetry(
        T(4, "12:00:00"),
        "e-1f-panel",
        '{"residual_current_ma": 180, "cable_temp_c": 52, "current_a": 41.5}',
    )
    w.event(T(4, "18:00:00"), "sd-305", "smoke_alarm")
    w.cmd(T(4, "18:00:40"), "ack", "sd-305", "smoke")
    w.cmd(T(4, "18:05:00"), "resolve", "sd-305", "smoke")
    # Saturday: a detector out of service 2 h; SOS; two calls near the night shift
    w.at(T(5, "09:00:00"))
    assert w.h.device_command("maintenance_start", "sd-102", 7200).ok
    w.telemetry(T(5, "12:00:00"), "p-2f-riser", '{"pressure_mpa": 0.45}')
    w.event(T(5, "13:00:00"), "w-302-1", "sos")
    w.cmd(T(5, "13:00:08"), "ack", "w-302-1", "sos")
    w.cmd(T(5, "13:03:00"), "resolve", "w-302-1", "sos")
    w.call(T(5, "22:00:00"), "cb-110-1", 58, 600)
    w.call(T(5, "23:10:00"), "cb-111-1", 60, 600)
    # Sunday: a call nobody answers; a fall; a call
    w.call(T(6, "03:00:00"), "cb-212-1", None, None)
    w.event(T(6, "10:00:00"), "w-210-1", "fall")
    w.cmd(T(6, "10:00:20"), "ack", "w-210-1", "fall")
    w.cmd(T(6, "10:15:00"), "resolve", "w-210-1", "fall")
    w.call(T(6, "16:00:00"), "cb-306-1", 25, 240)
    # Monday 9 March: pressed 30 s before the period ends, answered after it
    w.call(T(7, "06:59:30"), "cb-106-1", 50, 330)
    w.at(AS_OF + off)
    return w.h


@pytest.fixture(scope="module")
def week_db(tmp_path_factory, registry) -> Path:
    path = tmp_path_factory.mktemp("week") / "carewatch.db"
    h = simulate_week(path, registry)
    h.conn.close()
    return path


@pytest.fixture(scope="module")
def report(week_db, registry) -> WatchReport:
    rules = week_rules()
    svc = ReportService(
        lambda: __import__("sqlite3").connect(week_db),
        registry,
        rules,
        PointStats(EmbeddedReadings(str(week_db))),
        SHIFTS,
    )
    return svc.report(START, END, AS_OF)


def close(a: float | None, b: float) -> bool:
    return a is not None and abs(a - b) < 1e-9


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


# --- devices and fire equipment ----------------------------------------------------------------


def test_device_availability_battery_and_maintenance(report, registry):
    d = report.devices
    assert d.registered == len(registry) == 200
    assert [(e.device_id, e.start_ms, e.end_ms, e.seconds) for e in d.episodes] == [
        ("w-101-1", t(2, "10:00:00"), t(2, "12:30:00"), 9000),
        ("p-2f-riser", t(4, "01:00:00"), t(4, "01:20:00"), 1200),
    ]
    assert d.offline_s == 10200
    assert close(d.availability, 1 - 10200 / (200 * WEEK_S))
    assert [(x.device_id, x.episodes) for x in d.devices] == [("w-101-1", 1), ("p-2f-riser", 1)]
    assert close(d.devices[0].availability, 1 - 9000 / WEEK_S)
    wearables = next(x for x in d.by_type if x.device_type == "wearable")
    assert (wearables.registered, wearables.offline_devices, wearables.offline_s) == (74, 1, 9000)
    assert close(wearables.availability, 1 - 9000 / (74 * WEEK_S))
    [battery] = d.battery
    assert (battery.device_id, battery.open_at_end, battery.value) == (
        "cb-105-1",
        True,
        "battery_pct=12",
    )
    [m] = d.maintenance
    assert (m.device_id, m.start_ms, m.end_ms, m.by, m.ended_by) == (
        "sd-102",
        t(5, "09:00:00"),
        t(5, "11:00:00"),
        "tech-wu",
        "system:maintenance_expired",
    )


def test_fire_alarms_forwarding_and_equipment_minimums_and_peaks(report):
    f = report.fire
    assert (f.alarms, f.acked_within_15s, f.forwarded, f.forwarded_auto, f.dismissed) == (
        2,
        1,
        1,
        1,
        1,
    )
    toast, real = f.items
    assert (toast.device_id, toast.ack_s, toast.dismissed_by, toast.dismiss_note) == (
        "sd-204",
        10,
        "nurse-wang",
        "烤面包 toast",
    )
    assert (real.device_id, real.ack_s, real.forwarded_ms, real.forward_note) == (
        "sd-305",
        40,
        t(4, "18:00:15"),
        "not acknowledged in time",
    )
    eq = {(s.device_id, s.field): s for s in f.equipment}
    p1 = eq[("p-1f-riser", "pressure_mpa")]
    assert (p1.count, p1.min, p1.min_at_ms, p1.limit, p1.ok) == (
        3,
        0.08,
        t(3, "11:00:00"),
        0.10,
        False,
    )
    p2 = eq[("p-2f-riser", "pressure_mpa")]
    assert (p2.count, p2.min, p2.min_at_ms, p2.max, p2.ok) == (
        3,
        0.40,
        t(4, "01:20:00"),
        0.45,
        True,
    )
    p3 = eq[("p-3f-riser", "pressure_mpa")]
    assert (p3.count, p3.min, p3.ok) == (0, None, None)
    rc = eq[("e-1f-panel", "residual_current_ma")]
    assert (rc.max, rc.max_at_ms, rc.limit, rc.ok) == (180, t(4, "12:00:00"), 300, True)
    ct = eq[("e-1f-panel", "cable_temp_c")]
    assert (ct.max, ct.limit, ct.ok) == (52, 70, True)
    cur = eq[("e-1f-panel", "current_a")]
    assert (cur.max, cur.rule, cur.ok) == (41.5, None, None)
    assert [s.device_id for s in f.equipment][:3] == ["p-1f-riser", "p-2f-riser", "p-3f-riser"]


# --- shifts in time ------------------------------------------------------------------------------


def test_current_and_previous_shift_across_midnight():
    now = shift_at(SHIFTS, TZ, t(1, "02:00:00"))
    assert now is not None and (now.name, now.date) == ("夜班", "2026-03-02")
    assert (now.start_ms, now.end_ms) == (t(0, "23:00:00"), t(1, "07:00:00"))
    prev = previous_shift(SHIFTS, TZ, t(1, "02:00:00"))
    assert prev is not None and (prev.name, prev.start_ms) == ("中班", t(0, "15:00:00"))


def test_a_call_still_ringing_is_pending_not_late(week_db, registry):
    """The handover view at 20:10:30 on Wednesday: the second press of cb-207-1 waits 30 s;
    it is neither answered nor late yet."""
    import sqlite3

    conn = sqlite3.connect(week_db)
    at = t(2, "20:10:30")
    rows = load_rows(conn, t(2, "15:00:00"), at, at)
    conn.close()
    r = build_report(rows, registry, week_rules(), t(2, "15:00:00"), at, at, SHIFTS)
    e = r.responses_for("emergency")
    assert (e.waits, e.answered, e.pending, e.within_60s, e.share_within_60s) == (2, 1, 1, 1, 1.0)


def test_equipment_from_influxql_aggregates_matches_the_points():
    """InfluxQLStats asks InfluxDB for min/max/count; the answers map to the same figure."""
    from alerting.reports.source import InfluxQLStats
    from devices.ports import Series

    asked: list[str] = []

    def query(q: str) -> list[dict]:
        asked.append(q)
        fn = q.split("(")[0].split()[-1]
        value = {"min": 0.08, "max": 0.35, "count": 3}[fn]
        at = {"min": 1000, "max": 2000, "count": 0}[fn]
        return [{"series": [{"values": [[at, value]]}]}]

    s = InfluxQLStats(query).stats(
        Series("sunrise", "p-1f-riser", "water_pressure", "pressure_mpa", 0, 5000, 0)
    )
    assert s is not None and (s.count, s.min, s.min_at_ms, s.max, s.max_at_ms) == (
        3,
        0.08,
        1000,
        0.35,
        2000,
    )
    assert asked[0] == (
        'SELECT min("pressure_mpa") FROM "water_pressure" WHERE "site" = \'sunrise\''
        " AND \"device\" = 'p-1f-riser' AND time >= 0ms AND time <= 5000ms"
    )


def test_equipment_reads_the_embedded_store(week_db, registry):
    figures = equipment(
        PointStats(EmbeddedReadings(str(week_db))), registry, week_rules(), START, END
    )
    assert len(figures) == 3 + 3 * 3  # 3 pressure sensors, 3 monitors x 3 fields


# --- the HTTP side without a process (the app over httpx's ASGI transport) ----------------------


def test_reports_follow_the_read_access_and_keep_a_url_token(week_db, registry):
    """With reads behind a token (CAREWATCH_READ_ACCESS=token) the report needs one; a
    viewer token given in the URL (a link from the screen) stays in the page's links."""
    import asyncio
    import sqlite3
    from types import SimpleNamespace

    import httpx
    from prometheus_client import CollectorRegistry

    from alerting.store import AlertReader
    from dashboards.app import create_app
    from dashboards.auth import StaffAuth, TokenBook
    from dashboards.stream import ChangeHub
    from devices.ports import FakeClock

    clock = FakeClock(AS_OF)
    rules = week_rules()
    runtime = SimpleNamespace(
        registry=registry,
        rules=rules,
        metrics=CollectorRegistry(),
        hub=ChangeHub(),
        alerts=AlertReader(lambda: sqlite3.connect(week_db)),
        staff=StaffAuth([], b"k" * 32, clock),
        read_open=False,
        tokens=TokenBook([], "viewer-or-better-0123456789"),
        reports=ReportService(
            lambda: sqlite3.connect(week_db), registry, rules, None, SHIFTS, clock=clock
        ),
    )
    app = create_app(runtime)  # type: ignore[arg-type]

    class Client:
        def get(self, path: str, **kw) -> httpx.Response:
            async def go() -> httpx.Response:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://cw") as c:
                    return await c.get(path, **kw)

            return asyncio.run(go())

    client = Client()
    q = {"from": str(START), "to": str(END)}
    assert client.get("/api/reports/watch", params=q).status_code == 401
    ok = client.get(
        "/api/reports/watch",
        params=q,
        headers={"Authorization": "Bearer viewer-or-better-0123456789"},
    )
    assert ok.status_code == 200 and ok.json()["summary"]["emergency"]["waits"] == 16
    page = client.get(
        "/api/reports/watch.html", params={**q, "access_token": "viewer-or-better-0123456789"}
    )
    assert page.status_code == 200
    assert "access_token=viewer-or-better-0123456789" in page.text  # CSV, JSON, other periods
    prev = client.get(
        "/api/reports/watch",
        params={"shift": "previous"},
        headers={"Authorization": "Bearer viewer-or-better-0123456789"},
    ).json()
    assert (prev["start"], prev["end"]) == (
        "2026-03-08T23:00:00+08:00",
        "2026-03-09T07:00:00+08:00",
    )
