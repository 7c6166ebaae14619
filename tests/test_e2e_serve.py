"""`carewatch serve` against real mosquitto and InfluxDB."""

from __future__ import annotations

import re
import time

import orjson
import pytest

from tests.conftest import DEMO_SITE, running, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
T = "carewatch/v1/sunrise"


@pytest.fixture
def service(tmp_path, broker, influx):
    yield from running(CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, influx.url))


def test_fall_reaches_the_api_within_a_second_and_ack_resolve_close_it(service, publisher):
    sent = time.monotonic()
    publisher.publish_all(
        [(f"{T}/w-207-1/event", b'{"event":"fall","id":"e-88121","confidence":0.93}')], rate=100
    )
    alerts = wait_until(lambda: service.get("/api/alerts", state="open").json(), 5, 0.01)
    latency = time.monotonic() - sent
    [a] = alerts
    assert latency < 1.0, f"alert visible after {latency:.3f} s"
    assert (a["rule"], a["severity"], a["state"]) == ("fall", "critical", "active_unack")
    assert (a["room"], a["bed"], a["device_id"]) == ("207", "207-1", "w-207-1")

    assert (
        service.post(
            f"/api/alerts/{a['id']}/ack", {"by": "nurse-li"}, token="wrong-token-xxxxxxxx"
        ).status_code
        == 401  # a token nobody issued authenticates nobody
    )
    r = service.post(f"/api/alerts/{a['id']}/ack", {"by": "nurse-li", "note": "on my way"})
    assert r.status_code == 200 and r.json()["state"] == "active_ack"
    r = service.post(f"/api/alerts/{a['id']}/resolve", {"by": "nurse-li", "note": "helped up"})
    assert r.status_code == 200 and r.json()["state"] == "closed"
    assert service.get("/api/alerts", state="open").json() == []
    [closed] = service.get("/api/alerts", state="closed").json()
    assert closed["acknowledged_by"] == "nurse-li" and closed["cleared_at"]
    history = service.get(f"/api/alerts/{a['id']}").json()["history"]
    assert [h["action"] for h in history] == ["raise", "escalate", "ack", "resolve"]


def test_writes_need_a_bearer_token(service):
    import httpx

    r = httpx.post(service.url + "/api/alerts/1/ack", json={"by": "x"})
    assert r.status_code == 401


def test_telemetry_is_queryable_in_influx_and_through_the_api(service, publisher, influx):
    base = int(time.time() * 1000) - 60_000
    msgs = [
        (
            f"{T}/p-2f-riser/telemetry",
            orjson.dumps({"ts": base + i * 1000, "pressure_mpa": 0.30 + i / 1000}),
        )
        for i in range(20)
    ]
    publisher.publish_all(msgs, rate=500)
    q = 'SELECT "pressure_mpa" FROM "water_pressure" WHERE "device" = \'p-2f-riser\''
    rows = wait_until(
        lambda: len(influx.query("carewatch", q)) == 20 and influx.query("carewatch", q), 10
    )
    assert [r[1] for r in rows] == pytest.approx([0.30 + i / 1000 for i in range(20)])
    assert rows[0][0] == base
    tagged = influx.query(
        "carewatch",
        'SELECT "pressure_mpa" FROM "water_pressure" '
        "WHERE \"floor\" = '2' AND \"room\" = '2-utility'",
    )
    assert len(tagged) == 20
    body = service.get(
        "/api/devices/p-2f-riser/readings",
        field="pressure_mpa",
        since=str(base - 1),
        until=str(base + 60_000),
    ).json()
    assert body["unit"] == "MPa"
    assert [p["value"] for p in body["points"]] == pytest.approx(
        [0.30 + i / 1000 for i in range(20)]
    )
    devices = {d["id"]: d for d in service.get("/api/devices").json()}
    assert devices["p-2f-riser"]["online"] is True and devices["p-2f-riser"]["last_seen"]


