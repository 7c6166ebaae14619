"""The watch report through the real service (`python -m carewatch serve`): the known week
of tests/test_report.py is written to the service's data directory before it starts; the
API must answer with the same figures as JSON, CSV and HTML, never with a resident's name.
The daily report job and its signed webhook are checked here too."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from alerting.notify.signing import verify
from alerting.reports.daily import DailyJob
from alerting.reports.service import ReportService, Webhook
from alerting.reports.source import PointStats
from ingest.spool import EmbeddedReadings
from tests.conftest import DEMO_SITE, wait_until
from tests.report_week import AS_OF, END, SHIFTS, START, TZ, simulate_week, t, week_rules
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration

# the known week moved to end yesterday morning: the real service runs on the real clock
# (a week far in the past would leave it months of escalation repeats to serve at start)
OFFSET_DAYS = (datetime.now(TZ).date() - date(2026, 3, 2)).days - 8
OFF = OFFSET_DAYS * 86_400_000


def local(ms: int, fmt: str = "%Y-%m-%dT%H:%M:%S%z") -> str:
    text = datetime.fromtimestamp((ms + OFF) / 1000, TZ).strftime(fmt)
    return text[:-2] + ":" + text[-2:] if fmt.endswith("%z") else text


PERIOD = {"from": local(START), "to": local(END)}


@pytest.fixture(scope="module")
def service(tmp_path_factory, registry):
    from ingest.broker import MosquittoProcess

    root = tmp_path_factory.mktemp("api")
    broker = MosquittoProcess(root / "mosquitto")
    broker.start()
    # the screen's handover panel below opens without a token: reads open, explicitly
    cw = CarewatchProcess(root / "cw", broker.url, DEMO_SITE, settings={"read_access": "open"})
    simulate_week(cw.dir / "carewatch.db", registry, OFFSET_DAYS).conn.close()
    cw.start()
    yield cw
    cw.stop()
    broker.stop()


def names(registry) -> list[str]:
    return [r.display_name for r in registry.site.residents]


def test_json_report_has_the_weeks_figures(service, registry):
    r = service.get("/api/reports/watch", **PERIOD)
    assert r.status_code == 200, r.text
    data = r.json()
    e = data["summary"]["emergency"]
    assert (e["waits"], e["within_60s"], e["share_within_60s"]) == (16, 12, 0.75)
    assert (e["median_ack_s"], e["p90_ack_s"], e["max_ack_s"]) == (40, 75, 180)
    assert [u["device_id"] for u in data["summary"]["unanswered"]] == ["cb-212-1", "cb-105-1"]
    assert data["start"] == local(START)
    assert data["late"][0]["started"] == local(t(0, "23:30:00"))
    assert len(data["shifts"]) == 21 and data["shifts"][0]["name"] == "早班"
    assert [f["seconds"] for f in data["load"]["floods"]] == [420]
    assert data["fire"]["forwarded_auto"] == 1
    assert data["summary"]["fire_equipment_below_limit"] == ["p-1f-riser.pressure_mpa"]
    assert not any(n in r.text for n in names(registry))
    # a local time without offset is the site's time zone (Asia/Shanghai)
    naive = service.get(
        "/api/reports/watch", **{"from": local(START, "%Y-%m-%dT%H:%M"), "to": END + OFF}
    )
    assert naive.json()["summary"] == data["summary"]


def test_csv_export_one_row_per_wait_and_per_shift(service, registry):
    r = service.get("/api/reports/watch.csv", **PERIOD)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf")  # spreadsheet programs read the Chinese
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert len(rows) == 21
    never = next(x for x in rows if x["device_id"] == "cb-212-1")
    assert (never["answered_local"], never["title_zh"], never["bed"]) == ("", "紧急呼叫", "212-1")
    late = next(x for x in rows if x["device_id"] == "cb-203-1")
    assert (late["seconds_to_answer"], late["within_60s"], late["shift"]) == ("75", "no", "夜班")
    assert late["started_local"] == local(t(0, "23:30:00"), "%Y-%m-%d %H:%M:%S")
    shifts = service.get("/api/reports/watch.csv", **PERIOD, table="shifts")
    assert len(shifts.content.decode("utf-8-sig").strip().splitlines()) == 1 + 21
    assert not any(n in r.content.decode("utf-8-sig") for n in names(registry))


def test_printable_html_in_both_languages(service, registry):
    zh = service.get("/api/reports/watch.html", **PERIOD)
    assert zh.status_code == 200 and zh.headers["content-type"].startswith("text/html")
    assert "24小时安全值守报告" in zh.text and "75.0%" in zh.text and "<svg" in zh.text
    assert "@media print" in zh.text
    en = service.get("/api/reports/watch.html", **PERIOD, lang="en")
    assert "24-hour watch report" in en.text and "below standard" in en.text
    for page in (zh.text, en.text):
        assert not any(n in page for n in names(registry))


def test_bad_periods_are_refused(service):
    assert service.get("/api/reports/watch", **{"from": "yesterday"}).status_code == 422
    assert service.get("/api/reports/watch", **{"from": END, "to": START}).status_code == 422
    assert service.get("/api/reports/watch", **{"from": START, "to": START}).status_code == 422
    assert service.get("/api/reports/watch", days=0).status_code == 422


def test_handover_summary_and_the_daily_catch_up(service):
    r = service.get("/api/reports/handover")
    assert r.status_code == 200
    data = r.json()
    assert data["timezone"] == "Asia/Shanghai"
    assert data["current"]["name"] in ("早班", "中班", "夜班")
    assert data["previous"]["end"] == data["current"]["start"]
    assert data["open"]["alerts"] >= 2  # the unanswered call and the low battery
    # the service wrote the last watch day's report when it started
    reports = service.dir / "reports"
    assert wait_until(lambda: list(reports.glob("watch-*.json")), 10)
    assert wait_until(lambda: list(reports.glob("watch-*.zh.html")), 5)


# --- the daily job without a service ------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_daily_report_files_and_signed_webhook(tmp_path, registry):
    db = tmp_path / "carewatch.db"
    simulate_week(db, registry).conn.close()
    svc = ReportService(
        lambda: sqlite3.connect(db),
        registry,
        week_rules(),
        PointStats(EmbeddedReadings(str(db))),
        SHIFTS,
    )
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = Webhook(f"http://127.0.0.1:{server.server_port}/hook", b"s3cret")
        result = svc.daily(tmp_path / "reports", AS_OF, webhook=hook)
    finally:
        server.shutdown()
    # the last whole watch day: Sunday 07:00 -> Monday 07:00
    assert (result.report.start_ms, result.report.end_ms) == (t(6, "07:00:00"), END)
    assert sorted(p.name for p in result.files) == [
        "watch-2026-03-08.csv",
        "watch-2026-03-08.en.html",
        "watch-2026-03-08.json",
        "watch-2026-03-08.zh.html",
    ]
    saved = json.loads((tmp_path / "reports" / "watch-2026-03-08.json").read_text())
    assert saved["summary"]["emergency"]["waits"] == 3  # fall 20 s, call 25 s, call 50 s
    assert result.delivered is True
    [(headers, body)] = _Receiver.got
    assert verify(body, b"s3cret", headers["X-CareWatch-Signature"])
    assert headers["Idempotency-Key"] == "report:sunrise:watch-2026-03-08"
    assert json.loads(body)["summary"]["emergency"]["within_60s"] == 3


def test_daily_job_writes_each_day_once(tmp_path, registry):
    db = tmp_path / "carewatch.db"
    simulate_week(db, registry).conn.close()
    svc = ReportService(lambda: sqlite3.connect(db), registry, week_rules(), None, SHIFTS)
    now = [AS_OF]
    job = DailyJob(svc, tmp_path / "reports", lambda: now[0])
    assert job.run() == tmp_path / "reports" / "watch-2026-03-08.json"
    assert job.run() is None  # already written
    now[0] = AS_OF + 86_400_000
    assert job.run() == tmp_path / "reports" / "watch-2026-03-09.json"


# --- the duty screen's handover panel ----------------------------------------------------------


def test_screen_shows_the_shift_handover_panel(service, open_page):
    bp = open_page()
    page = bp.page
    page.goto(service.url)
    panel = page.locator("#handover")
    panel.wait_for(state="visible", timeout=5000)
    text = panel.inner_text()
    data = service.get("/api/reports/handover").json()
    assert "交接班" in text and "上一班" in text and data["previous"]["name"] in text
    assert f"未关闭告警 {data['open']['alerts']}" in text
    link = page.locator("#handover-report")
    assert link.get_attribute("href") == "/api/reports/watch.html?shift=previous&lang=zh"
    page.locator("#lang-toggle").click()  # the panel follows the screen's language
    page.wait_for_function(
        "document.querySelector('#handover h2').textContent.startsWith('Shift handover')"
    )
    assert "Last shift" in panel.inner_text()
    assert bp.errors == []


# --- fire equipment from a real InfluxDB ------------------------------------------------------------


def test_equipment_minimums_and_peaks_from_influxdb(influx, registry):
    """The same figures from InfluxQL aggregates as from the points: min/max with the time
    of the reading, count; a sensor with no points is 'no readings'."""
    from alerting.reports.source import InfluxQLStats, equipment
    from ingest.influx import InfluxV1

    db = InfluxV1(influx.url, "carewatch")
    db.create_database()
    t0 = t(3, "09:00:00")
    lines = [
        f"water_pressure,site=sunrise,device=p-1f-riser pressure_mpa={v} {(t0 + i * 60_000) * 10**6}"
        for i, v in enumerate([0.35, 0.08, 0.35])
    ] + [
        f"electrical_monitor,site=sunrise,device=e-1f-panel residual_current_ma=180,"
        f"cable_temp_c=52,current_a=41.5 {t(4, '12:00:00') * 10**6}",
        f"water_pressure,site=sunrise,device=p-2f-riser pressure_mpa=0.5 {(START - 1000) * 10**6}",
    ]
    db.write(lines)
    figures = equipment(InfluxQLStats(db.query), registry, week_rules(), START, END)
    db.close()
    by = {(f.device_id, f.field): f for f in figures}
    p1 = by[("p-1f-riser", "pressure_mpa")]
    assert (p1.count, p1.min, p1.min_at_ms, p1.max, p1.ok) == (3, 0.08, t0 + 60_000, 0.35, False)
    rc = by[("e-1f-panel", "residual_current_ma")]
    assert (rc.count, rc.max, rc.max_at_ms, rc.ok) == (1, 180, t(4, "12:00:00"), True)
    p2 = by[("p-2f-riser", "pressure_mpa")]  # its only point lies before the period
    assert (p2.count, p2.min, p2.ok) == (0, None, None)
