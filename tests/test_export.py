"""The site export (alerting/reports/export.py) from the known week of tests/report_week.py:
its figures are the watch report's, it validates against the committed JSON Schema, its
CSV has the documented columns, and no resident's name is in it, in its CSV or in its
outbox row."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from concurrent.futures import Future
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from alerting import outbox
from alerting.defaults import default_rules
from alerting.reports.daily import ExportJob, check_export_target
from alerting.reports.export import (
    HAZARDS_NOTE,
    REDACTED,
    SCHEMA_FILE,
    Exporter,
    ExportError,
    document,
)
from alerting.reports.export_csv import COLUMNS, export_csv
from alerting.reports.service import ReportService
from alerting.reports.source import PointStats
from alerting.ruleset import Notify, Override, RuleSet, Target
from devices.registry import Registry, load_site
from ingest.spool import EmbeddedReadings
from tests.conftest import DEMO_SITE, ROOT
from tests.report_week import AS_OF, END, SHIFTS, START, t

SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)
WEEK = [date(2026, 3, 2 + i) for i in range(7)]


def export_rules() -> RuleSet:
    """The week's rules with a `regulator` webhook target, as a site's rules would name it."""
    return RuleSet(
        default_rules(),
        [Override(rule="device_offline", set={"supervision_s": 30 * 86400})],
        notify=Notify(
            targets={
                "regulator": Target(url="http://127.0.0.1:9/exports", secret_env="REG_KEY"),
                "log_only": Target(kind="log"),
            }
        ),
    )


@pytest.fixture(scope="module")
def exporting_registry(tmp_path_factory) -> Registry:
    """The demo site with `export: {notify: regulator}`."""
    path = tmp_path_factory.mktemp("site") / "site.yaml"
    path.write_text(
        DEMO_SITE.read_text(encoding="utf-8") + "\nexport: {notify: regulator}\n",
        encoding="utf-8",
    )
    return load_site(path)


def copy_db(src: Path, dst: Path) -> Path:
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    return dst


def writer(db: Path):
    """A Writer like the engine runner's: `apply` in a transaction of its own."""

    def write(apply) -> Future[Any]:
        fut: Future[Any] = Future()
        conn = sqlite3.connect(db, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            apply(conn)
            conn.execute("COMMIT")
            fut.set_result(None)
        finally:
            conn.close()
        return fut

    return write


def make_exporter(db: Path, registry: Registry, write=None, states=None) -> Exporter:
    svc = ReportService(
        lambda: sqlite3.connect(db),
        registry,
        export_rules(),
        PointStats(EmbeddedReadings(str(db))),
        SHIFTS,
    )
    return Exporter(svc, "district-a", lambda: sqlite3.connect(db), write, states)


@pytest.fixture(scope="module")
def exporter(week_db, exporting_registry) -> Exporter:
    return make_exporter(week_db, exporting_registry)


def valid(doc: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    return doc


def names(registry: Registry) -> list[str]:
    return [r.display_name for r in registry.site.residents]


# --- the document ------------------------------------------------------------------------


def test_the_schema_file_is_a_valid_json_schema_and_defines_the_hazards():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["version"]["const"] == "1"
    hazards = SCHEMA["properties"]["hazards"]
    assert "added within version 1" in hazards["description"]
    assert hazards["required"] == ["open", "note"]  # what the first release gave stays
    assert "overdue" in hazards["properties"]["items"]["items"]["required"]
    assert SCHEMA_FILE.name == "site-export-v1.schema.json"


def test_friday_smoke_alarm_day_validates_and_says_what_the_report_says(exporter):
    doc = valid(exporter.document(date(2026, 3, 6), AS_OF))
    assert (doc["schema"], doc["version"], doc["revision"]) == ("carewatch.site-export", "1", 1)
    assert doc["service_id"] == "district-a"
    assert doc["generated_at"] == "2026-03-09T00:00:00Z"  # AS_OF: Monday 08:00 Shanghai
    assert doc["site"] == {
        "id": "sunrise",
        "name": exporter.site.name,
        "kind": "home",
        "address": exporter.site.address,
    }
    assert doc["period"] == {
        "date": "2026-03-06",
        "timezone": "Asia/Shanghai",
        "start": "2026-03-06T07:00:00+08:00",
        "end": "2026-03-07T07:00:00+08:00",
        "start_utc": "2026-03-05T23:00:00Z",
        "end_utc": "2026-03-06T23:00:00Z",
        "complete": True,
    }
    # Friday 18:00 smoke in 305, acknowledged after 40 s, forwarded by the watch at 15 s
    assert doc["alarms"]["total"] == 1
    assert doc["alarms"]["by_priority"] == {"emergency": 1, "routine": 0, "trouble": 0}
    [smoke] = doc["alarms"]["by_rule"]
    assert (smoke["rule"], smoke["priority"], smoke["alerts"]) == ("smoke", "emergency", 1)
    em = doc["answers"]["emergency"]
    assert (em["waits"], em["answered"], em["within_60s"], em["share_within_60s"]) == (1, 1, 1, 1.0)
    assert (em["median_ack_s"], em["p90_ack_s"], em["max_ack_s"]) == (40.0, 40.0, 40.0)
    fire = doc["fire"]
    assert (fire["alarms"], fire["acked_within_15s"], fire["forwarded"]) == (1, 0, 1)
    assert fire["forwarded_auto"] == 1 and fire["dismissed"] == 0
    e1 = {(e["device_id"], e["field"]): e for e in fire["equipment"]}
    assert e1[("e-1f-panel", "cable_temp_c")]["max"] == 52.0  # Friday 12:00
    assert e1[("e-1f-panel", "cable_temp_c")]["ok"] is True
    hz = doc["hazards"]  # no hazard recorded in the week
    assert (hz["open"], hz["items"], hz["note"]) == ([], [], HAZARDS_NOTE)
    assert (hz["opened"], hz["closure_rate"], hz["ageing"]["0_1d"]) == (0, None, 0)
    assert doc["warnings"] == []


def test_thursday_has_the_pressure_dip_and_the_fire_water_sensor_offline(exporter):
    doc = valid(exporter.document(date(2026, 3, 5), AS_OF))
    fire = doc["fire"]
    riser = next(e for e in fire["equipment"] if e["device_id"] == "p-1f-riser")
    assert (riser["min"], riser["limit"], riser["ok"], riser["unit"]) == (0.08, 0.1, False, "MPa")
    assert fire["equipment_below_limit"] == 1
    # Friday 01:00-01:20 is still Thursday's watch day (it starts at 07:00)
    assert fire["faults"] == {
        "alerts": 1,
        "by_rule": [{"rule": "device_offline", "alerts": 1}],
        "devices": ["p-2f-riser"],
    }
    dev = doc["devices"]
    assert (dev["offline"], dev["offline_devices"], dev["offline_s"]) == (1, ["p-2f-riser"], 1200.0)
    assert dev["offline_at_end"] == 0 and dev["registered"] == 227  # the demo home
    assert dev["availability"] == pytest.approx(1 - 1200 / (86400 * 227))
    assert dev["never_heard"] is None and dev["never_heard_devices"] is None  # no states given


def test_the_seven_days_add_up_to_the_weeks_report(exporter, report):
    """The days partition the week: the export reuses the report, so its sums are the
    week's (16 emergency waits, 15 answered, 12 within 60 s)."""
    docs = [valid(exporter.document(d, AS_OF)) for d in WEEK]
    assert docs[0]["period"]["start_utc"] == "2026-03-01T23:00:00Z"
    assert docs[-1]["period"]["end"] == "2026-03-09T07:00:00+08:00"

    def total(*path: str) -> int:
        out = 0
        for d in docs:
            v: Any = d
            for p in path:
                v = v[p]
            out += v
        return out

    week = report.responses_for("emergency")
    assert total("answers", "emergency", "waits") == week.waits == 16
    assert total("answers", "emergency", "answered") == week.answered == 15
    assert total("answers", "emergency", "within_60s") == week.within_60s == 12
    assert total("alarms", "total") == report.responses_for("all").alerts
    assert total("fire", "alarms") == report.fire.alarms
    for p in ("emergency", "routine", "trouble"):
        assert total("alarms", "by_priority", p) == report.responses_for(p).alerts
    # the low battery of Tuesday 10:00, on Tuesday's day
    assert "cb-105-1" in docs[1]["devices"]["low_battery_devices"]
    # Wednesday: the wearable offline 2.5 h
    assert docs[2]["devices"]["offline_devices"] == ["w-101-1"]


def test_never_heard_counts_the_registered_devices_without_a_last_seen(week_db, registry):
    heard = {("sunrise", "cb-101-1"): (1, 1), ("sunrise", "sd-101"): (None, None)}
    heard[("riverside", "cb-102-1")] = (5, 1)  # another site's device of the same id
    ex = make_exporter(week_db, registry, states=lambda: heard)
    dev = valid(ex.document(date(2026, 3, 6), AS_OF))["devices"]
    assert dev["never_heard"] == 226 and "cb-101-1" not in dev["never_heard_devices"]
    assert "sd-101" in dev["never_heard_devices"] and "cb-102-1" in dev["never_heard_devices"]


def test_a_day_not_over_reads_incomplete_and_a_day_not_begun_is_refused(exporter):
    doc = valid(exporter.document(date(2026, 3, 9), AS_OF))  # Monday 07:00 -> 08:00 so far
    assert doc["period"]["complete"] is False
    assert doc["period"]["end"] == "2026-03-10T07:00:00+08:00"
    with pytest.raises(ExportError, match="has not begun"):
        exporter.document(date(2026, 3, 10), AS_OF)
    # default: the last whole watch day
    assert exporter.document(None, AS_OF)["period"]["date"] == "2026-03-08"


# --- CSV ---------------------------------------------------------------------------------


def test_csv_has_the_documented_columns_and_one_row_per_figure(exporter):
    doc = exporter.document(date(2026, 3, 5), AS_OF)
    rows = list(csv.reader(io.StringIO(export_csv(doc))))
    assert (
        tuple(rows[0])
        == COLUMNS
        == (
            "service_id",
            "site_id",
            "date",
            "figure",
            "key",
            "value",
            "unit",
        )
    )
    body = [dict(zip(COLUMNS, r, strict=True)) for r in rows[1:]]
    assert all(r["service_id"] == "district-a" and r["site_id"] == "sunrise" for r in body)
    assert all(r["date"] == "2026-03-05" for r in body)
    by = {(r["figure"], r["key"]): (r["value"], r["unit"]) for r in body}
    assert len(by) == len(body), "one row per figure"
    assert by[("alarms.total", "")] == ("3", "count")
    assert by[("alarms.by_rule.annunciations", "overcurrent")] == ("12", "count")
    assert by[("answers.all.median_ack_s", "")] == ("300.0", "s")
    assert by[("answers.emergency.share_within_60s", "")] == ("", "ratio")  # no waits
    assert by[("fire.equipment.min", "p-1f-riser.pressure_mpa")] == ("0.08", "MPa")
    assert by[("fire.equipment.ok", "p-1f-riser.pressure_mpa")] == ("false", "bool")
    assert by[("fire.equipment.ok", "p-3f-riser.pressure_mpa")] == ("", "bool")
    assert by[("fire.faults.by_rule.alerts", "device_offline")] == ("1", "count")
    assert by[("devices.offline", "")] == ("1", "count")
    assert by[("devices.availability", "")][1] == "ratio"
    assert by[("devices.by_type.registered", "smoke_detector")][1] == "count"
    assert by[("hazards.open", "")] == ("0", "count")
    assert by[("hazards.items", "")] == ("0", "count")
    assert by[("hazards.closure_rate", "")] == ("", "ratio")
    assert by[("hazards.ageing.30d_plus", "")] == ("0", "count")
    # every figure is a path of the JSON document
    for figure, _ in by:
        v: Any = doc
        for part in figure.split("."):
            v = v[part] if isinstance(v, dict) else v[0][part] if v else {}
    docs = (ROOT / "docs" / "export.md").read_text(encoding="utf-8")
    assert all(f"`{c}`" in docs for c in COLUMNS), "docs/export.md names every column"


# --- privacy -----------------------------------------------------------------------------


def test_no_residents_name_in_the_export_its_csv_or_its_outbox_row(
    tmp_path, week_db, exporting_registry
):
    private = names(exporting_registry)
    assert len(private) > 10
    db = copy_db(week_db, tmp_path / "carewatch.db")
    with sqlite3.connect(db) as conn:
        outbox.create_schema(conn)
    ex = make_exporter(db, exporting_registry, writer(db))
    texts = []
    for d in WEEK:
        doc = ex.document(d, AS_OF)
        texts += [orjson.dumps(doc).decode(), json.dumps(doc, ensure_ascii=False), export_csv(doc)]
        ex.queue(d, AS_OF)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT * FROM outbox WHERE kind = 'export'").fetchall()
    assert len(rows) == 7
    texts += [repr(r) for r in rows] + [bytes(r[10]).decode() for r in rows]
    for text in texts:
        for n in private:
            assert n not in text


def test_a_home_bed_named_after_its_resident_is_scrubbed(report):
    site = {
        "id": "hb-wang",
        "name": "王秀英家 home bed",
        "kind": "home_bed",
        "address": "文二西路 18 号",
    }
    from alerting.reports.export import Period

    doc = document(
        report, site, Period(date(2026, 3, 2), START, END), "d", AS_OF, 1, None, ("王秀英", "李")
    )
    assert doc["site"]["name"] == f"{REDACTED}家 home bed"
    assert "王秀英" not in orjson.dumps(doc).decode()
    assert doc["site"]["address"] == "文二西路 18 号", "one-character names are left alone"
    valid(doc)


# --- queueing in the outbox --------------------------------------------------------------


def test_queued_once_per_key_and_a_new_revision_is_a_new_key(tmp_path, week_db, exporting_registry):
    db = copy_db(week_db, tmp_path / "carewatch.db")
    ex = make_exporter(db, exporting_registry, writer(db))
    with sqlite3.connect(db) as conn:
        install = outbox.install_id(conn)
    assert install != "0"
    first = ex.queue(date(2026, 3, 6), AS_OF)
    assert first.key == f"sunrise:{install}:export:2026-03-06:regulator:1"
    assert (first.queued, first.state) == (True, "pending")
    again = ex.queue(date(2026, 3, 6), AS_OF + 3_600_000)
    assert (again.key, again.queued) == (first.key, False)
    second = ex.queue(date(2026, 3, 6), AS_OF, revision=2)
    assert second.key.endswith(":regulator:2") and second.queued
    assert ex.state(date(2026, 3, 6), 2) == "pending" and ex.state(date(2026, 3, 5)) is None
    with sqlite3.connect(db) as conn:
        row = outbox.next_pending(conn, "regulator", scope=outbox.Scope(kind=outbox.EXPORT_KIND))
        assert outbox.next_pending(conn, "regulator", scope=outbox.Scope(kind="alert")) is None
    assert row is not None and row.kind == "export" and row.key == first.key
    assert (row.alert_id, row.seq, row.action) == (0, 1, "export")
    doc = valid(dict(row.alert))
    assert doc["revision"] == 1 and doc["period"]["date"] == "2026-03-06"
    with pytest.raises(ExportError, match="not over") as err:
        ex.queue(date(2026, 3, 9), AS_OF)
    assert err.value.status == 409
    with pytest.raises(ExportError, match="revision"):
        ex.queue(date(2026, 3, 6), AS_OF, revision=0)


def test_a_site_without_an_export_target_reads_but_does_not_queue(tmp_path, week_db, registry):
    ex = make_exporter(week_db, registry, writer(week_db))
    assert ex.target is None
    valid(ex.document(date(2026, 3, 6), AS_OF))
    with pytest.raises(ExportError, match=r"export\.notify") as err:
        ex.queue(date(2026, 3, 6), AS_OF)
    assert err.value.status == 409


def test_export_job_queues_the_last_day_once(tmp_path, week_db, exporting_registry):
    db = copy_db(week_db, tmp_path / "carewatch.db")
    now = [AS_OF]
    job = ExportJob(make_exporter(db, exporting_registry, writer(db)), lambda: now[0])
    assert job.target == "regulator"
    q = job.run()
    assert q is not None and ":export:2026-03-08:regulator:1" in q.key
    assert job.run() is None  # queued already
    now[0] = AS_OF + 86_400_000
    q = job.run()
    assert q is not None and ":export:2026-03-09:" in q.key


def test_the_export_target_must_be_a_webhook_of_the_sites_rules(tmp_path, week_db):
    for notify, ok in (("regulator", True), ("log_only", False), ("nobody", False)):
        path = tmp_path / f"{notify}.yaml"
        path.write_text(
            DEMO_SITE.read_text(encoding="utf-8") + f"\nexport: {{notify: {notify}}}\n",
            encoding="utf-8",
        )
        svc = make_exporter(week_db, load_site(path)).reports
        if ok:
            assert check_export_target(svc) == "regulator"
        else:
            from devices.yamlconf import ConfigError

            with pytest.raises(ConfigError, match=r"export\.notify"):
                check_export_target(svc)


def test_the_days_boundary_is_the_daily_report_time(tmp_path, week_db):
    """daily_report.at moves the watch day (the demo site's is 07:00, the shifts' too)."""
    path = tmp_path / "site.yaml"
    text = DEMO_SITE.read_text(encoding="utf-8").replace(
        'daily_report: {at: "07:00"}', 'daily_report: {at: "00:00"}'
    )
    assert text != DEMO_SITE.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    ex = make_exporter(week_db, load_site(path))
    p = ex.period(date(2026, 3, 6), AS_OF)
    assert (p.start_ms, p.end_ms) == (t(4, "00:00:00"), t(5, "00:00:00"))
