"""The report's fire-equipment faults with their time in fault (compute/equipment_faults.py),
on the engine over a fake clock: a fault raised before the period counts from its start,
one still open counts to its end, a device at fault and offline at once counts that time
once; a fire alarm, a maintenance window and a call button's fault are not fire-equipment
faults. Then the same figures in the JSON, the CSV and both languages of the HTML."""

from __future__ import annotations

import csv
import io
import sqlite3

import pytest

from alerting.reports.compute import build_report
from alerting.reports.jsonout import report_dict
from alerting.reports.model import WatchReport
from alerting.reports.render_csv import table_csv
from alerting.reports.render_html import render_html
from alerting.reports.source import load_rows
from tests.engine_harness import Harness
from tests.report_week import week_rules

H = 3_600_000


def fault(h: Harness, device: str) -> None:
    h.send(device, "event", f'{{"event": "fault", "id": "{device}-{h.clock.now_ms()}"}}')


def resolve(h: Harness, rule: str, device: str) -> None:
    [a] = [a for a in h.open(rule) if a.device_id == device]
    assert h.command("resolve", a.id).ok


@pytest.fixture
def period(tmp_path, registry) -> tuple[WatchReport, int, int]:
    """Period [P, P + 6 h): sd-201 at fault from P - 1 h to P + 2 h and offline from P + 1 h
    to P + 3 h; cp-2f at fault from P + 5 h, still at the end; sd-305 smoke, cp-1f in
    maintenance and call button cb-101-1 at fault meanwhile. Silence is no offline here
    (supervision 30 days, as in the known week): only last wills are."""
    h = Harness(tmp_path / "cw.db", registry, rules=week_rules())
    p = h.clock.now_ms() + H
    fault(h, "sd-201")
    h.tick(3600)
    h.device_command("maintenance_start", "cp-1f", 3600)
    h.send("sd-305", "event", '{"event": "smoke_alarm", "id": "s1"}')
    fault(h, "cb-101-1")
    h.tick(3600)
    h.send("sd-201", "status", '{"online": false}')
    h.tick(3600)
    resolve(h, "device_fault", "sd-201")
    h.tick(3600)
    h.send("sd-201", "status", '{"online": true}')
    h.tick(2 * 3600)
    fault(h, "cp-2f")
    h.tick(3600)
    as_of = h.clock.now_ms()
    conn = sqlite3.connect(h.path)
    rows = load_rows(conn, p, p + 6 * H, as_of)
    conn.close()
    return build_report(rows, h.registry, h.rules, p, p + 6 * H, as_of), p, as_of


def test_time_in_fault_is_clipped_to_the_period_and_counted_once_per_device(period):
    report, p, _ = period
    f = report.equipment_faults
    assert f is not None
    got = [(e.device_id, e.rule, e.state, e.start_ms, e.end_ms, e.seconds) for e in f.episodes]
    assert got == [
        ("sd-201", "device_fault", "fault", p - H, p + 2 * H, 2 * 3600),  # before the period
        ("sd-201", "device_offline", "offline", p + H, p + 3 * H, 2 * 3600),
        ("cp-2f", "device_fault", "fault", p + 5 * H, None, 3600),  # still open at the end
    ]
    assert [(d.device_id, d.episodes, d.fault_s) for d in f.devices] == [
        ("sd-201", 2, 3 * 3600),  # 2 h + 2 h overlapping by 1 h
        ("cp-2f", 1, 3600),
    ]
    assert f.devices[0].share == 0.5
    assert (f.fire_devices, f.in_fault, f.fault_s, f.open_at_end) == (
        78,
        2,
        4 * 3600,
        1,
    )  # 52 + 26 installations
    by_type = {t.device_type: (t.registered, t.in_fault, t.episodes, t.fault_s) for t in f.by_type}
    assert by_type["smoke_detector"] == (43, 1, 2, 3 * 3600)
    assert by_type["call_point"] == (3, 1, 1, 3600)
    assert "call_button" not in by_type  # no fire equipment


def test_json_csv_and_html_carry_the_time_in_fault(period, registry):
    report, _, _ = period
    rules = week_rules()
    whole = report_dict(report)
    assert whole["summary"]["fire_equipment_fault_s"] == 4 * 3600
    assert whole["summary"]["fire_equipment_out_of_order"] == ["cp-2f"]
    body = whole["equipment_faults"]
    assert body["fault_s"] == 4 * 3600 and body["devices"][0]["device_id"] == "sd-201"
    assert body["episodes"][2]["end"] is None and body["episodes"][0]["start"].endswith("+08:00")

    text = table_csv(report, rules, "equipment_faults")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["device_id"], r["rule"], r["state"], r["seconds_in_period"]) for r in rows] == [
        ("sd-201", "device_fault", "fault", "7200"),
        ("sd-201", "device_offline", "offline", "7200"),
        ("cp-2f", "device_fault", "fault", "3600"),
    ]
    assert rows[0]["title_zh"] == "设备故障" and rows[2]["to_local"] == ""
    assert rows[0]["device_type"] == "smoke_detector" and rows[0]["floor"] == "2"

    zh = render_html(report, registry, rules, "zh")
    # needs attention: cp-2f is still at fault when the period ends
    assert "1 个消防设施在期末仍处于故障、失联、状态异常或屏蔽：cp-2f" in zh
    assert "消防设施故障" in zh and "3 小时" in zh and "sd-201" in zh and "仍未恢复" in zh
    en = render_html(report, registry, rules, "en")
    assert "Fire equipment faults" in en and "3 h" in en and "still out of order" in en


def test_a_panels_faulty_points_are_one_device_out_of_order_at_the_panels_place(tmp_path, registry):
    """Five points of the fire panel at fault for overlapping hours are the panel out of
    order once: one device in fault, the union of the hours, placed where the panel is."""
    h = Harness(tmp_path / "cw.db", registry, rules=week_rules())
    p = h.clock.now_ms()
    for i in range(5):
        h.send("fp-1", "event", f'{{"event":"fault","id":"f{i}","point":"L2-00{i}","floor":"2"}}')
        h.tick(600)
    h.tick(3600)
    conn = sqlite3.connect(h.path)
    rows = load_rows(conn, p, p + 2 * H, h.clock.now_ms())
    conn.close()
    f = build_report(rows, h.registry, h.rules, p, p + 2 * H, h.clock.now_ms()).equipment_faults
    assert f is not None and len(f.episodes) == 5
    [panel] = f.devices
    # from the first fault to when the report is made (6,600 s), not five times over
    assert (panel.device_id, panel.episodes, panel.fault_s) == ("fp-1", 5, 6600)
    fp = h.registry.get("sunrise", "fp-1")
    assert fp is not None and (panel.floor, panel.room) == (fp.floor, fp.room)
    by_type = {t.device_type: (t.registered, t.in_fault) for t in f.by_type}
    assert by_type["fire_panel"] == (1, 1)
