"""A Zigbee2MQTT gateway watched by a running `carewatch serve` through mosquitto: its
death (the broker sends its last will) and its `bridge/state` offline are an alert of its
site within a second, online clears it; its `bridge/devices` is checked against the site
file (GET /api/zigbee); and a `smoke: true` still standing when the service restarts
(stop/start and kill -9) is no second alarm."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import datetime

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from tests.conftest import wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration

BASE = "z2m-zhome"
SITE = f"""\
id: zhome
name: Zigbee home
zigbee_prefix: {BASE}
floors: [{{id: "1", rooms: [{{id: "101"}}, {{id: "102"}}]}}]
devices:
  - {{id: smoke-101, type: smoke_detector, room: "101", source: zigbee2mqtt, friendly_name: 1F/101/smoke, model: HS1SA}}
  - {{id: leak-102, type: water_leak, room: "102", source: zigbee2mqtt, friendly_name: 1F/102/leak, model: SJCGQ11LM}}
  - {{id: sos-102, type: call_button, room: "102", source: zigbee2mqtt, friendly_name: 1F/102/sos, model: TS0215A_sos}}
"""
SMOKE = b'{"smoke":true,"battery":100,"battery_low":false,"linkquality":81}'
CALM = b'{"smoke":false,"battery":100,"battery_low":false,"linkquality":81}'
OFFLINE, ONLINE = b'{"state":"offline"}', b'{"state":"online"}'
RULE = "zigbee_bridge_offline"


def device(name: str, ieee: str, model: str | None, kind: str = "EndDevice", **more: object):
    definition = None if model is None else {"model": model, "vendor": "x", "exposes": []}
    return {
        "friendly_name": name,
        "ieee_address": ieee,
        "type": kind,
        "supported": model is not None,
        "definition": definition,
        "interview_completed": True,
        "disabled": False,
        **more,
    }


# the gateway's list: the leak sensor was renamed, a plug nobody registered was paired
PAIRED = [
    device("Coordinator", "0x00124b0022aa3d1c", None, "Coordinator"),
    device("1F/101/smoke", "0x00158d0001000001", "HS1SA"),
    device("1F/102/sos", "0x00158d0001000002", "TS0215A_sos", interview_completed=False),
    device("0x00158d0001000003", "0x00158d0001000003", "SJCGQ11LM"),
    device("hall plug", "0x00158d0001000004", "TS011F_plug_1", "Router"),
]


def publish(port: int, topic: str, payload: bytes, retain: bool = True) -> float:
    """One QoS 1 message as Zigbee2MQTT publishes it (bridge topics: retained); the
    wall-clock time just before it was sent."""
    c = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"z2m-{uuid.uuid4().hex[:8]}",
        protocol=MQTTProtocolVersion.MQTTv311,
    )  # fmt: skip
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        sent = time.time()
        c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
        return sent
    finally:
        c.disconnect()
        c.loop_stop()


GATEWAY = """
import sys
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

