"""The district overview: every site with its state at a glance, most urgent first.

The summary over an engine on the example district (two homes and a home bed) on a fake
clock: the order, the 60-second rule, fire-equipment faults, offline devices and the link,
the watch's own alerts once; 500 sites in well under a second; the API and the stream over
the app. The page in Chromium: tests/test_district_page.py."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerting import store
from alerting.items import Incoming
from alerting.model import Alert, AlertState, Severity
from alerting.rulebook import Rulebook
from alerting.ruleset import RuleSet
from alerting.store import AlertReader
from alerting.views import iso
from dashboards.auth import StaffAuth, TokenBook
from dashboards.district import (
    UNACK_AFTER_MS,
    DistrictSummary,
    Summary,
    district_events,
    is_fire_fault,
)
from dashboards.stream import ChangeHub
from devices.ports import FakeClock
from devices.registry import Registry, load_sites
from devices.siteconfig import SYSTEM_SITE, SiteConfig
from tests.app_harness import harness_runtime, request
from tests.conftest import ROOT
from tests.engine_harness import Harness

SITES = ROOT / "examples" / "sites"
TOKEN = "viewer-or-better-0123456789"


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The example district instead of the demo site: conftest's engine harness `h` runs
    over it here."""
    return load_sites(SITES)


def send(h: Harness, site: str, device: str, kind: str, payload: str) -> None:
    d = h.decoder.decode(f"carewatch/v1/{site}/{device}/{kind}", payload.encode(), h.clock.now_ms())
    h.changes += h.engine.process([Incoming(d)]).changes


def event(h: Harness, site: str, device: str, name: str) -> None:
    send(h, site, device, "event", orjson.dumps({"event": name, "id": f"{device}-{name}"}).decode())


