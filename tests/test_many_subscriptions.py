"""A service of hundreds of sites subscribes to thousands of topic filters (here about
190 KB of them): they go out in SUBSCRIBE packets under the broker's packet limit
(mosquitto's max_packet_size 64 KiB in ingest/broker.py), and the service connects once
and takes every site's messages. In one packet the broker dropped the connection, again
and again."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ingest.mqtt import packet_chunks
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

BEDS = 300


def test_filters_are_grouped_under_the_budget_and_none_is_lost() -> None:
    topics = [f"carewatch/v1/site-{i:04d}/+/telemetry" for i in range(2000)]
    chunks = packet_chunks(topics, budget=16_384)
    assert [t for c in chunks for t in c] == topics
    assert all(sum(len(t) + 3 for t in c) <= 16_384 for c in chunks)
    assert len(chunks) > 1 and packet_chunks([]) == []


def home_beds(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        sid = f"hb-{i:04d}"
        (folder / f"{sid}.yaml").write_text(
            f"id: {sid}\nkind: home_bed\nname: Home bed {i}\naddress: Road {i}\n"
            f"zigbee_prefix: z2m-{sid}\n"
            "residents: [{id: r1, display_name: X}]\n"
            "devices:\n"
            f"  - {{id: {sid}-call, type: call_button, room: home, resident: r1}}\n"
            + "".join(
                f"  - {{id: {sid}-leak-{k}, type: water_leak, room: home, source: zigbee2mqtt,"
                f" friendly_name: ground-floor/bathroom-{k}/leak-sensor-under-the-washbasin,"
                " model: SJCGQ11LM}\n"
                f"  - {{id: {sid}-motion-{k}, type: motion_sensor, room: home,"
                f" source: zigbee2mqtt, friendly_name: ground-floor/room-{k}/motion-sensor-"
                "above-the-door-frame, model: RTCGQ11LM}\n"
                for k in range(2)
            ),
            encoding="utf-8",
        )
    return folder


@pytest.mark.integration
def test_a_service_of_300_home_beds_connects_once_and_hears_the_last_one(
    tmp_path, broker, publisher
) -> None:
    sites = home_beds(tmp_path / "sites", BEDS)
    service = CarewatchProcess(
        tmp_path / "cw", broker.url, DEMO_SITE, settings={"sites_dir": str(sites)}
    )
    service.start(timeout_s=60)
    try:
        last = f"hb-{BEDS - 1:04d}"
        publisher.publish_all(
            [
                (
                    f"carewatch/v1/{last}/{last}-call/event",
                    orjson.dumps({"event": "press", "id": "p1"}),
                ),
                (
                    f"z2m-{last}/ground-floor/bathroom-1/leak-sensor-under-the-washbasin",
                    orjson.dumps({"water_leak": True}),
                ),
            ],
            rate=10,
        )
        got = wait_until(
            lambda: (
                {a["rule"] for a in service.get("/api/alerts", site=last).json()}
                >= {"call", "water_leak"}
            ),
            10,
        )
        assert got, service.get("/api/alerts", site=last).json()
        assert service.log().count('"broker connected"') == 2  # the two sessions, once each
    finally:
        service.stop()