BAD_INPUTS = {
    "too_large": (f"{T}/w-101-1/telemetry", b'{"x":"' + b"a" * 9000 + b'"}'),
    "bad_encoding": (f"{T}/w-101-1/telemetry", b'{"zone":"\xff"}'),
    "bad_json": (f"{T}/w-101-1/telemetry", b"{not json"),
    "not_object": (f"{T}/w-101-1/telemetry", b"42"),
    "wrong_type": (f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm":"fast"}'),
    "not_finite": (f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm":NaN}'),
    "out_of_range": (f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm":900}'),
    "bad_topic": ("carewatch/v1/sunrise/bad.id!/telemetry", b"{}"),
    "unregistered_device": (f"{T}/intruder-9/telemetry", b'{"battery_pct":40}'),
    "unknown_event": (f"{T}/w-101-1/event", b'{"event":"dance"}'),
    "missing_field": (f"{T}/w-101-1/status", b"{}"),
}


def _counter(metrics: str, reason: str) -> float:
    m = re.search(
        rf'carewatch_messages_total{{outcome="rejected",reason="{reason}"}} (\S+)', metrics
    )
    return float(m.group(1)) if m else 0.0


def test_bad_input_is_counted_kept_and_blocks_nothing(service, publisher, influx):
    good = [
        (
            f"{T}/e-3f-panel/telemetry",
            orjson.dumps(
                {"residual_current_ma": 100 + i, "ts": int(time.time() * 1000) - 1000 + i}
            ),
        )
        for i in range(50)
    ]
    mixed: list[tuple[str, bytes]] = []
    for i, bad in enumerate(BAD_INPUTS.values()):
        mixed += [*good[i * 4 : (i + 1) * 4], bad]
    mixed += good[len(BAD_INPUTS) * 4 :]
    mixed.append((f"{T}/cb-301-1/event", b'{"event":"press","id":"after-bad"}'))
    publisher.publish_all(mixed, rate=1000)

    alerts = wait_until(lambda: service.get("/api/alerts").json(), 5)
    assert [a["rule"] for a in alerts] == ["call"]

    def all_counted() -> str | None:
        text = service.get("/metrics").text
        return text if all(_counter(text, r) == 1 for r in BAD_INPUTS) else None

    metrics = wait_until(all_counted, 5) or service.get("/metrics").text
    for reason in BAD_INPUTS:
        assert _counter(metrics, reason) == 1, reason
    q = 'SELECT count("residual_current_ma") FROM "electrical_monitor" WHERE "device" = \'e-3f-panel\''
    assert wait_until(lambda: influx.query("carewatch", q) == [[0, 50]], 10) is True
    letters = service.get("/api/dead-letters", limit=100).json()
    assert sorted(d["reason"] for d in letters) == sorted(BAD_INPUTS)
    unknown = service.get("/api/devices/unregistered").json()
    assert [u["device_id"] for u in unknown] == ["intruder-9"]
    assert service.get("/readyz").status_code == 200


def test_shelve_maintenance_and_groups_through_the_api(service, publisher):
    publisher.publish_all(
        [
            (f"{T}/w-207-1/event", b'{"event":"fall","id":"f-1"}'),
            (f"{T}/e-2f-panel/telemetry", b'{"residual_current_ma": 420}'),
            (f"{T}/sd-201/event", b'{"event":"tamper","id":"t-1"}'),
        ],
        rate=100,
    )
    alerts = wait_until(lambda: len(service.get("/api/alerts").json()) == 3, 5)
    assert alerts
    by_rule = {a["rule"]: a for a in service.get("/api/alerts").json()}
    # the screen's order: emergency first
    assert service.get("/api/alerts").json()[0]["rule"] == "fall"
    fall, leak = by_rule["fall"], by_rule["residual_current_high"]
    r = service.post(f"/api/alerts/{fall['id']}/shelve", {"by": "nurse-li", "minutes": 30})
    assert r.status_code == 409 and "cannot be shelved" in r.json()["detail"]
    r = service.post(
        f"/api/alerts/{leak['id']}/shelve", {"by": "tech-wu", "note": "electrician", "minutes": 30}
    )
    assert r.status_code == 200 and r.json()["state"] == "shelved" and r.json()["shelved_until"]
    assert [a["rule"] for a in service.get("/api/alerts", state="shelved").json()] == [
        "residual_current_high"
    ]
    r = service.post(f"/api/alerts/{leak['id']}/unshelve", {"by": "tech-wu"})
    assert r.status_code == 200 and r.json()["state"] == "active_unack"
    assert service.post(f"/api/alerts/{leak['id']}/unshelve", {"by": "x"}).status_code == 409

    groups = {g["group"]: g for g in service.get("/api/alerts/groups").json()}
    assert set(groups) == {"room:207", "floor:2"}  # the fire devices of floor 2 are one group
    assert {a["rule"] for a in groups["floor:2"]["alerts"]} == {"residual_current_high", "tamper"}

    r = service.post("/api/devices/sd-202/maintenance", {"by": "tech-wu", "minutes": 60})
    assert r.status_code == 200
    assert service.post("/api/devices/nope/maintenance", {"by": "x"}).status_code == 404
    devs = {d["id"]: d for d in service.get("/api/devices").json()}
    assert devs["sd-202"]["maintenance_until"] and devs["sd-203"]["maintenance_until"] is None
    publisher.publish_all([(f"{T}/sd-202/event", b'{"event":"tamper","id":"t-2"}')], rate=100)
    publisher.publish_all([(f"{T}/sd-203/event", b'{"event":"tamper","id":"t-3"}')], rate=100)
    assert wait_until(
        lambda: {a["device_id"] for a in service.get("/api/alerts").json()} >= {"sd-203"}, 5
    )
    assert "sd-202" not in {a["device_id"] for a in service.get("/api/alerts").json()}
    r = service.post("/api/devices/sd-202/maintenance/end", {"by": "tech-wu"})
    assert r.status_code == 200
    assert service.post("/api/devices/sd-202/maintenance/end", {"by": "x"}).status_code == 409


def test_a_fall_and_its_ack_become_alert_change_points_in_influx(service, publisher, influx):
    publisher.publish_all([(f"{T}/w-207-1/event", b'{"event":"fall","id":"f-ac"}')], rate=100)
    [a] = wait_until(lambda: service.get("/api/alerts", state="open").json(), 5)
    assert service.post(f"/api/alerts/{a['id']}/ack", {"by": "nurse-li"}).status_code == 200
    q = (
        'SELECT "alert_id", "occurrences", "device", "value", "action", "state", "rule",'
        ' "severity", "priority", "floor", "room" FROM "alert_change"'
        " WHERE \"site\" = 'sunrise'"
    )
    rows = wait_until(
        lambda: len(influx.query("carewatch", q)) >= 2 and influx.query("carewatch", q), 10
    )
    assert rows, influx.query("carewatch", q)
    by_action = {r[5]: r for r in rows}
    assert set(by_action) == {"raise", "ack"}, "escalate is a notification, not stored"
    raise_ = by_action["raise"]
    assert raise_[1:5] == [int(a["id"]), 1, "w-207-1", "fall"]
    assert raise_[6:] == ["active_unack", "fall", "critical", "emergency", "2", "207"]
    assert by_action["ack"][6] == "active_ack"
    counted = influx.query(
        "carewatch",
        'SELECT count("alert_id") FROM "alert_change" WHERE "action" = \'raise\' GROUP BY "rule"',
    )
    assert [c[1] for c in counted] == [1]