base, port = sys.argv[1], int(sys.argv[2])
c = paho.Client(CallbackAPIVersion.VERSION2, client_id="zigbee2mqtt-zhome")
c.will_set(base + "/bridge/state", b'{"state":"offline"}', qos=1, retain=True)
c.on_subscribe = lambda *_: print("ready", flush=True)
c.connect("127.0.0.1", port)
c.subscribe(base + "/bridge/request/#", 1)
c.loop_forever()
"""


def gateway(port: int) -> subprocess.Popen[str]:
    """A stand-in for Zigbee2MQTT's MQTT session: connected with its last will
    (bridge/state offline, retained), as Zigbee2MQTT connects; kill it to let it die."""
    proc = subprocess.Popen(
        [sys.executable, "-c", GATEWAY, BASE, str(port)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def alerts(service: CarewatchProcess, rule: str) -> list[dict]:
    return [a for a in service.get("/api/alerts", state="all").json() if a["rule"] == rule]


def test_a_dead_or_stopped_gateway_is_an_alert_of_its_site_within_a_second(tmp_path, broker):
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    service = CarewatchProcess(tmp_path / "cw", broker.url, site)
    service.start()
    proc = gateway(broker.port)
    try:
        publish(broker.port, f"{BASE}/bridge/state", ONLINE)
        publish(broker.port, f"{BASE}/bridge/devices", orjson.dumps(PAIRED))

        def view() -> dict:
            [one] = service.get("/api/zigbee", site="zhome").json()
            return one

        assert wait_until(lambda: (view()["gateway"] or {}).get("paired") == 5, 10), view()
        v = view()
        assert v["base_topic"] == BASE and v["gateway"]["online"] is True
        assert v["registered"] == 3
        assert [d["id"] for d in v["missing"]] == ["leak-102"]
        assert [d["ieee_address"] for d in v["unregistered"]] == [
            "0x00158d0001000003",  # the leak sensor under its new name
            "0x00158d0001000004",
        ]
        assert [d["id"] for d in v["not_interviewed"]] == ["sos-102"]
        assert "hall plug" not in service.log()  # the log names ids, not friendly names

        # the gateway dies: the broker publishes its last will
        died = time.time()
        proc.kill()
        proc.wait()
        assert wait_until(lambda: alerts(service, RULE), 5), service.log()[-3000:]
        [a] = alerts(service, RULE)
        late = ms(a["raised_at"]) - died
        assert late < 1.0, f"raised {late:.3f} s after the gateway died"
        assert (a["site"], a["device_id"]) == ("zhome", "system:zigbee_bridge")
        assert (a["severity"], a["priority"]) == ("high", "trouble")
        assert wait_until(lambda: view()["gateway"]["online"] is False, 5)

        # back: cleared (the alert waits for an ack), then acknowledged
        publish(broker.port, f"{BASE}/bridge/state", ONLINE)
        assert wait_until(lambda: alerts(service, RULE)[0]["state"] == "cleared_unack", 5)
        r = service.post(f"/api/alerts/{a['id']}/ack", {"by": "tech-wu"})
        assert r.status_code == 200, r.text

        # stopped (Zigbee2MQTT publishes offline, retained, as it goes)
        sent = publish(broker.port, f"{BASE}/bridge/state", OFFLINE)
        assert wait_until(lambda: len(alerts(service, RULE)) == 2, 5), alerts(service, RULE)
        [b] = [x for x in alerts(service, RULE) if x["id"] != a["id"]]
        late = ms(b["raised_at"]) - sent
        assert late < 1.0, f"raised {late:.3f} s after the publish"
        publish(broker.port, f"{BASE}/bridge/state", b"online")  # the legacy payload
        assert wait_until(
            lambda: (
                [x["state"] for x in alerts(service, RULE) if x["id"] == b["id"]]
                == ["cleared_unack"]
            ),
            5,
        )
        # an invalid state is a rejection like any other
        publish(broker.port, f"{BASE}/bridge/state", b'{"state":"sleepy"}', retain=False)
        assert wait_until(
            lambda: [
                d for d in service.get("/api/dead-letters").json() if d["topic"].endswith("/state")
            ],
            5,
        )
        assert len(alerts(service, RULE)) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
        service.stop()


def test_a_standing_smoke_alarm_is_not_a_new_alarm_after_a_restart_or_a_crash(tmp_path, broker):
    site = tmp_path / "site.yaml"
    site.write_text(SITE, encoding="utf-8")
    service = CarewatchProcess(tmp_path / "cw", broker.url, site)
    service.start()
    topic = f"{BASE}/1F/101/smoke"
    try:
        # a device with Zigbee2MQTT's `retain: true`: every start hears its state again
        publish(broker.port, topic, SMOKE)
        assert wait_until(lambda: alerts(service, "smoke"), 5), service.log()[-3000:]
        [first] = alerts(service, "smoke")
        assert first["occurrences"] == 1

        def last_seen() -> str | None:
            devs = {d["id"]: d for d in service.get("/api/devices").json()}
            return devs["smoke-101"]["last_seen"]

        for restart in (service.stop, service.kill9):
            before = last_seen()
            restart()
            service.start()
            # the retained state came again at subscribe; the next message repeats it
            assert wait_until(lambda: last_seen() != before, 10), service.log()[-3000:]
            heard = last_seen()
            publish(broker.port, topic, SMOKE, retain=False)
            assert wait_until(lambda: last_seen() != heard, 10)
            [same] = alerts(service, "smoke")
            assert (same["id"], same["occurrences"]) == (first["id"], 1), same
            assert same["state"] == "active_unack"

        publish(broker.port, topic, CALM)
        assert wait_until(lambda: alerts(service, "smoke")[0]["condition_cleared_at"], 5)
        [latched] = alerts(service, "smoke")  # a fire alarm stays until a person resets it
        assert latched["id"] == first["id"] and latched["occurrences"] == 1
    finally:
        service.stop()
