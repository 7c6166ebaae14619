"""The watch report over the known week (tests/report_week.py): device availability and
fire equipment, shifts in time, the equipment figures from InfluxDB and the embedded
store, and the report routes' read access."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from alerting.reports.compute import build_report
from alerting.reports.service import ReportService
from alerting.reports.shifts import ShiftDef, parse_hhmm, previous_shift, shift_at
from alerting.reports.source import PointStats, equipment, load_rows
from ingest.spool import EmbeddedReadings
from tests.report_week import AS_OF, END, START, WEEK_S, close, t, week_rules

TZ = ZoneInfo("Asia/Shanghai")
SHIFTS = [
    ShiftDef("早班", parse_hhmm("07:00"), "Day"),
    ShiftDef("中班", parse_hhmm("15:00"), "Evening"),
    ShiftDef("夜班", parse_hhmm("23:00"), "Night"),
]


# --- devices and fire equipment ----------------------------------------------------------------


def test_device_availability_battery_and_maintenance(report, registry):
    d = report.devices
    assert d.registered == len(registry) == 227  # the demo home
    assert [(e.device_id, e.start_ms, e.end_ms, e.seconds) for e in d.episodes] == [
        ("w-101-1", t(2, "10:00:00"), t(2, "12:30:00"), 9000),
        ("p-2f-riser", t(4, "01:00:00"), t(4, "01:20:00"), 1200),
    ]
    assert d.offline_s == 10200
    assert close(d.availability, 1 - 10200 / (227 * WEEK_S))
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


def test_fire_equipment_time_in_fault_over_the_week(report):
    """The week's fire-equipment faults: p-1f-riser's pressure below 0.10 MPa for 30 s
    (raised after its 30 s on-delay, cleared at 0.35 MPa), p-2f-riser offline 20 min; the
    toast and the real smoke are fire alarms, sd-102's maintenance is chosen: neither
    counts. The offline episode is the same as the devices section's."""
    f = report.equipment_faults
    assert f is not None
    assert [(e.device_id, e.rule, e.state, e.start_ms, e.seconds) for e in f.episodes] == [
        ("p-1f-riser", "water_pressure_low", "supervisory", t(3, "11:00:30"), 30),
        ("p-2f-riser", "device_offline", "offline", t(4, "01:00:00"), 1200),
    ]
    assert [(d.device_id, d.fault_s) for d in f.devices] == [
        ("p-2f-riser", 1200),
        ("p-1f-riser", 30),
    ]
    # the demo home: 52 detectors, call points, pressure and electrical monitors + 26 fire
    # installations (panel, pumps, tank, valves, flow switches, doors, lights, fans)
    assert (f.fire_devices, f.in_fault, f.fault_s, f.open_at_end) == (78, 2, 1230, 0)
    pressure = next(x for x in f.by_type if x.device_type == "water_pressure")
    assert (pressure.registered, pressure.in_fault, pressure.fault_s) == (3, 2, 1230)
    offline = next(e for e in report.devices.episodes if e.device_id == "p-2f-riser")
    assert offline.seconds == f.episodes[1].seconds


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
        clock=clock,
        alerts=AlertReader(lambda: sqlite3.connect(week_db)),
        staff=StaffAuth([], b"k" * 32, clock),
        read_open=False,
        tokens=TokenBook([], "viewer-or-better-0123456789"),
        reports=ReportService(
            lambda: sqlite3.connect(week_db), registry, rules, None, SHIFTS, clock=clock
        ),
    )
    runtime.site_reports = {registry.site.id: runtime.reports}  # one per site
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
