"""The watch in real time: offline within a second of its deadline, and the service
noticing its own faults (broker link, store) as alerts on the same API."""

from __future__ import annotations

import time
from datetime import datetime

from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

T = "carewatch/v1/sunrise"
RULES = """\
overrides:
  - rule: device_offline
    device: w-101-1
    set: {supervision_s: 10}
  - rule: broker_disconnected
    set: {for_s: 1}
  - rule: store_unreachable
    set: {for_s: 2}
"""


def ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def open_rules(service: CarewatchProcess) -> dict[str, dict]:
    return {a["rule"]: a for a in service.get("/api/alerts").json()}


def test_offline_fires_within_a_second_of_its_deadline_and_broker_loss_is_an_alert(
    tmp_path, broker, publisher
):
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, rules=RULES)
    service.start()
    try:
        publisher.publish_all([(f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm": 70}')], rate=10)

        def last_seen() -> str | None:
            devs = {d["id"]: d for d in service.get("/api/devices").json()}
            return devs["w-101-1"]["last_seen"]

        seen = wait_until(last_seen, 5)
        assert seen, "the reading arrived"
        publisher.close()
        broker.stop()
        lost = wait_until(lambda: open_rules(service).get("broker_disconnected"), 6)
        assert lost and lost["severity"] == "high" and lost["device_id"] == "system:broker"
        assert lost["priority"] == "trouble"
        broker.start()
        back = wait_until(
            lambda: open_rules(service)["broker_disconnected"]["state"] == "cleared_unack", 15
        )
        assert back, "reconnecting clears the condition; the alert waits for an ack"

        offline = wait_until(lambda: open_rules(service).get("device_offline"), 15)
        assert offline and offline["device_id"] == "w-101-1"
        late_ms = ms(offline["raised_at"]) - (ms(seen) + 10_000)
        assert 0 <= late_ms < 1000, f"offline raised {late_ms} ms after its deadline"
    finally:
        service.stop()


def test_store_unreachable_becomes_an_alert_and_clears_when_it_returns(tmp_path, broker, influx):
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, influx.url, rules=RULES)
    service.start()
    try:
        assert "store_unreachable" not in open_rules(service)
        influx.stop()
        # the drainer only learns of the outage when it next writes: give it something
        from simulators.publisher import Publisher

        pub = Publisher("127.0.0.1", broker.port)
        try:
            pub.publish_all([(f"{T}/e-1f-panel/telemetry", b'{"current_a": 3}')], rate=10)
        finally:
            pub.close()
        down = wait_until(lambda: open_rules(service).get("store_unreachable"), 15)
        assert down and down["state"] == "active_unack"
        time.sleep(0.5)
        influx.start()
        cleared = wait_until(
            lambda: open_rules(service)["store_unreachable"]["state"] == "cleared_unack", 40
        )
        assert cleared
    finally:
        service.stop()
