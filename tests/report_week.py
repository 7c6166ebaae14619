"""The known week the watch report tests read: the engine on a fake clock is fed seven days of
scripted calls, falls, smoke, a chattering electrical monitor, offline devices, a low
battery and a maintenance window (Asia/Shanghai, shifts 07/15/23 h); every figure of the
report is checked against numbers worked out by hand from the script below (tests/
test_report.py, test_report_equipment.py). Loaded as a plugin by conftest.py: the
module-scoped fixtures `week_db` and `report` are shared by both files.

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
from alerting.reports.model import WatchReport
from alerting.reports.service import ReportService
from alerting.reports.shifts import ShiftDef, parse_hhmm
from alerting.reports.source import PointStats
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
