"""The watch report counts supervisors' overrides of a call's bedside reset: how many, in
which rooms and beds, by whom and why, in the JSON, the CSV and the printable page. An
engine on a fake clock is fed a small evening (Asia/Shanghai): calls reset at the bedside,
two overridden in the period, one overridden before it, one overridden after it."""

from __future__ import annotations

import csv
import dataclasses
import io
import sqlite3
from pathlib import Path

import pytest

from alerting.bedside import OVERRIDE_RESET
from alerting.items import Command
from alerting.reports.jsonout import report_dict
from alerting.reports.model import WatchReport
from alerting.reports.render_csv import table_csv
from alerting.reports.render_html import render_html
from alerting.reports.service import ReportService
from alerting.ruleset import RuleSet
from devices.registry import Registry
from tests.engine_harness import Harness
from tests.report_week import SHIFTS, t

START, END, AS_OF = t(0, "15:00:00"), t(0, "23:00:00"), t(0, "23:30:00")
STUCK = "呼叫器按键卡住 (button stuck)"
VISITED = "家属已在房间，护士确认 (family in the room, nurse checked)"


def evening(path: Path, registry: Registry) -> None:
    h = Harness(path, registry)
    h.clock.t = START - 3_600_000

    def at(hms: str) -> None:
        h.clock.t = t(0, hms)
        h.tick()

    def press(hms: str, device: str) -> int:
        at(hms)
        h.send(device, "event", f'{{"event":"press","id":"{device}-{hms}"}}')
        [a] = [a for a in h.open("call") if a.device_id == device]
        return a.id

    def override(hms: str, alert_id: int, reason: str) -> None:
        at(hms)
        cmd = Command("resolve", alert_id, "supervisor-zhao", reason, override=True)
        assert h.engine.process([cmd]).results[0].ok

    override("14:50:00", press("14:40:00", "cb-105-1"), STUCK)  # before the period
    override("16:01:30", press("16:00:00", "cb-101-1"), STUCK)  # 90 s, unacknowledged
    a = press("19:00:00", "cb-203-1")
    at("19:00:20")
    assert h.command("ack", a).ok
    override("19:10:00", a, VISITED)
    press("20:00:00", "cb-102-1")
    at("20:02:00")
    h.send("cb-102-1", "event", '{"event":"cancel","id":"c-1"}')  # the bedside: no override
    override("23:10:00", press("22:50:00", "cb-110-1"), STUCK)  # after the period
    h.conn.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, registry: Registry) -> WatchReport:
    path = tmp_path_factory.mktemp("overrides") / "carewatch.db"
    evening(path, registry)
    svc = ReportService(lambda: sqlite3.connect(path), registry, RuleSet.defaults(), None, SHIFTS)
    return svc.report(START, END, AS_OF)


def test_the_overrides_of_the_period_with_rooms_beds_people_and_reasons(report) -> None:
    o = report.overrides
    assert o.count == 2
    assert o.by_room == {"101": 1, "203": 1} and o.by_person == {"supervisor-zhao": 2}
    assert [(x.device_id, x.room, x.bed, x.by, x.reason) for x in o.items] == [
        ("cb-101-1", "101", "101-1", "supervisor-zhao", STUCK),
        ("cb-203-1", "203", "203-1", "supervisor-zhao", VISITED),
    ]
    first = o.items[0]
    assert (first.at_ms - first.raised_ms) / 1000 == 90
    # an override unacknowledged before it is the call's answer, by the supervisor
    [wait] = [w for w in report.waits if (w.device_id, w.rule) == ("cb-101-1", "call")]
    assert (wait.answer, wait.answered_by, wait.seconds) == (OVERRIDE_RESET, "supervisor-zhao", 90)


def test_the_json_and_the_csv_carry_them(report, registry) -> None:
    doc = report_dict(report)
    assert doc["summary"]["overrides"] == 2
    assert doc["overrides"]["count"] == 2 and doc["overrides"]["by_room"] == {"101": 1, "203": 1}
    item = doc["overrides"]["items"][1]
    assert item["at"] == "2026-03-02T19:10:00+08:00" and item["reason"] == VISITED
    rows = list(csv.DictReader(io.StringIO(table_csv(report, RuleSet.defaults(), "overrides"))))
    assert [
        (r["device_id"], r["bed"], r["override_local"], r["by"], r["reason"]) for r in rows
    ] == [
        ("cb-101-1", "101-1", "2026-03-02 16:01", "supervisor-zhao", STUCK),
        ("cb-203-1", "203-1", "2026-03-02 19:10", "supervisor-zhao", VISITED),
    ]
    assert rows[0]["title_en"] == "Call for help" and rows[0]["raised_local"] == "2026-03-02 16:00"


def test_the_page_lists_them_and_says_so_under_needs_attention(report, registry) -> None:
    rules = RuleSet.defaults()
    zh = render_html(report, registry, rules, "zh")
    assert "<h2>主管强制复位</h2>" in zh and "共 2 次" in zh and "赵主管 ×2" in zh
    assert "2 次呼叫由主管远程强制复位" in zh and STUCK in zh
    en = render_html(report, registry, rules, "en")
    assert "<h2>Supervisor overrides</h2>" in en and "2 in all" in en
    assert "赵主管 (supervisor-zhao) ×2" in en and "overridden by a supervisor" in en
    hostile = dataclasses.replace(
        report,
        overrides=dataclasses.replace(
            report.overrides,
            items=[dataclasses.replace(report.overrides.items[0], reason="<b>x</b>")],
        ),
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in render_html(hostile, registry, rules, "en")
    none = dataclasses.replace(
        report, overrides=dataclasses.replace(report.overrides, count=0, items=[])
    )
    assert "No supervisor override in this period." in render_html(none, registry, rules, "en")
