"""The hazard register in the watch report and the regulator's export, over the known week
of tests/report_week.py with four hazards added: opened, fixed, closed and overdue in the
day, the closure rate (整改销号率) two ways, the ageing of the open ones, the HTML section
in both languages and the export's items, validated against the schema."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from alerting.reports.compute.hazards import hazard_figures, state_at
from alerting.reports.render_html import render_html
from alerting.reports.source import load_hazards
from devices.registry import Registry
from tests.report_week import AS_OF, t
from tests.test_export import copy_db, exporting_registry, make_exporter, valid

__all__ = ["exporting_registry"]  # the fixture, shared

H = 3_600_000
DAY_START, DAY_END = t(4, "07:00:00"), t(5, "07:00:00")  # Friday 6 March's watch day


def _hazard(conn: sqlite3.Connection, category: str, room: str, opened: int, deadline: int,
            fixed: int | None = None, closed: int | None = None) -> int:  # fmt: skip
    state = "closed" if closed else "fixed" if fixed else "open"
    cur = conn.execute(
        "INSERT INTO hazards(site, state, category, description, location, floor, room, source,"
        " opened_by, opened_ms, deadline_ms, fixed_by, fixed_ms, closed_by, closed_ms)"
        " VALUES ('sunrise', ?, ?, '王奶奶房间门口堆放纸箱', '3F', '3', ?, 'screen', 'nurse-li',"
        " ?, ?, ?, ?, ?, ?)",
        (state, category, room, opened, deadline, "nurse-li" if fixed else None, fixed,
         "supervisor-zhao" if closed else None, closed),
    )  # fmt: skip
    hid = int(cur.lastrowid or 0)
    if fixed:
        conn.execute(
            "INSERT INTO hazard_log(hazard_id, at_ms, action, from_state, to_state, by)"
            " VALUES (?, ?, 'fix', 'open', 'fixed', 'nurse-li')",
            (hid, fixed),
        )
    return hid


@pytest.fixture(scope="module")
def hazard_db(week_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = copy_db(week_db, tmp_path_factory.mktemp("hz") / "carewatch.db")
    with sqlite3.connect(db) as conn:
        # A: found, fixed and signed off on Friday
        _hazard(conn, "exit_blocked", "301", t(4, "09:00:00"), t(4, "10:00:00"),
                t(4, "09:30:00"), t(4, "11:00:00"))  # fmt: skip
        # B: found Friday evening, an hour to fix, not fixed: overdue, open at the end
        _hazard(conn, "fire_door", "302", t(4, "20:00:00"), t(4, "21:00:00"))
        # C: found Monday, due Tuesday, fixed only on Friday: overdue, then fixed
        _hazard(conn, "extinguisher", "303", t(0, "08:00:00"), t(1, "08:00:00"),
                t(4, "12:00:00"))  # fmt: skip
        # D: found Saturday: not Friday's
        _hazard(conn, "electrical", "304", t(5, "09:00:00"), t(6, "09:00:00"))
    return db


def test_the_days_figures_and_closure_rates(hazard_db: Path) -> None:
    with sqlite3.connect(hazard_db) as conn:
        hazards, fixes = load_hazards(conn, "sunrise", AS_OF)
    z = hazard_figures(hazards, fixes, DAY_START, DAY_END, AS_OF)
    assert (z.opened, z.fixed, z.closed, z.overdue) == (2, 2, 1, 2)
    assert (z.open_at_end, z.overdue_at_end) == (2, 1)
    assert (z.closed_of_opened, z.closure_rate) == (1, 0.5)  # A of A and B
    assert (z.due, z.closed_of_due, z.closure_rate_due) == (2, 1, 0.5)  # A and B fell due
    assert z.ageing == {"0_1d": 1, "1_7d": 1, "7_30d": 0, "30d_plus": 0}
    assert [(i.category, i.state, i.overdue) for i in z.items] == [
        ("exit_blocked", "closed", False), ("fire_door", "open", True),
        ("extinguisher", "fixed", False),
    ]  # fmt: skip
    # the state at a time is read from the stamps
    c = next(h for h in hazards if h.category == "extinguisher")
    assert [state_at(c, x) for x in (t(0, "07:00:00"), t(2, "00:00:00"), DAY_END)] == [
        "none", "open", "fixed"
    ]  # fmt: skip
    # the week: four opened, all due in it but D (Sunday 09:00 is in the week too)
    week = hazard_figures(hazards, fixes, t(0, "07:00:00"), t(7, "07:00:00"), AS_OF)
    assert (week.opened, week.closed, week.closure_rate) == (4, 1, 0.25)


def test_the_report_has_the_section_in_both_languages(
    hazard_db: Path, exporting_registry: Registry
) -> None:
    svc = make_exporter(hazard_db, exporting_registry).reports
    report = svc.report(DAY_START, DAY_END, AS_OF)
    zh = render_html(report, svc.registry, svc.rules, "zh")
    assert "消防隐患整改" in zh and "整改销号率" in zh and "1/2 = 50.0%" in zh
    assert "未达100%" in zh and "防火门未关闭或损坏" in zh and "逾期" in zh
    assert "1 项消防隐患已过整改期限仍未整改" in zh  # under "needs attention" too
    en = render_html(report, svc.registry, svc.rules, "en")
    assert "Closure rate" in en and "Fire door open or damaged" in en and "1–7 days" in en
    for text in (zh, en):  # what a person typed is not in the report
        assert "王奶奶" not in text and "纸箱" not in text


def test_the_export_carries_the_days_hazards(hazard_db: Path, exporting_registry: Registry) -> None:
    exporter = make_exporter(hazard_db, exporting_registry)
    doc = valid(exporter.document(date(2026, 3, 6), AS_OF))
    hz = doc["hazards"]
    assert (hz["opened"], hz["closed"], hz["overdue"], hz["closure_rate"]) == (2, 1, 2, 0.5)
    assert [i["category"] for i in hz["items"]] == ["exit_blocked", "fire_door", "extinguisher"]
    assert [i["category"] for i in hz["open"]] == ["fire_door", "extinguisher"]
    b = hz["items"][1]
    assert b == {
        "id": b["id"], "category": "fire_door", "state": "open", "source": "screen",
        "floor": "3", "room": "302", "opened": "2026-03-06T20:00:00+08:00",
        "deadline": "2026-03-06T21:00:00+08:00", "fixed": None, "closed": None, "overdue": True,
    }  # fmt: skip
    assert "纸箱" not in str(doc) and "nurse-li" not in str(doc)
