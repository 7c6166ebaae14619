"""The home-bed kit through a running `carewatch serve` and real mosquitto: a press of the
one-touch terminal is a call, gas is critical at once, Zigbee2MQTT's door and gas payloads
give their readings and alerts, and an "I'm OK" press counts as the day's check-in."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from tests.conftest import wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration

SITE = """\
id: hb-e2e
kind: home_bed
name: test home bed
address: 1 Test Road
residents:
  - {id: r-1, display_name: Test Resident, checkin_by: "10:00", no_activity_h: 4}
devices:
  - {id: hb-e2e-term, type: home_terminal, room: home, resident: r-1}
  - {id: hb-e2e-gas, type: gas_detector, room: home, source: zigbee2mqtt, friendly_name: kitchen-gas, model: JTQJ-BF-01LM/BW}
  - {id: hb-e2e-gas2, type: gas_detector, room: home}
  - {id: hb-e2e-door, type: door_contact, room: home, source: zigbee2mqtt, friendly_name: entrance-door, model: MCCGQ11LM}
  - {id: hb-e2e-bed, type: bed_presence, room: home, resident: r-1, source: zigbee2mqtt, friendly_name: bed, model: TS0601_bed_presence_sensor}
"""


def _checkin_missed(db: Path) -> None:
    """A day without a check-in, as the stopped service's database holds it when the service
    was down over the check-in hour: the daily check due at the last 10:00 (site time),
    nothing heard from the resident since long before."""
    zone = ZoneInfo("Asia/Shanghai")
    now = datetime.now(zone)
    last_10 = now.replace(hour=10, minute=0, second=0, microsecond=0)
    if last_10 > now:
        last_10 -= timedelta(days=1)
    conn = sqlite3.connect(db)
    try:
        with conn:
            n = conn.execute(
                "UPDATE deadlines SET due_ms = ?, value = '0'"
                " WHERE kind = 'welfare' AND rule = 'daily_checkin' AND subject = 'r-1'",
                (int(last_10.timestamp() * 1000),),
            ).rowcount
        assert n == 1
    finally:
        conn.close()


def test_the_home_bed_kit_reaches_the_watch_through_mosquitto(
    tmp_path: Path, broker, publisher
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    service = CarewatchProcess(tmp_path / "cw", broker.url, site)
    service.start()
    try:

        def alerts() -> dict[tuple[str, str], dict]:
            return {(a["rule"], a["device_id"]): a for a in service.get("/api/alerts").json()}

        def readings(device: str, field: str) -> list[float]:
            r = service.get(f"/api/devices/{device}/readings", field=field).json()
            return [p["value"] for p in r["points"]]

        publisher.publish_all(
            [
                (
                    "carewatch/v1/hb-e2e/hb-e2e-term/event",
                    orjson.dumps({"event": "press", "id": "t-1"}),
                ),
                ("carewatch/v1/hb-e2e/hb-e2e-gas2/telemetry", orjson.dumps({"gas": True})),
                ("zigbee2mqtt/kitchen-gas", orjson.dumps({"gas": True, "gas_density": 12})),
                (
                    "zigbee2mqtt/entrance-door",
                    orjson.dumps({"contact": False, "battery": 100, "voltage": 3005}),
                ),
                ("zigbee2mqtt/bed", orjson.dumps({"occupancy": True, "battery": 90})),
            ],
            rate=50,
        )
        expected = {
            ("call", "hb-e2e-term"),
            ("gas_leak", "hb-e2e-gas"),
            ("gas_leak", "hb-e2e-gas2"),
        }
        assert wait_until(lambda: expected <= set(alerts()), 10), (alerts(), service.log()[-3000:])
        got = alerts()
        call = got[("call", "hb-e2e-term")]
        assert (call["severity"], call["priority"]) == ("high", "emergency")
        for gas in ("hb-e2e-gas", "hb-e2e-gas2"):
            assert got[("gas_leak", gas)]["severity"] == "critical"
        assert wait_until(lambda: readings("hb-e2e-door", "contact") == [0], 5)  # open
        assert readings("hb-e2e-gas", "gas_density") == [12]
        assert readings("hb-e2e-bed", "presence") == [1]
        # the resident cancels at the terminal: the call is over
        publisher.publish_all(
            [("carewatch/v1/hb-e2e/hb-e2e-term/event", b'{"event":"cancel","id":"t-2"}')],
            rate=10,
        )
        assert wait_until(lambda: ("call", "hb-e2e-term") not in alerts(), 5)
    finally:
        service.stop()

    # the service was down over the check-in hour, and nobody checked in: at its start, a
    # low welfare alert
    _checkin_missed(service.dir / "carewatch.db")
    service.start()
    try:

        def checkin() -> dict | None:
            for a in service.get("/api/alerts").json():
                if a["rule"] == "daily_checkin":
                    return a
            return None

        assert wait_until(checkin, 10), service.log()[-3000:]
        alert = checkin()
        assert alert is not None
        assert (alert["device_id"], alert["severity"], alert["state"]) == (
            "hb-e2e-term",  # filed under the resident's terminal
            "low",
            "active_unack",
        )
        # "I'm OK" on the terminal: the day's check-in, late but made
        publisher.publish_all(
            [("carewatch/v1/hb-e2e/hb-e2e-term/event", b'{"event":"checkin","id":"t-3"}')],
            rate=10,
        )
        assert wait_until(lambda: (checkin() or {}).get("state") == "cleared_unack", 5), checkin()
    finally:
        service.stop()
