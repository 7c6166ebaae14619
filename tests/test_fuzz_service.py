"""Hostile input against the running service: FLOOD messages (hostile and valid mixed,
DUPLICATES redelivered events) at FLOOD_RATE msg/s through a real mosquitto to a real
`carewatch serve` with InfluxDB. Count sources:
- sent: the publisher's PUBACKs from mosquitto (QoS 1): every message reached the broker;
- delivered: the messages whose topic matches one of the service's subscriptions
  (paho's `topic_matches_sub`); the others are never delivered and cannot be counted;
- expected outcome per delivered message: our own `Decoder` over the same registry and
  prefix (pure and time-independent for rejections), so rejections are predicted per reason;
  accepted vs duplicate depends on receive times for events without id/ts, so only their
  sum is predicted;
- counted: `carewatch_messages_total{outcome,reason}` in /metrics, written after commit.
Payloads stay under mosquitto's max_packet_size (65,536, ingest/broker.py): a larger
PUBLISH is refused by the broker itself (it disconnects the publisher) and never reaches
the service; tests/test_fuzz_decoder.py covers 1 MB payloads.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from paho.mqtt.client import topic_matches_sub

from devices.decode import REASONS, Decoder
from devices.model import DeviceEvent, Rejection
from devices.registry import load_sites
from ingest.deadletter import UNKNOWN_DEVICES_KEPT
from tests.conftest import DEMO_SITE, wait_until
from tests.fuzz_cases import FLOOD_DEVICES, PROBE, STORE_PROBE, hostile_message, valid_message
from tests.fuzz_oracle import NOW, PREFIX, SEED, SITE, fresh_decoder
from tests.servers import CarewatchProcess

FLOOD = 20_000
FLOOD_RATE = 4_000  # msg/s
DUPLICATES = 300
SPOOFED = 1_500
WRONG_SITE = 50  # a device of the service's second site publishing under the first's topic
assert SPOOFED > UNKNOWN_DEVICES_KEPT
OTHER_SITE = """id: other
name: The other home
floors: [{id: "1", rooms: [{id: "1"}]}]
devices: [{id: other-w-1, type: wearable, room: "1"}]
"""


def two_sites(folder: Path) -> Path:
    """The demo home and a second site, as the flooded service watches them: a device of
    one site publishing under the other's topic is `wrong_site`."""
    folder.mkdir()
    (folder / "demo.yaml").write_text(DEMO_SITE.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "other.yaml").write_text(OTHER_SITE, encoding="utf-8")
    return folder


# ------------------------------------------------------------------------- the service

ReasonCounts = dict[tuple[str, str], float]
_METRIC = re.compile(
    r'^carewatch_messages_total\{outcome="([^"]*)",reason="([^"]*)"\} (\S+)$', re.M
)


def message_counts(metrics: str) -> ReasonCounts:
    return {(o, r): float(v) for o, r, v in _METRIC.findall(metrics)}


def _get(service: CarewatchProcess, path: str, **params: Any) -> httpx.Response:
    # with the API token: the read routes may be closed to anonymous readers
    return httpx.get(
        service.url + path,
        params=params,
        timeout=10,
        headers={"Authorization": f"Bearer {service.token}"},
    )