class Board:
    """The district summary over a harness's store; `broker` is what the service's broker
    connection says."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.broker = True
        self.summary = DistrictSummary(
            h.registry,
            Rulebook.of_one(h.rules),
            AlertReader(lambda: sqlite3.connect(h.path)),
            h.clock,
            lambda: self.broker,
        )

    def __call__(self, sites: list[str] | None = None) -> Summary:
        return self.summary(self.h.registry.site_ids() if sites is None else sites)

    def rows(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in self().body["sites"]}

    def order(self) -> list[str]:
        return [r["id"] for r in self().body["sites"]]


@pytest.fixture
def board(h: Harness) -> Board:
    return Board(h)


# --- the order ---------------------------------------------------------------------------


def hello(h: Harness) -> None:
    """One device of each site reports: every site is heard."""
    for site, dev in (
        ("sunrise", "w-101-1"),
        ("riverside", "rv-w-101-1"),
        ("hb-wang", "hb-wang-band"),
    ):
        send(h, site, dev, "status", '{"online": true}')


def test_a_critical_alert_nobody_acknowledged_puts_its_site_first(h: Harness, board: Board):
    hello(h)
    assert board.order() == ["sunrise", "riverside", "hb-wang"]  # all alike: the registry's
    assert {r["status"] for r in board.rows().values()} == {"ok"}
    event(h, "hb-wang", "hb-wang-call", "press")  # a call (high) at the home bed
    h.tick(5)
    event(h, "riverside", "rv-w-101-1", "fall")  # a fall (critical), later
    rows = board.rows()
    assert board.order() == ["riverside", "hb-wang", "sunrise"]
    assert rows["riverside"]["status"] == "alarm" and rows["riverside"]["critical_unack"] == 1
    assert rows["hb-wang"]["status"] == "attention" and rows["hb-wang"]["alerts"]["high"] == 1
    assert rows["sunrise"]["status"] == "ok" and rows["sunrise"]["screen"] == "/?site=sunrise"
    assert rows["hb-wang"]["kind"] == "home_bed" and rows["hb-wang"]["timezone"] == "Asia/Shanghai"
    # acknowledged, the fall is in hand: the call nobody answered comes first
    assert h.command("ack", h.one("fall").id).ok
    rows = board.rows()
    assert board.order() == ["hb-wang", "riverside", "sunrise"]
    assert rows["riverside"]["status"] == "open" and rows["riverside"]["alerts"]["critical"] == 1


def test_a_site_nobody_hears_needs_attention_before_alerts_in_hand(h: Harness, board: Board):
    send(h, "riverside", "rv-w-101-1", "status", '{"online": true}')
    event(h, "riverside", "rv-w-101-1", "fall")
    assert h.command("ack", h.one("fall").id).ok
    rows = board.rows()
    assert (rows["riverside"]["status"], rows["sunrise"]["status"]) == ("open", "attention")
    assert rows["sunrise"]["link"] == "never"
    assert board.order() == ["sunrise", "hb-wang", "riverside"]


def test_then_the_count_of_alerts_waiting_then_their_age(h: Harness, board: Board):
    event(h, "sunrise", "cb-101-1", "press")
    h.tick(10)
    event(h, "hb-wang", "hb-wang-call", "press")
    assert board.order()[:2] == ["sunrise", "hb-wang"]  # one call each: the older first
    event(h, "hb-wang", "hb-wang-band", "sos")
    assert board.order()[:2] == ["hb-wang", "sunrise"]  # two waiting beat one
    h.tick(55)  # sunrise's call has waited 65 s, the home bed's 55 s
    rows = board.rows()
    assert (rows["sunrise"]["unack_over_60s"], rows["hb-wang"]["unack_over_60s"]) == (1, 0)
    assert board.order()[:2] == ["sunrise", "hb-wang"]  # waiting past a minute beats more


def test_an_alert_waits_once_unacknowledged_for_more_than_60_seconds(h: Harness, board: Board):
    event(h, "sunrise", "w-101-1", "fall")
    raised = h.clock.now_ms()
    got = board()
    assert got.body["sites"][0]["unack_over_60s"] == 0
    assert got.next_due_ms == raised + UNACK_AFTER_MS + 1  # the stream looks again then
    h.clock.advance(60)  # exactly 60 s: not yet more than 60 s
    assert board.rows()["sunrise"]["unack_over_60s"] == 0
    h.clock.t += 1
    row = board.rows()["sunrise"]
    assert (row["unack_over_60s"], row["unack"], board().next_due_ms) == (1, 1, None)
    assert row["oldest_unack_at"] == board().body["sites"][0]["oldest_unack_at"]
    # cleared but not acknowledged (the current back to normal) is not "active_unack"
    send(h, "sunrise", "e-1f-panel", "telemetry", '{"residual_current_ma": 320}')
    send(h, "sunrise", "e-1f-panel", "telemetry", '{"residual_current_ma": 120}')
    h.tick(120)
    assert h.one("residual_current_high").state is AlertState.CLEARED_UNACK
    assert board.rows()["sunrise"]["unack_over_60s"] == 1  # the fall only
    assert h.command("ack", h.one("fall").id).ok
    row = board.rows()["sunrise"]
    assert (row["unack_over_60s"], row["unack"], row["oldest_unack_at"]) == (0, 0, None)


# --- fire equipment, devices, the link -----------------------------------------------------


def test_fire_equipment_faults_are_trouble_alerts_of_fire_safety_devices(h: Harness, board: Board):
    event(h, "riverside", "rv-sd-101", "fault")  # a detector reports a fault
    event(h, "riverside", "rv-cp-1f", "tamper")  # the call point's cover opened
    event(h, "riverside", "rv-cb-101-1", "fault")  # a call button: not fire equipment
    event(h, "riverside", "rv-sd-102", "smoke_alarm")  # a fire alarm is not a fault
    send(h, "riverside", "rv-p-b1-main", "telemetry", '{"pressure_mpa": 0.05}')
    h.tick(30)  # the low pressure's on-delay passes (a routine alert, not a fault)
    assert {a.rule for a in h.open() if a.site == "riverside"} == {
        "device_fault",
        "tamper",
        "smoke",
        "water_pressure_low",
    }
    assert board.rows()["riverside"]["fire_faults"] == 2
    # 600 s on: every 600-s device not heard since goes offline, the fire-water pressure
    # sensors (2) and electrical fire monitors (4) among them, the wearables (32) too
    h.tick(571)
    offline = {a.device_id for a in h.open("device_offline") if a.site == "riverside"}
    assert {"rv-p-b1-main", "rv-e-b1-main", "rv-w-101-1"} <= offline and len(offline) == 38
    assert board.rows()["riverside"]["fire_faults"] == 2 + 6
    # its 3 pressure sensors, 3 monitors and 26 fire installations (panel, pumps, valves...)
    assert board.rows()["sunrise"]["fire_faults"] == 6 + 26


def test_a_fault_or_offline_rule_on_fire_equipment_counts_whatever_its_priority(
    registry: Registry,
):
    district = registry
    rules = Rulebook.of_one(RuleSet.defaults())

    def alert(device: str, rule: str, priority: str) -> Alert:
        dev = district.by_id(device)
        site = dev.site if dev else "riverside"
        return Alert(0, site, device, rule, Severity.HIGH, AlertState.ACTIVE_UNACK, False, 0, 0, 1,
                     priority=priority)  # fmt: skip

    # a site's rules may make a fault routine: still a fault of fire equipment
    assert is_fire_fault(alert("rv-sd-101", "device_fault", "routine"), district, rules)
    assert is_fire_fault(alert("rv-e-b1-main", "device_offline", "routine"), district, rules)
    assert is_fire_fault(alert("hb-wang-smoke", "battery_low", "trouble"), district, rules)
    assert not is_fire_fault(alert("rv-cb-101-1", "device_fault", "trouble"), district, rules)
    assert not is_fire_fault(alert("rv-sd-101", "smoke", "emergency"), district, rules)
    assert not is_fire_fault(
        alert("rv-p-b1-main", "water_pressure_low", "routine"), district, rules
    )
    assert not is_fire_fault(alert("gone", "device_fault", "trouble"), district, rules)  # removed


def test_offline_never_heard_and_maintenance_devices_are_counted_apart(h: Harness, board: Board):
    row = board.rows()["hb-wang"]
    assert (row["devices"], row["devices_never_heard"], row["devices_offline"]) == (8, 8, 0)
    for dev in ("hb-wang-call", "hb-wang-band", "hb-wang-smoke"):
        send(h, "hb-wang", dev, "status", '{"online": true}')
    row = board.rows()["hb-wang"]
    assert (row["devices_never_heard"], row["devices_offline"], row["status"]) == (5, 0, "ok")
    send(h, "hb-wang", "hb-wang-call", "status", '{"online": false}')  # its last will
    assert board.rows()["hb-wang"]["devices_offline"] == 1
    h.tick(601)  # the band (600 s) is overdue; the smoke detector (3600 s) is not
    row = board.rows()["hb-wang"]
    assert (row["devices_offline"], row["devices_never_heard"]) == (2, 5)
    assert h.device_command("maintenance_start", "hb-wang-band", 3600).ok
    row = board.rows()["hb-wang"]
    assert (row["devices_offline"], row["devices_maintenance"]) == (1, 1)


def test_a_site_is_heard_while_any_device_reports_within_its_interval(h: Harness, board: Board):
    assert {r["link"] for r in board.rows().values()} == {"never"}
    assert board.rows()["hb-wang"]["status"] == "attention"  # a site nobody hears from
    send(h, "hb-wang", "hb-wang-band", "telemetry", '{"heart_rate_bpm": 72}')  # 600 s
    send(h, "hb-wang", "hb-wang-smoke", "status", '{"online": true}')  # 3600 s
    heard = h.clock.now_ms()
    row = board.rows()["hb-wang"]
    assert (row["link"], row["status"]) == ("ok", "ok")
    h.tick(3000)  # the band is late, the detector is not
    assert board.rows()["hb-wang"]["link"] == "ok"
    h.tick(601)  # both late: the home bed's gateway or line is down
    row = board.rows()["hb-wang"]
    assert (row["link"], row["status"]) == ("silent", "attention")
    assert row["last_heard"] == iso(heard)
    board.broker = False  # the service itself hears nothing: every site says so
    assert {r["link"] for r in board.rows().values()} == {"broker_down"}


def test_the_watchs_own_alerts_are_listed_once_not_per_site(h: Harness, board: Board):
    h.health("broker", False)
    h.tick(6)
    [system] = board().body["system"]
    assert system["rule"] == "broker_disconnected" and system["severity"] == "high"
    assert system["title"] and system["title_en"] and system["state"] == "active_unack"
    assert [a.site for a in h.open("broker_disconnected")] == [SYSTEM_SITE]
    assert all(r["open"] == 0 for r in board().body["sites"])
    assert SYSTEM_SITE not in board.order()


def test_only_the_sites_the_caller_may_read_are_listed(h: Harness, board: Board):
    event(h, "sunrise", "w-101-1", "fall")
    body = board(["hb-wang", "riverside"]).body
    assert [r["id"] for r in body["sites"]] == ["hb-wang", "riverside"]
    assert board(["nowhere"]).body["sites"] == []


# --- cheap at scale ---------------------------------------------------------------------------


def _many_sites(n: int, devices: int) -> Registry:
    rooms = [{"id": str(100 + i)} for i in range(devices)]
    types = ["wearable", "call_button", "smoke_detector", "water_leak"]
    return Registry(
        [
            SiteConfig.model_validate(
                {
                    "id": f"s-{s}",
                    "name": f"Home {s}",
                    "floors": [{"id": "1", "rooms": rooms}],
                    "devices": [
                        {"id": f"d-{s}-{i}", "type": types[i % 4], "room": str(100 + i)}
                        for i in range(devices)
                    ],
                }
            )
            for s in range(n)
        ]
    )


def test_five_hundred_sites_answer_well_under_a_second(tmp_path: Path):
    reg = _many_sites(500, 40)
    clock = FakeClock()
    now = clock.now_ms()
    db = tmp_path / "big.db"
    conn = sqlite3.connect(db)
    store.create_schema(conn)
    rules = ["fall", "call", "device_offline", "device_fault", "battery_low"]
    for i, d in enumerate(reg.devices()[::4]):  # 5,000 open alerts over every site
        sev = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW][i % 4]
        state = [AlertState.ACTIVE_UNACK, AlertState.ACTIVE_ACK][i % 2]
        store.insert(conn, Alert(0, d.site, d.id, rules[i % 5], sev, state, False,
                                 now - i * 1000, now, 1, priority="trouble"))  # fmt: skip
    conn.executemany(
        "INSERT INTO device_state(site, device_id, last_seen_ms, online, due_ms) VALUES (?,?,?,?,?)",
        [(d.site, d.id, now - (i % 900) * 1000, 1, None) for i, d in enumerate(reg.devices())],
    )
    conn.commit()
    conn.close()
    summary = DistrictSummary(
        reg,
        Rulebook.of_one(RuleSet.defaults()),
        AlertReader(lambda: sqlite3.connect(db)),
        clock,
        lambda: True,
    )
    sites = reg.site_ids()
    t0 = time.perf_counter()
    first = summary(sites)  # builds the per-device plan once
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = summary(sites)
    warm = time.perf_counter() - t0
    assert len(again.body["sites"]) == 500 and sum(r["open"] for r in first.body["sites"]) == 5000
    assert sum(r["devices_offline"] for r in again.body["sites"]) > 0  # wearables past 600 s
    assert cold < 1.0 and warm < 0.5, f"cold {cold:.3f} s, warm {warm:.3f} s"


# --- the API, the page, the stream -------------------------------------------------------------


def _client(h: Harness, read_open: bool) -> Any:
    import httpx

    from dashboards.app import create_app

    staff = StaffAuth([], b"k" * 32, h.clock)
    health = {"broker": True, "store": True, "engine": True}
    runtime = harness_runtime(h, staff, TokenBook([], TOKEN), read_open, health=lambda: health)
    app = create_app(runtime)  # type: ignore[arg-type]

    class Client:
        def get(self, path: str, **kw: Any) -> httpx.Response:
            return request(app, "GET", path, **kw)

    return Client()


def test_the_api_follows_the_read_access_and_the_page_is_served(h: Harness):
    event(h, "hb-wang", "hb-wang-call", "press")
    closed = _client(h, read_open=False)
    assert closed.get("/api/district").status_code == 401
    ok = closed.get("/api/district", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    body = ok.json()
    assert body["sites"][0]["id"] == "hb-wang" and body["broker"] is True
    assert body["as_of"] == iso(h.clock.now_ms())  # the service's clock
    assert body["sites"][0]["oldest_unack_at"] == iso(h.clock.now_ms())
    assert not {"oldest_unack_ms", "emergency_unack"} & body["sites"][0].keys()  # sort only
    assert closed.get("/api/district", params={"access_token": TOKEN}).status_code == 200
    page = _client(h, read_open=True).get("/district")
    assert page.status_code == 200 and "/static/js/district.js" in page.text
    assert page.headers["cache-control"] == "no-cache"


def test_the_stream_sends_after_a_change_throttled_and_never_the_same_twice():
    async def go() -> None:
        hub = ChangeHub()
        bodies = iter([{"as_of": "1", "n": 1}, {"as_of": "2", "n": 2}, {"as_of": "3", "n": 2}])
        clock = FakeClock()
        due: list[int | None] = [None]

        def summary() -> Summary:
            return Summary({"sites": [], **next(bodies, {"as_of": "4", "n": 2})}, due[0])

        events = district_events(summary, hub, clock.now_ms, throttle_s=0.3, refresh_s=30)
        first = await asyncio.wait_for(anext(events), 1)
        assert first.event == "summary" and orjson.loads(first.data)["n"] == 1
        t0 = time.monotonic()
        hub.notify([])
        second = await asyncio.wait_for(anext(events), 2)
        assert orjson.loads(second.data)["n"] == 2
        assert time.monotonic() - t0 >= 0.25  # at most one update per throttle_s
        hub.notify([])  # the same figures at a later time stamp: nothing is sent
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(events), 0.8)

    asyncio.run(go())


def test_the_stream_looks_again_when_an_alert_passes_the_minute():
    async def go() -> None:
        clock = FakeClock()
        calls = [0]

        def summary() -> Summary:
            calls[0] += 1
            return Summary({"as_of": "x", "sites": [], "n": calls[0]}, clock.now_ms() + 200)

        events = district_events(summary, ChangeHub(), clock.now_ms, throttle_s=0.1)
        await asyncio.wait_for(anext(events), 1)
        again = await asyncio.wait_for(anext(events), 2)  # no change committed: time did it
        assert orjson.loads(again.data)["n"] == 2
        await events.aclose()

    asyncio.run(go())
