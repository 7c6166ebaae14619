"""Each real Zigbee2MQTT payload of DOMAIN.md, published to a
running `carewatch serve` through mosquitto, yields the expected reading or alert."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from tests.conftest import wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration

SITE = """\
id: zhome
name: Zigbee home
floors: [{id: "1", rooms: [{id: "101"}, {id: "102"}]}]
devices:
  - {id: sos-101, type: call_button, room: "101", source: zigbee2mqtt, friendly_name: 1F/101/sos, model: TS0215A_sos}
  - {id: smoke-101, type: smoke_detector, room: "101", source: zigbee2mqtt, friendly_name: smoke_101, model: HS1SA}
  - {id: smoke-102, type: smoke_detector, room: "102", source: zigbee2mqtt, friendly_name: smoke_102, model: SMSZB-120}
  - {id: leak-101, type: water_leak, room: "101", source: zigbee2mqtt, friendly_name: leak_101, model: SJCGQ11LM}
  - {id: vib-101, type: vibration_sensor, room: "101", source: zigbee2mqtt, friendly_name: walker_101, model: DJT11LM}
  - {id: pir-102, type: motion_sensor, room: "102", source: zigbee2mqtt, friendly_name: pir_102, model: RTCGQ11LM}
"""

# DOMAIN.md, "Real devices people already own: Zigbee2MQTT"
PAYLOADS = [
    ("1F/101/sos", {"action": "emergency", "battery": None, "linkquality": 90}),
    ("1F/101/sos", {"action": ""}),
    ("smoke_101", {"smoke": True, "battery": 100, "battery_low": False, "linkquality": 81}),
    (
        "smoke_102",
        {
            "smoke": False,
            "test": True,
            "trouble": False,
            "tamper": False,
            "battery": 100,
            "temperature": 24.06,
        },
    ),
    (
        "leak_101",
        {
            "water_leak": True,
            "battery": 100,
            "battery_low": False,
            "temperature": 26,
            "voltage": 3025,
        },
    ),
    ("walker_101", {"action": "drop", "strength": 20, "angle": 87, "battery": 100}),
    ("pir_102", {"occupancy": True, "illuminance_lux": 7, "battery": 100}),
    ("1F/101/sos", {"battery": "80.00", "linkquality": 60}),
]


def _events(db: Path, device_id: str) -> list[dict[str, object]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT data FROM points WHERE device_id = ? AND kind = 1", (device_id,)
        ).fetchall()
    finally:
        conn.close()
    return [orjson.loads(r[0]) for r in rows]


def test_every_zigbee2mqtt_payload_of_the_domain_brief_reaches_the_duty_room(
    tmp_path, broker, publisher
):
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    service = CarewatchProcess(tmp_path / "cw", broker.url, site)
    service.start()
    try:
        publisher.publish_all(
            [(f"zigbee2mqtt/{name}", orjson.dumps(body)) for name, body in PAYLOADS], rate=50
        )

        def alerts() -> dict[tuple[str, str], dict]:
            return {(a["rule"], a["device_id"]): a for a in service.get("/api/alerts").json()}

        expected = {("call", "sos-101"), ("smoke", "smoke-101"), ("water_leak", "leak-101")}
        assert wait_until(lambda: expected <= set(alerts()), 10), (alerts(), service.log()[-3000:])
        got = alerts()
        assert got[("call", "sos-101")]["severity"] == "high"
        assert got[("call", "sos-101")]["priority"] == "emergency"
        assert got[("smoke", "smoke-101")]["severity"] == "critical"
        assert got[("water_leak", "leak-101")]["room"] == "101"

        def readings(device: str, field: str) -> list[float]:
            r = service.get(f"/api/devices/{device}/readings", field=field).json()
            return [p["value"] for p in r["points"]]

        assert wait_until(lambda: readings("pir-102", "illuminance_lux") == [7], 5)
        assert readings("pir-102", "occupancy") == [1]  # true, as the embedded store keeps it
        assert readings("pir-102", "battery_pct") == [100]
        assert readings("sos-101", "battery_pct") == [80]  # "80.00" read as a number
        assert readings("sos-101", "link_quality") == [60]

        db = service.dir / "carewatch.db"
        assert wait_until(lambda: _events(db, "vib-101"), 5)
        [drop] = _events(db, "vib-101")
        assert (drop["event"], drop["strength"], drop["angle_deg"]) == ("drop", 20.0, 87.0)
        # the self-test is logged as a test, and no fire alarm came from it
        [test] = _events(db, "smoke-102")
        assert test["event"] == "test" and test["temperature_c"] == 24.06
        assert not [k for k in alerts() if k[1] == "smoke-102"]
        [press] = _events(db, "sos-101")
        assert press["action"] == "emergency" and "battery_pct" not in press  # null battery

        # availability: Zigbee2MQTT saying a device went away is an offline alert at once
        publisher.publish_all(
            [("zigbee2mqtt/pir_102/availability", b'{"state":"offline"}')], rate=10
        )
        assert wait_until(lambda: ("device_offline", "pir-102") in alerts(), 5)
        devices = {d["id"]: d for d in service.get("/api/devices").json()}
        assert devices["pir-102"]["online"] is False
        assert devices["leak-101"]["online"] is True
    finally:
        service.stop()