def build_flood(rng: random.Random, now: int) -> list[tuple[str, bytes]]:
    cap = 60_000  # payload bytes: under mosquitto's max_packet_size with the topic
    msgs: list[tuple[str, bytes]] = []
    for _ in range(FLOOD - DUPLICATES - SPOOFED):
        if rng.random() < 0.45:
            msgs.append(valid_message(rng, rng.choice(FLOOD_DEVICES), now))
        else:
            msgs.append(hostile_message(rng, cap, broker_safe=True))
    events = [m for m in msgs if isinstance(fresh_decoder().decode(*m, now), DeviceEvent)]
    for _ in range(DUPLICATES):  # redeliveries of events already sent: counted as duplicate
        msgs.insert(rng.randrange(len(msgs) // 2, len(msgs)), rng.choice(events))
    for i in range(SPOOFED):  # one device publishing under ever new made-up ids
        spoof = (f"{PREFIX}/{SITE}/spoof-{i:05d}/telemetry", b'{"battery_pct":50}')
        msgs.insert(rng.randrange(len(msgs)), spoof)
    for _ in range(WRONG_SITE):
        msgs.insert(
            rng.randrange(len(msgs)), (f"{PREFIX}/{SITE}/other-w-1/telemetry", b'{"steps":1}')
        )
    assert len(msgs) == FLOOD + WRONG_SITE
    assert max(len(t.encode()) + len(p) for t, p in msgs) < 64_000  # mosquitto takes each
    return msgs


@pytest.mark.integration
def test_a_flood_of_hostile_input_is_counted_blocks_nothing_and_stops_nothing(
    tmp_path, broker, influx, publisher
):
    sites = two_sites(tmp_path / "sites")
    service = CarewatchProcess(
        tmp_path / "cw", broker.url, DEMO_SITE, influx.url, settings={"sites_dir": str(sites)}
    )
    service.start()
    try:
        rng = random.Random(SEED)
        msgs = build_flood(rng, int(time.time() * 1000))
        # as the service's: the same two sites, prefix, no memory
        predictor = Decoder(load_sites(sites), PREFIX)
        subs = predictor.subscriptions()
        delivered = [(t, p) for t, p in msgs if any(topic_matches_sub(s, t) for s in subs)]
        expected = Counter[str]()
        for t, p in delivered:  # in publishing order, as mosquitto delivers one client's
            r = predictor.decode(t, p, NOW)
            expected[r.reason if isinstance(r, Rejection) else "ok"] += 1
        assert len(delivered) < len(msgs)  # some topics no subscription matches
        assert set(expected) >= set(REASONS) | {"ok"}, set(REASONS) - set(expected)

        t0 = time.monotonic()
        sent = publisher.publish_all(msgs, rate=FLOOD_RATE)
        assert publisher.wait_acked(sent, 60), f"{publisher.acked} of {sent} acked by the broker"
        publish_s = time.monotonic() - t0

        def counted() -> float:
            return sum(message_counts(_get(service, "/metrics").text).values())

        assert wait_until(lambda: counted() >= len(delivered), 60, 0.2), (
            f"{counted()} of {len(delivered)} counted"
        )
        drain_s = time.monotonic() - t0
        time.sleep(0.5)  # nothing more comes: each message counted once
        counts = message_counts(_get(service, "/metrics").text)
        rejected = {r: int(v) for (o, r), v in counts.items() if o == "rejected"}
        assert {o for o, _ in counts} <= {"accepted", "duplicate", "rejected"}, counts
        assert set(rejected) <= set(REASONS), "internal_error or an unknown reason label"
        assert rejected == {r: n for r, n in expected.items() if r != "ok"}
        ok = counts.get(("accepted", ""), 0) + counts.get(("duplicate", ""), 0)
        assert ok == expected["ok"]
        assert counts.get(("duplicate", ""), 0) >= DUPLICATES
        assert sum(counts.values()) == len(delivered)

        # alive and ready, nothing queued, the store drained
        assert _get(service, "/healthz").status_code == 200
        ready = _get(service, "/readyz")
        assert ready.status_code == 200, ready.text
        # the queue also carries the service's own items (health checks, the drainer's
        # deletes) for a moment: it must come to rest, not be empty at one instant
        idle = "carewatch_engine_queue 0.0"
        assert wait_until(lambda: idle in _get(service, "/metrics").text, 10)
        drained = "carewatch_spool_backlog 0.0"
        assert wait_until(lambda: drained in _get(service, "/metrics").text, 30), (
            "the spool never drained to InfluxDB"
        )

        # a fall after the flood is on the screen within a second
        fall_t = time.monotonic()
        publisher.publish_all(
            [(f"{PREFIX}/{SITE}/{PROBE}/event", b'{"event":"fall","id":"after-flood"}')], rate=10
        )

        def probe_alert() -> bool:
            alerts = _get(service, "/api/alerts", state="open", limit=5000).json()
            return any(a["device_id"] == PROBE and a["rule"] == "fall" for a in alerts)

        assert wait_until(probe_alert, 5, 0.01), "the fall after the flood raised no alert"
        fall_latency = time.monotonic() - fall_t
        assert fall_latency < 1.0, f"fall after the flood visible after {fall_latency:.3f} s"

        # an extra field changing type costs InfluxDB that field, not the reading's values
        base = int(time.time() * 1000) - 5_000
        publisher.publish_all(
            [
                (f"{PREFIX}/{SITE}/{STORE_PROBE}/telemetry", orjson.dumps(body))
                for body in (
                    {"ts": base, "current_a": 10, "mode": "auto"},
                    {"ts": base + 1, "current_a": 11, "mode": 3},
                    {"ts": base + 2, "current_a": 12, "mode": [3]},
                )
            ],
            rate=100,
        )
        q = f"SELECT count(current_a) FROM electrical_monitor WHERE device = '{STORE_PROBE}'"
        stored = wait_until(lambda: influx.query("carewatch", q) == [[0, 3]], 10)
        assert stored, influx.query("carewatch", q)

        # the dead letters are readable and bounded in what they keep
        letters = _get(service, "/api/dead-letters", limit=1000).json()
        assert len(letters) == 1000
        for d in letters:
            assert d["reason"] in REASONS
            assert len(d["topic"]) <= 256 and len(d["payload_preview"]) <= 4 * 512
        unknown = _get(service, "/api/devices/unregistered").json()
        assert 0 < len(unknown) <= UNKNOWN_DEVICES_KEPT, len(unknown)
        log = service.log()
        assert "Traceback" not in log, log[-3000:]
        for line in log.splitlines():  # the only errors: InfluxDB refusing extras' new types
            if '"level":"error"' in line:
                assert "influx refused a point" in line and "field type conflict" in line, line
        print(
            f"flood: {sent} sent, {len(delivered)} delivered, published in {publish_s:.1f} s,"
            f" all counted after {drain_s:.1f} s; {dict(expected)}; fall after it visible"
            f" in {fall_latency * 1000:.0f} ms"
        )
    finally:
        service.stop()
