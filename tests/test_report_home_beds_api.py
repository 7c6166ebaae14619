"""The home-bed section of a home bed's watch report (JSON, HTML in Chinese and English, CSV)
and the district's home beds for a month (GET /api/district/home-beds), over a real store of
the example district: calls raised by the engine, the console's outcome and contact rows
and the visit rows written in their documented formats (alerting/outcomes.py; the `visits`
table), as the console and the visit recording write them."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from alerting import store
from alerting.items import Incoming
from alerting.model import Alert, AlertState, Severity
from alerting.outcomes import contact_note, outcome_note
from alerting.reports.jsonout import report_dict
from alerting.reports.render_csv import table_csv
from alerting.reports.render_html import render_html
from alerting.reports.service import ReportService
from dashboards.auth import Grant, StaffAuth, TokenBook, token_sha256
from devices.ports import FakeClock
from devices.registry import Registry, load_sites
from tests.app_harness import harness_runtime, request
from tests.conftest import ROOT
from tests.engine_harness import Harness

TZ = ZoneInfo("Asia/Shanghai")
ADMIN = "admin-token-0123456789abcdef"
SUNRISE_ONLY = "sunrise-viewer-0123456789abcdef"
NAME = "王秀英"  # hb-wang's resident: never in a report


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp() * 1000)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_sites(ROOT / "examples" / "sites")


@pytest.fixture
def h(tmp_path, registry: Registry) -> Harness:
    return Harness(tmp_path / "cw.db", registry, FakeClock(ms("2026-03-02T08:00")))


def press(h: Harness, site: str, device: str) -> int:
    topic = f"carewatch/v1/{site}/{device}/event"
    body = orjson.dumps({"event": "press", "id": f"{device}-{h.clock.now_ms()}"})
    h.changes += h.engine.process(
        [Incoming(h.decoder.decode(topic, body, h.clock.now_ms()))]
    ).changes
    [a] = [a for a in h.open("call") if a.site == site and a.device_id == device]
    return a.id


def console(h: Harness, alert: int, action: str, note: str, to: str = "active_ack") -> None:
    """A row as the console writes it (the operator op-chen)."""
    store.audit(h.conn, [(alert, h.clock.now_ms(), action, "active_ack", to, "op-chen", note)])
    h.conn.commit()


@pytest.fixture
def week(h: Harness) -> Harness:
    """A week at the home bed hb-wang (2-8 March 2026): a call answered in 20 s, the son
    reached at 40 s, solved by phone; a call nobody answered; a missed check-in on 4 March;
    a press at sunrise (a nursing home: not a home call); one visit by cw-zhao. The engine
    runs only on 2 March (later, every device would be offline, an alert of its own)."""
    first = press(h, "hb-wang", "hb-wang-call")
    h.tick(20)
    assert h.command("ack", first, by="op-chen").ok
    h.tick(20)
    console(h, first, "contact", contact_note("son", "reached"))
    h.tick(20)
    console(h, first, "outcome", outcome_note("solved_by_phone", "按错了"))
    assert h.command("resolve", first, by="op-chen").ok
    h.clock.t = ms("2026-03-02T08:05")  # within every device's supervision interval
    press(h, "hb-wang", "hb-wang-call")
    press(h, "sunrise", "cb-101-1")
    h.tick(120)
    subject = h.registry.resident_subject("hb-wang", "r-1")
    assert subject is not None
    store.insert(h.conn, Alert(0, "hb-wang", subject.id, "daily_checkin", Severity.LOW,
                               AlertState.ACTIVE_UNACK, False, ms("2026-03-04T10:00"),
                               ms("2026-03-04T10:00"), 1, priority="routine"))  # fmt: skip
    h.conn.execute(
        "INSERT INTO visits(site, resident, worker, at_ms, recorded_ms, outcome, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            "hb-wang",
            "r-1",
            "cw-zhao",
            ms("2026-03-05T10:00"),
            ms("2026-03-05T10:05"),
            "visited",
            None,
        ),
    )
    h.conn.commit()
    h.clock.t = ms("2026-03-10T12:00")
    return h


def service(h: Harness, site: str) -> ReportService:
    return ReportService(lambda: sqlite3.connect(h.path), h.registry.only(site), h.rules, None,
                         clock=h.clock, site=site)  # fmt: skip


def test_a_home_beds_report_has_its_section_in_json_html_and_csv(week: Harness):
    svc = service(week, "hb-wang")
    report = svc.report(ms("2026-03-02T00:00"), ms("2026-03-09T00:00"), week.clock.now_ms())
    hb = report.home_beds
    assert hb is not None
    assert (hb.calls.calls, hb.emergency.calls) == (3, 2)  # two presses and the check-in
    e = hb.emergency
    assert (e.answered, e.within_60s, e.unanswered, e.share_within_60s) == (1, 1, 1, 0.5)
    assert (e.to_answer.median_s, e.to_contact.median_s) == (20.0, 20.0)  # the ack came first
    assert {o.code: o.calls for o in e.outcomes}["solved_by_phone"] == 1
    assert (hb.checkin.days, hb.checkin.on_time) == (7, 6)
    assert (hb.month, hb.visits.planned, hb.visits.visited, hb.visits.rate) == (
        "2026-03",
        1,
        1,
        1.0,
    )
    data = report_dict(report)
    assert data["home_beds"]["visits"]["worker"] == "cw-zhao"
    assert data["home_beds"]["items"][0]["raised"] == "2026-03-02T08:00:00+08:00"
    summary = data["summary"]["home_beds"]
    assert summary["emergency"]["within_60s"] == 1 and summary["visits"]["rate"] == 1.0
    zh = render_html(report, svc.registry, svc.rules, "zh")
    en = render_html(report, svc.registry, svc.rules, "en")
    assert "家庭床位：呼叫、签到与探访" in zh and "电话解决" in zh and "月探访率 100.0%" in zh
    assert "Home bed: calls, check-ins and visits" in en and "solved by phone" in en
    assert "Monthly visit rate 100.0%" in en and "2026-03-04" in en  # the day missed
    rows = list(csv.DictReader(io.StringIO(table_csv(report, svc.rules, "home_calls"))))
    assert [(r["rule"], r["seconds_to_answer"], r["within_60s"], r["contact"], r["outcomes"])
            for r in rows] == [("call", "20", "yes", "ack", "solved_by_phone"),
                               ("call", "", "", "", ""),
                               ("daily_checkin", "", "", "", "")]  # fmt: skip
    for text in (zh, en, orjson.dumps(data).decode(), table_csv(report, svc.rules, "home_calls")):
        assert NAME not in text


def test_a_nursing_homes_report_has_no_home_bed_section(week: Harness):
    svc = service(week, "sunrise")
    report = svc.report(ms("2026-03-02T00:00"), ms("2026-03-09T00:00"), week.clock.now_ms())
    assert report.home_beds is None and "home_beds" not in report_dict(report)["summary"]
    assert 'id="home-beds"' not in render_html(report, svc.registry, svc.rules, "zh")


def client(h: Harness) -> Any:
    sites = [Grant("sunrise-viewer", "viewer", frozenset({"sunrise"}), token_sha256(SUNRISE_ONLY))]
    reports = {s: service(h, s) for s in h.registry.site_ids()}
    runtime = harness_runtime(h, StaffAuth([], b"k" * 32, h.clock), TokenBook(sites, ADMIN),
                              False, site_reports=reports, health=lambda: {})  # fmt: skip
    from dashboards.app import create_app

    app = create_app(runtime)  # type: ignore[arg-type]

    def get(path: str, token: str | None = ADMIN, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return request(app, "GET", path, params=params, headers=headers)

    return get


def test_the_districts_home_beds_for_a_month_per_site_and_in_total(week: Harness):
    get = client(week)
    r = get("/api/district/home-beds", month="2026-03")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["month"] == "2026-03" and [s["id"] for s in body["sites"]] == ["hb-wang"]
    site = body["sites"][0]
    assert site["start"] == "2026-02-28T16:00:00.000Z"  # 1 March, Shanghai
    assert site["emergency"]["calls"] == 2 and site["emergency"]["within_60s"] == 1
    assert site["emergency"]["median_contact_s"] == 20.0
    assert site["checkin"]["days"] == 10 and site["checkin"]["on_time"] == 9  # 1-10 March
    assert (site["visits"]["planned"], site["visits"]["visited"], site["visits"]["rate"]) == (
        1,
        1,
        1.0,
    )
    total = body["district"]
    assert total["sites"] == 1 and total["calls"]["calls"] == 3
    assert total["visits"]["by_worker"] == [
        {"worker": "cw-zhao", "sites": ["hb-wang"], "planned": 1, "visited": 1, "rate": 1.0,
         "visits": 1}
    ]  # fmt: skip
    assert get("/api/district/home-beds").json()["month"] == "2026-03"  # this month
    assert NAME not in r.text
    # February: no calls, no visit yet (a month with nothing in it)
    feb = get("/api/district/home-beds", month="2026-02").json()["sites"][0]
    assert (feb["calls"]["calls"], feb["visits"]["visited"], feb["visits"]["rate"]) == (0, 0, 0.0)


def test_the_home_beds_follow_the_callers_sites_and_refuse_a_bad_month(week: Harness):
    get = client(week)
    assert get("/api/district/home-beds", token=None).status_code == 401
    mine = get("/api/district/home-beds", token=SUNRISE_ONLY, month="2026-03").json()
    assert mine["sites"] == [] and mine["district"]["sites"] == 0
    assert mine["district"]["visits"]["rate"] is None
    for bad in ("2026-13", "March", "2026-3"):
        assert get("/api/district/home-beds", month=bad).status_code == 422
    later = get("/api/district/home-beds", month="2026-04")
    assert later.status_code == 422 and "has not begun" in later.text


def test_a_home_beds_export_has_its_optional_section_valid_against_the_schema(week: Harness):
    import json

    import jsonschema

    from alerting.reports.export import SCHEMA_FILE, Exporter
    from alerting.reports.export_csv import export_csv

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    home = Exporter(service(week, "hb-wang"), "district-a", lambda: sqlite3.connect(week.path))
    doc = home.document(date(2026, 3, 2), week.clock.now_ms())
    assert [e.message for e in validator.iter_errors(doc)] == []
    hb = doc["home_beds"]
    assert hb["emergency"]["calls"] == 2 and hb["emergency"]["within_60s"] == 1
    assert hb["emergency"]["median_contact_s"] == 20.0
    assert {o["code"]: o["calls"] for o in hb["outcomes"]}["solved_by_phone"] == 1
    assert hb["checkin"] == {"days": 1, "on_time": 1, "share": 1.0}  # 2 March: checked in
    assert (hb["visits"]["month"], hb["visits"]["rate"]) == ("2026-03", 1.0)
    rows = {(r["figure"], r["key"]): r for r in csv.DictReader(io.StringIO(export_csv(doc)))}
    assert rows[("home_beds.emergency.share_within_60s", "")]["value"] == "0.5"
    assert rows[("home_beds.emergency.share_within_60s", "")]["unit"] == "ratio"
    assert rows[("home_beds.outcomes.calls", "solved_by_phone")]["value"] == "1"
    assert rows[("home_beds.visits.by_worker.rate", "cw-zhao")]["unit"] == "ratio"
    assert rows[("home_beds.emergency.median_contact_s", "")]["unit"] == "s"
    assert NAME not in orjson.dumps(doc).decode() + export_csv(doc)
    # a nursing home's export stays as it was: no home_beds section, still valid
    other = Exporter(service(week, "sunrise"), "district-a", lambda: sqlite3.connect(week.path))
    plain = other.document(date(2026, 3, 2), week.clock.now_ms())
    assert "home_beds" not in plain and not list(validator.iter_errors(plain))
    assert not any(r.startswith("home_beds") for r in export_csv(plain).split("\r\n"))


def test_the_report_api_links_and_serves_the_home_calls_csv_for_a_home_bed_only(week: Harness):
    get = client(week)
    period = {"from": "2026-03-02T00:00", "to": "2026-03-09T00:00"}
    page = get("/api/reports/watch.html", site="hb-wang", **period)
    assert page.status_code == 200 and 'id="home-beds"' in page.text
    assert "table=home_calls" in page.text and "CSV：呼叫" in page.text
    got = get("/api/reports/watch.csv", site="hb-wang", table="home_calls", **period)
    assert got.status_code == 200 and got.content.startswith(b"\xef\xbb\xbf")  # Excel's BOM
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert [r["alert_id"] for r in rows] and rows[0]["answered_by"] == "op-chen"
    home = get("/api/reports/watch.html", site="sunrise", **period)
    assert home.status_code == 200 and "table=home_calls" not in home.text
