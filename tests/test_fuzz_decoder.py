"""Hostile input against the decoder: 100,000 fuzzed topics and payloads (pure, fast),
fixed seeds, cases counted as they run:
- hypothesis, hostile topics (wildcards, '/', '..', NUL, control characters, lone
  surrogates, look-alike unicode, 70k-long segments, wrong site, unregistered devices, the
  reserved `alerts` id, extra levels): TOPIC_CASES;
- hypothesis, hostile payloads on registered topics (JSON of the contract's shape with
  NaN/Infinity literals, 1e400, -0, huge ints, nesting to 10k deep, 1 MB strings, wrong
  types per field, duplicate keys, BOM, invalid UTF-8, truncation, garbage, exactly 8 KiB
  and one byte more): PAYLOAD_CASES;
- raw random bytes with `random.Random(SEED)`: random payloads, mutated valid payloads,
  random topic *bytes* through the MQTT source's own callback (invalid UTF-8 topics), and
  the hostile builders the service flood uses: RAW_CASES.
Every case checks: decode never raises and returns exactly one of Reading, DeviceEvent,
DeviceStatus, Rejection; a Rejection's reason is in REASONS; and what tests/fuzz_oracle.py
checks of its reason or its values. Strategies: tests/fuzz_strategies.py; random
builders: tests/fuzz_cases.py; the service under a flood: tests/test_fuzz_service.py.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from paho.mqtt.client import MQTTMessage

from devices.decode import MAX_PAYLOAD, REASONS
from devices.model import Decoded, DeviceEvent, Rejection
from devices.ports import FakeClock
from ingest.deadletter import UNKNOWN_DEVICES_KEPT, DeadLetterLog
from ingest.lineproto import to_lines
from ingest.mqtt import MqttSource
from ingest.spool import KIND_EVENT, KIND_TELEMETRY
from tests.fuzz_cases import fall_window, garbage, hostile_message, mutated, valid_message
from tests.fuzz_oracle import (
    DECODER,
    DEVICES,
    KINDS,
    NOW,
    PREFIX,
    SEED,
    SITE,
    TOPIC_REASONS,
    check,
    fresh_decoder,
)
from tests.fuzz_strategies import TOPIC_PAYLOADS, WRAPPERS, hostile_topic, payload_case

TOPIC_CASES = 3_000  # hypothesis costs 1-3 ms a case, the raw loop about 0.1 ms
PAYLOAD_CASES = 7_000
RAW_CASES = 90_000
TOTAL_DECODER_CASES = TOPIC_CASES + PAYLOAD_CASES + RAW_CASES
assert TOTAL_DECODER_CASES >= 100_000


def test_hypothesis_hostile_topics():
    ran = Counter[str]()

    @seed(SEED)
    @settings(
        max_examples=TOPIC_CASES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(topic=hostile_topic(), payload=st.sampled_from(TOPIC_PAYLOADS))
    def run(topic: str, payload: bytes) -> None:
        r = check(topic, payload, fresh_decoder().decode(topic, payload, NOW))
        ran[r.reason if isinstance(r, Rejection) else "accepted"] += 1

    run()
    assert sum(ran.values()) >= TOPIC_CASES, ran
    # the strategy reaches every branch of the topic check
    assert ran["bad_topic"] > TOPIC_CASES // 10 and ran["unregistered_device"] > 100, ran
    assert ran["accepted"] > 100, ran
    print(f"topics: {sum(ran.values())} cases {dict(ran)}")


def test_hypothesis_hostile_payloads():
    ran = Counter[str]()
    wrappers = Counter[str]()
    falls = 0

    @seed(SEED)
    @settings(
        max_examples=PAYLOAD_CASES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=payload_case())
    def run(case: tuple[str, bytes, str]) -> None:
        topic, payload, wrapper = case
        r = check(topic, payload, fresh_decoder().decode(topic, payload, NOW))
        ran[r.reason if isinstance(r, Rejection) else type(r).__name__] += 1
        if isinstance(r, DeviceEvent) and topic.endswith("/telemetry"):
            nonlocal falls
            falls += 1
        wrappers[wrapper] += 1

    run()
    assert sum(ran.values()) >= PAYLOAD_CASES, ran
    # every payload reason is reached, and enough is accepted to check accepted values
    payload_reasons = set(REASONS) - TOPIC_REASONS
    assert payload_reasons <= set(ran), payload_reasons - set(ran)
    accepted = ran["Reading"] + ran["DeviceEvent"] + ran["DeviceStatus"]
    assert accepted > PAYLOAD_CASES // 10 and min(ran["DeviceEvent"], ran["DeviceStatus"]) > 100
    assert set(wrappers) == set(WRAPPERS)
    print(f"payloads: {sum(ran.values())} cases, {falls} falls in raw acceleration {dict(ran)}")


def test_raw_random_bytes_and_mutations():
    rng = random.Random(SEED)
    ran = Counter[str]()
    got: list[tuple[Decoded, Any]] = []
    source = MqttSource(
        "mqtt://127.0.0.1:1", "fuzz", DECODER, lambda d, ack: got.append((d, ack)), FakeClock(NOW)
    )
    slowest = 0.0
    for i in range(RAW_CASES):
        mode = i % 5
        dev = rng.choice(DEVICES)
        if mode == 0:  # random bytes on a registered topic
            topic = f"{PREFIX}/{dev.site}/{dev.id}/{rng.choice(KINDS)}"
            payload = garbage(rng, int(rng.expovariate(1 / 100)))
        elif mode == 1:  # a valid message, mutated
            topic = f"{PREFIX}/{dev.site}/{dev.id}/{rng.choice(KINDS)}"
            payload = mutated(rng, dev, MAX_PAYLOAD)
        elif mode == 2:  # the builders of the service flood, topics unrestricted
            topic, payload = hostile_message(rng, 1_100_000, broker_safe=False)
        elif mode == 3:  # valid messages are accepted (the fuzzing does not over-reject)
            topic, payload = valid_message(rng, dev, NOW)
            if dev.type.raw_accel and rng.random() < 0.1:  # with a fall in raw acceleration
                t0 = NOW - rng.randint(8_000, 60_000)
                topic = f"{PREFIX}/{dev.site}/{dev.id}/telemetry"
                payload = b'{"ts":%d,"accel":%s}' % (t0, fall_window(t0))
            r = DECODER.decode(topic, payload, NOW)
            assert not isinstance(r, Rejection), (topic, payload, r)
            if isinstance(r, DeviceEvent) and topic.endswith("/telemetry"):
                ran["fall found in raw acceleration"] += 1
        else:  # random topic BYTES through the MQTT source's own callback
            raw = rng.choice(
                [
                    garbage(rng, rng.randint(0, 80)),
                    f"{PREFIX}/{SITE}/".encode() + garbage(rng, 6) + b"/telemetry",
                    f"{PREFIX}/{SITE}/{dev.id}/telemetry".encode(),
                ]
            )
            msg = MQTTMessage(mid=i, topic=raw)
            payload = rng.choice([b"{}", garbage(rng, 20), b'{"battery_pct":50}'])
            msg.payload = payload
            got.clear()
            source._on_message(None, None, msg)  # type: ignore[arg-type]
            [(r, ack)] = got
            assert ack is None  # QoS 0 here: nothing to ack
            try:
                topic = raw.decode("utf-8")
            except UnicodeDecodeError:
                assert isinstance(r, Rejection) and r.reason == "bad_topic", r
                assert r.payload == payload
                ran["bad_topic (not UTF-8)"] += 1
                continue
            check(topic, payload, r)
            ran[r.reason if isinstance(r, Rejection) else type(r).__name__] += 1
            continue
        start = time.process_time()  # CPU time: a busy CI machine does not count
        r = DECODER.decode(topic, payload, NOW)
        slowest = max(slowest, time.process_time() - start)
        check(topic, payload, r)
        ran[r.reason if isinstance(r, Rejection) else type(r).__name__] += 1
    falls = ran.pop("fall found in raw acceleration", 0)
    assert sum(ran.values()) == RAW_CASES
    assert ran["internal_error"] == 0
    assert set(REASONS) <= set(ran), set(REASONS) - set(ran)
    assert slowest < 0.25, f"one decode took {slowest * 1000:.0f} ms"  # no input stalls it
    print(
        f"raw: {sum(ran.values())} cases, slowest {slowest * 1000:.1f} ms,"
        f" {falls} falls found in raw acceleration, {dict(ran)}"
    )


def test_nan_or_infinity_inside_a_string_does_not_make_bad_json_not_finite():
    """The not_finite reason is for NaN/Infinity tokens; a syntax error elsewhere in a
    payload that merely mentions "NaN" in a string is bad_json."""
    t = f"{PREFIX}/{SITE}/w-101-1/telemetry"
    assert DECODER.decode(t, b'{"zone":"NaN","a":[}', NOW).reason == "bad_json"  # type: ignore[union-attr]
    assert DECODER.decode(t, b'{"zone":"Infinity",}', NOW).reason == "bad_json"  # type: ignore[union-attr]
    for bad in (b'{"a":NaN}', b'{"a":-Infinity}', b'{"a":[1,Infinity', b'{"a":1e400}'):
        assert DECODER.decode(t, bad, NOW).reason == "not_finite", bad  # type: ignore[union-attr]


@pytest.mark.parametrize("suffix", ["\n", "\r\n"])
def test_an_id_with_a_trailing_newline_is_a_bad_topic_not_an_unregistered_device(suffix):
    """`re.match` with `$` accepts a trailing newline: 'w-101-1\\n' would be listed as an
    unregistered device that looks exactly like a registered one."""
    for topic in (
        f"{PREFIX}/{SITE}/w-101-1{suffix}/telemetry",
        f"{PREFIX}/{SITE}{suffix}/w-101-1/telemetry",
    ):
        r = DECODER.decode(topic, b"{}", NOW)
        assert isinstance(r, Rejection) and r.reason == "bad_topic", (topic, r)


def test_a_device_inventing_ids_does_not_grow_the_unregistered_list_without_bound():
    conn = sqlite3.connect(":memory:")
    dead = DeadLetterLog(capacity=100)
    dead.create_schema(conn)
    for batch in range(5):
        rejections = [
            DECODER.decode(f"{PREFIX}/{SITE}/spoof-{batch}-{i}/telemetry", b"{}", NOW + 10 * batch)
            for i in range(UNKNOWN_DEVICES_KEPT // 2)
        ]
        ghost = DECODER.decode(f"{PREFIX}/{SITE}/ghost-1/event", b"{}", NOW + 10 * batch + 1)
        rejections.append(ghost)
        dead.write(conn, rejections)
    unknown = DeadLetterLog.unknown_devices(conn)
    assert len(unknown) == UNKNOWN_DEVICES_KEPT
    assert unknown[0].device_id == "ghost-1" and unknown[0].messages == 5  # kept: still heard
    assert {u.device_id for u in unknown if u.device_id != "ghost-1"} <= {
        f"spoof-{b}-{i}" for b in (3, 4) for i in range(UNKNOWN_DEVICES_KEPT // 2)
    }
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] <= 100 + 500


def test_extra_fields_go_on_their_own_line_of_the_same_point():
    """InfluxDB refuses a line whose field changed type; the device-type table's fields of
    the same reading must not be refused with it (same series and time: one point)."""
    row = (1, 1_000, SITE, "w-1", "wearable", KIND_TELEMETRY, '{"heart_rate_bpm":74,"x":"a"}')
    known, extra = to_lines([row], lambda s, d: ("204", "2"))
    head = "wearable,site=sunrise,device=w-1,room=204,floor=2"
    assert known == f"{head} heart_rate_bpm=74.0 1000000000"
    assert extra == f'{head} x="a" 1000000000'
    event = '{"event":"fall","key":"id:e1","confidence":0.9,"x":3}'
    lines = to_lines(
        [(1, 1_000, SITE, "w-1", "wearable", KIND_EVENT, event)], lambda s, d: ("", "")
    )
    assert [line.split(" ")[1] for line in lines] == ['confidence=0.9,event_key="id:e1"', "x=3.0"]
    assert len({line.rsplit(" ", 1)[1] for line in lines}) == 1
