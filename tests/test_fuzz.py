"""Hostile input (issue 6): 100,000 fuzzed topics and payloads against the decoder, and a
flood of hostile and valid messages through a real mosquitto to a real `carewatch serve`.

Decoder level (pure, fast), fixed seeds, cases counted as they run:
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
DeviceStatus, Rejection; a Rejection's reason is in REASONS; topic problems get the reason a
separate reading of the contract gives; payload problems agree with Python's own json
module (differential); accepted messages carry only finite numbers within the device-type
table, valid times, ids and events.

Service level: FLOOD messages (hostile and valid mixed, DUPLICATES redelivered events) at
FLOOD_RATE msg/s through mosquitto to `carewatch serve` with InfluxDB. Count sources:
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
the service; the decoder-level tests cover 1 MB payloads.
"""

from __future__ import annotations

import json
import math
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from paho.mqtt.client import MQTTMessage, topic_matches_sub

from devices.decode import FUTURE_SKEW_MS, MAX_EVENT_ID, MAX_PAYLOAD, PAST_SKEW_MS, REASONS, Decoder
from devices.model import Decoded, DeviceEvent, DeviceStatus, MessageKind, Reading, Rejection
from devices.ports import FakeClock
from devices.profiles import DEVICE_TYPES, DeviceType, FieldKind
from devices.registry import Device, load_site
from ingest.deadletter import UNKNOWN_DEVICES_KEPT, DeadLetterLog
from ingest.lineproto import to_lines
from ingest.mqtt import MqttSource
from ingest.spool import KIND_EVENT, KIND_TELEMETRY
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

SEED = 20261123
TOPIC_CASES = 3_000  # hypothesis costs 1-3 ms a case, the raw loop about 0.1 ms
PAYLOAD_CASES = 7_000
RAW_CASES = 90_000
TOTAL_DECODER_CASES = TOPIC_CASES + PAYLOAD_CASES + RAW_CASES
assert TOTAL_DECODER_CASES >= 100_000

FLOOD = 20_000
FLOOD_RATE = 4_000  # msg/s
DUPLICATES = 300
SPOOFED = 1_500
assert SPOOFED > UNKNOWN_DEVICES_KEPT


PREFIX = "carewatch/v1"
NOW = 1_795_316_645_000
KINDS = tuple(k.value for k in MessageKind)
REGISTRY = load_site(DEMO_SITE)
DEVICES = REGISTRY.devices()
SITE = REGISTRY.site.id
PROBE = "w-313-2"  # never in the flood: the fall sent after it raises a new alert
STORE_PROBE = "e-3f-panel"  # never in the flood: its readings after it are counted in InfluxDB
FLOOD_DEVICES = [d for d in DEVICES if d.id not in (PROBE, STORE_PROBE)]
DECODER = Decoder(REGISTRY, PREFIX)
RESULT_TYPES = (Reading, DeviceEvent, DeviceStatus, Rejection)


def fresh_decoder() -> Decoder:
    """The decoder keeps a little memory per device (raw acceleration windows, Zigbee
    levels): hypothesis needs each case to decode the same when it runs it again."""
    return Decoder(REGISTRY, PREFIX)


TOPIC_REASONS = frozenset({"bad_topic", "unregistered_device"})
LOAD_REASONS = frozenset({"too_large", "bad_encoding", "bad_json", "not_object", "not_finite"})


# ------------------------------------------------------------------------- the oracle

_SITE_ID = re.compile(r"[a-z0-9-]{1,32}")
_DEVICE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def topic_reason(topic: str) -> str | None:
    """The contract read independently of devices/decode.py: the rejection a topic earns
    on its own, or None when it names a registered device and a known message kind."""
    if not topic.startswith(PREFIX + "/"):
        return "bad_topic"
    parts = topic[len(PREFIX) + 1 :].split("/")
    if len(parts) != 3:
        return "bad_topic"
    site, device_id, kind = parts
    if not _SITE_ID.fullmatch(site) or not _DEVICE_ID.fullmatch(device_id) or kind not in KINDS:
        return "bad_topic"
    if REGISTRY.get(site, device_id) is None:
        return "unregistered_device"
    return None


class _Constant(ValueError):
    pass


class Pairs(list[tuple[str, Any]]):
    """A JSON object as Python's json module read it, every key kept (duplicates too)."""


def _no_constant(name: str) -> Any:
    raise _Constant(name)


def _finite_tree(v: Any) -> bool:
    """Every number in a JSON tree fits a finite double (as orjson parses it)."""
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, bool) or x is None or isinstance(x, str):
            continue
        if isinstance(x, int):
            if not math.isfinite(_to_float(x)):
                return False
        elif isinstance(x, float):
            if not math.isfinite(x):
                return False
        elif isinstance(x, Pairs):
            stack.extend(v for _, v in x)
        elif isinstance(x, list):
            stack.extend(x)
    return True


def _to_float(x: int) -> float:
    try:
        return float(x)
    except OverflowError:
        return math.inf


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def python_json(payload: bytes) -> tuple[str, Any]:
    """Python's own reading of a payload, to compare with the decoder's (orjson):
    ("utf8", None) not UTF-8; ("error", None) not strict JSON; ("constant", None) valid
    only with NaN/Infinity; ("skip", None) where the two parsers legitimately differ
    (lone surrogate escapes, nesting past either's depth limit); ("ok", value) with
    objects as Pairs."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return "utf8", None
    if text.startswith("\ufeff"):
        return "skip", None
    if _SURROGATE_ESCAPE.search(payload):
        return "skip", None
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=Pairs)
    except _Constant:
        return "constant", None
    except RecursionError:
        return "skip", None
    except ValueError:
        return "error", None
    return "ok", value


def check(topic: str, payload: bytes, result: Decoded, now: int = NOW) -> Decoded:
    """Everything a decoded message must satisfy, whatever went in."""
    assert type(result) in RESULT_TYPES, type(result)
    expected_topic = topic_reason(topic)
    if isinstance(result, Rejection):
        assert result.reason in REASONS, result
        assert isinstance(result.detail, str)
        assert result.topic == topic and result.payload == payload
        if expected_topic is not None:
            assert result.reason == expected_topic, (topic, result.reason, result.detail)
            return result
        assert result.reason not in TOPIC_REASONS, (topic, result)
    else:
        assert expected_topic is None, (topic, result)
    # the topic is fine: the payload decides
    if len(payload) > MAX_PAYLOAD:
        assert isinstance(result, Rejection) and result.reason == "too_large", result
        return result
    status, value = python_json(payload)
    if status == "utf8":
        assert isinstance(result, Rejection) and result.reason == "bad_encoding", result
        return result
    if isinstance(result, Rejection):
        if result.reason == "bad_json" and "depth limit" in result.detail:
            assert payload.count(b"[") + payload.count(b"{") > 1024, payload[:200]
            return result
        if status == "ok":
            if not _finite_tree(value):  # orjson stops at the number, whatever the shape
                assert result.reason == "not_finite", (payload[:200], result)
            elif not isinstance(value, Pairs):
                assert result.reason == "not_object", (payload[:200], result)
            else:  # valid strict JSON with finite numbers: not a parse problem
                assert result.reason not in LOAD_REASONS, (payload[:200], result)
        elif status == "constant":
            # NaN/Infinity literals with otherwise valid JSON
            assert result.reason == "not_finite", (payload[:200], result)
        elif status == "error":
            assert result.reason in LOAD_REASONS, (payload[:200], result)
        return result
    assert status == "ok" and isinstance(value, Pairs), (payload[:200], result)
    _check_accepted(topic, dict(value), result, now)  # the last of duplicate keys counts
    return result


def _scalar_ok(v: Any) -> bool:
    if isinstance(v, bool | str):
        return True
    return isinstance(v, float) and math.isfinite(v)


def _check_accepted(
    topic: str, body: dict[str, Any], m: Reading | DeviceEvent | DeviceStatus, now: int
) -> None:
    site, device_id, kind = topic[len(PREFIX) + 1 :].split("/")
    dev = REGISTRY.get(site, device_id)
    assert dev is not None
    dtype = dev.type
    assert (m.site, m.device_id, m.device_type) == (site, device_id, dtype.name)
    assert m.received_ms == now
    assert isinstance(m.ts_ms, int) and not isinstance(m.ts_ms, bool)
    from_accel = isinstance(m, DeviceEvent) and kind == "telemetry"  # the impact's time
    if m.clock_skewed and not from_accel:
        assert m.ts_ms == now
    else:
        assert now - PAST_SKEW_MS <= m.ts_ms <= now + FUTURE_SKEW_MS
    if isinstance(m, Reading):
        assert kind == "telemetry"
        assert m.seq is None or (type(m.seq) is int and m.seq >= 0)
        for name, v in m.fields.items():
            assert name not in ("ts", "seq")
            assert _scalar_ok(v), (name, v)
            spec = dtype.fields.get(name)
            if spec is None:
                continue
            if spec.kind is FieldKind.NUMBER:
                assert type(v) is float, (name, v)
                assert spec.min is not None and spec.max is not None
                assert spec.min <= v <= spec.max, (name, v)
                assert v == float(body[name])  # the value sent, nothing else
            elif spec.kind is FieldKind.BOOL:
                assert type(v) is bool and v is body[name]
            else:
                assert isinstance(v, str) and len(v) <= 64 and v == body[name]
    elif isinstance(m, DeviceEvent) and kind == "telemetry":
        # a fall the server found in raw acceleration (devices/falls.py)
        assert dtype.raw_accel and isinstance(body.get("accel"), Pairs), body
        assert m.event == "fall" and m.key == f"accel:{m.ts_ms}"
        for name, v in m.attrs.items():
            assert _scalar_ok(v), (name, v)
            spec = dtype.fields.get(name)
            if spec is not None and spec.kind is FieldKind.NUMBER:
                assert spec.min is not None and spec.max is not None
                assert type(v) is float and spec.min <= v <= spec.max, (name, v)
    elif isinstance(m, DeviceEvent):
        assert kind == "event"
        assert m.event in dtype.events and m.event == body["event"]
        assert m.seq is None or (type(m.seq) is int and m.seq >= 0)
        if isinstance(body.get("id"), str) and body["id"]:
            assert m.key == f"id:{body['id']}" and len(body["id"]) <= MAX_EVENT_ID
        else:
            assert m.key == f"ts:{m.ts_ms}:{m.event}"
        spec = dtype.events[m.event]
        for name, v in m.attrs.items():
            assert name not in ("ts", "seq", "event", "id")
            assert _scalar_ok(v), (name, v)
            if name in spec.choices:
                assert v in spec.choices[name]
            elif name in spec.ranges:
                lo, hi = spec.ranges[name]
                assert type(v) is float and lo <= v <= hi
    else:
        assert kind == "status"
        assert type(m.online) is bool and m.online is body["online"]


# ------------------------------------------------------------------- hypothesis: topics

ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
HOSTILE_IDS = [
    "+",
    "#",
    "",
    ".",
    "..",
    "../..",
    "alerts",
    "ALERTS",
    "$SYS",
    "w-101-1\n",
    "w-101-1\r\n",
    "w-101-1 ",
    " w-101-1",
    "w-101-1\x00",
    "\x00",
    "w-101-1\t",
    "w‐101‐1",  # U+2010 hyphens
    "ｗ-101-1",  # fullwidth w
    "w-101-1\u200b",
    "\u202ew-101-1",
    "w-101-1\ud800",
    "\udcff",
    "杜奶奶",
    "🔥",
    "a" * 64,
    "a" * 65,
    "%2e%2e",
    "w-101-1%00",
    "w-101-1'--",
    "*",
]
HOSTILE_SITES = ["other", "Sunrise", "sunrise ", "sunrise\n", "sun rise", "a" * 32, "a" * 33]
HOSTILE_KINDS = ["TELEMETRY", "config", "alerts", "telemetry ", "telemetry\n", "Event", "state"]

segment = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.text(max_size=40),
    st.text(alphabet=ID_CHARS, min_size=1, max_size=80),
    st.sampled_from([65, 300, 5_000, 70_000]).map(lambda n: "x" * n),
)


DEVICE_IDS = st.sampled_from([d.id for d in DEVICES])
HOSTILE_PREFIX = st.one_of(
    st.sampled_from(
        [
            "carewatch/v2",
            "Carewatch/v1",
            "/carewatch/v1",
            "carewatch",
            "",
            "#",
            "carewatch//v1",
            "+/v1",
            "carewatch/v1/",
            "carewatch/v1\x00",
        ]
    ),
    segment,
)
HOSTILE_SITE = st.one_of(st.sampled_from(HOSTILE_SITES), segment)
HOSTILE_DEVICE = st.one_of(segment, st.text(alphabet=ID_CHARS, min_size=1, max_size=64))
HOSTILE_KIND = st.one_of(st.sampled_from(HOSTILE_KINDS), segment)
HOSTILE_EXTRA = st.sampled_from(["/", "/x", "/#", "/+", "/telemetry", "/.."])
PARTS = st.sampled_from(["none", "prefix", "site", "device", "kind", "extra"])


@st.composite
def hostile_topic(draw: st.DrawFn) -> str:
    """A topic with at most one hostile part (a valid topic one time in six)."""
    prefix, site, kind, extra = PREFIX, SITE, draw(st.sampled_from(KINDS)), ""
    device = draw(DEVICE_IDS)
    part = draw(PARTS)
    if part == "prefix":
        prefix = draw(HOSTILE_PREFIX)
    elif part == "site":
        site = draw(HOSTILE_SITE)
    elif part == "device":  # look-alikes, unregistered well-formed ids, garbage
        device = draw(HOSTILE_DEVICE)
    elif part == "kind":
        kind = draw(HOSTILE_KIND)
    elif part == "extra":
        extra = draw(HOSTILE_EXTRA)
    return f"{prefix}/{site}/{device}/{kind}{extra}"


TOPIC_PAYLOADS = [b"{}", b'{"online":true}', b'{"event":"fall"}', b'{"battery_pct":50}', b"{x"]


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


# ----------------------------------------------------------------- hypothesis: payloads

NUMBER_TOKENS = [
    b"NaN",
    b"-NaN",
    b"Infinity",
    b"-Infinity",
    b"+1",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"-0",
    b"-0.0",
    b"0.0",
    b"1e308",
    b"-1e308",
    b"9" * 400,
    b"-" + b"9" * 30,
    b"18446744073709551616",
    b"18446744073709551615",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"0x10",
    b"01",
    b"1.",
    b".5",
    b"1e",
    b"1E+2",
    b"5e-324",
    b"nan",
    b"inf",
]
OTHER_TOKENS = [
    b"true",
    b"false",
    b"null",
    b'""',
    b'"NaN"',
    b'"Infinity"',
    b'"\\u0000"',
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b'"\xff"',
    b'"\xc0\x80"',
    b'"\xed\xa0\x80"',
    b'"\xe4\xb8"',
    b"[]",
    b"{}",
    b'"74"',
    b'"1e400"',
    b"tru",
    b"nul",
    b'"\t"',
    b'"a\nb"',
    b'"\\"',
    b'{"$ref":"#"}',
    b'{"__proto__":{"x":1}}',
    b"[1,2,",
    b'"2026-11-22T03:04:05Z"',
    b'"2026-11-22T03:04:05"',
    b'"yesterday"',
]
FIELD_NAMES = sorted(
    {n for t in DEVICE_TYPES.values() for n in t.fields}
    | {a for t in DEVICE_TYPES.values() for e in t.events.values() for a in e.choices}
    | {a for t in DEVICE_TYPES.values() for e in t.events.values() for a in e.ranges}
    | {"ts", "seq", "event", "id", "online", "accel", "", " ", "time", "_field", "a\nb", "杜奶奶"}
)
EVENT_NAMES = sorted({e for t in DEVICE_TYPES.values() for e in t.events})
CHOICES = sorted(
    {
        c
        for t in DEVICE_TYPES.values()
        for e in t.events.values()
        for v in e.choices.values()
        for c in v
    }
)


def _json(v: Any) -> bytes:
    return orjson.dumps(v)


def _deep(depth: int, kind: str) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


hostile_token = st.one_of(
    st.sampled_from(NUMBER_TOKENS + OTHER_TOKENS),
    st.integers().map(lambda i: str(i).encode()),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda i: str(i).encode()),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    st.text(max_size=70).map(_json),
    st.builds(_deep, st.integers(1, 10_000), st.sampled_from(["array", "object"])),
    st.sampled_from([MAX_PAYLOAD - 12, MAX_PAYLOAD, 9_000, 70_000, 1_048_576]).map(
        lambda n: b'"' + b"x" * n + b'"'
    ),
    st.binary(max_size=16),
    st.sampled_from(EVENT_NAMES + CHOICES).map(_json),  # valid words in the wrong place
    st.lists(st.sampled_from(NUMBER_TOKENS + OTHER_TOKENS), max_size=4).map(
        lambda xs: b"[" + b",".join(xs) + b"]"
    ),
)


def _fall_window(t0: int) -> bytes:
    """Raw acceleration of a fall at 50 Hz: standing, free fall, impact, lying still."""
    mag = [1.0] * 100 + [0.3] * 10 + [3.5] + [1.0 + 0.2 * (i % 5 - 2) for i in range(50)]
    return orjson.dumps({"hz": 50, "t0": t0, "mag": [*mag, *[1.0] * 150]})


ACCEL = st.one_of(  # `accel` of a wearable's telemetry (docs/protocol.md, "Raw acceleration")
    st.builds(
        lambda hz, mag: orjson.dumps({"hz": hz, "mag": mag}),
        st.floats(5, 400),
        st.lists(st.floats(0, 64), min_size=1, max_size=60),
    ),
    st.builds(
        lambda hz, g: orjson.dumps({"hz": hz, "g": g}),
        st.floats(5, 400),
        st.lists(st.lists(st.floats(-64, 64), min_size=3, max_size=3), min_size=1, max_size=20),
    ),
    st.integers(NOW - 60_000, NOW).map(_fall_window),
    st.sampled_from(
        [
            orjson.dumps(a)
            for a in (
                {"hz": 50, "mag": []},
                {"hz": 1, "mag": [1]},
                {"hz": 50},
                {"hz": 50, "mag": [1], "g": [[1, 1, 1]]},
                {"hz": 50, "mag": [-1]},
                {"hz": 50, "mag": [65]},
                {"hz": "50", "mag": [1]},
                {"hz": 50, "mag": [1] * 2001},
                {"hz": 50, "g": [[1, 1]]},
                {"hz": 50, "g": [1, 1, 1]},
                {"hz": 50, "mag": [1], "x": 1},
                {"hz": 50, "mag": [True]},
                {"hz": 50, "t0": "yesterday", "mag": [1]},
                [1, 2, 3],
            )
        ]
        + [b'{"hz":50,"mag":[1,NaN]}', b'{"hz":Infinity,"mag":[1]}', b'{"hz":50,"mag":[1e400]}']
    ),
)
_VALID: dict[tuple[str, str], st.SearchStrategy[bytes]] = {}


def valid_token(dtype: DeviceType, name: str) -> st.SearchStrategy[bytes]:
    """A value the contract accepts for `name` on this device type (strategies are built
    once: building them is most of hypothesis' cost per case)."""
    key = (dtype.name, name)
    if key not in _VALID:
        _VALID[key] = _valid_token(dtype, name)
    return _VALID[key]


def _valid_token(dtype: DeviceType, name: str) -> st.SearchStrategy[bytes]:
    spec = dtype.fields.get(name)
    if spec is not None:
        if spec.kind is FieldKind.NUMBER:
            assert spec.min is not None and spec.max is not None
            return st.one_of(
                st.floats(spec.min, spec.max).map(lambda f: repr(f).encode()),
                st.integers(int(spec.min), int(spec.max)).map(lambda i: str(i).encode()),
            )
        if spec.kind is FieldKind.BOOL:
            return st.sampled_from([b"true", b"false"])
        return st.text(max_size=64).map(_json)
    if name == "ts":
        return st.one_of(
            st.integers(NOW - PAST_SKEW_MS - 10, NOW + FUTURE_SKEW_MS + 10).map(
                lambda i: str(i).encode()
            ),
            st.sampled_from([b'"2026-11-22T03:04:05.120Z"', b'"2026-11-22T11:04:05+08:00"']),
            st.just(b"null"),
        )
    if name == "seq":
        return st.integers(0, 2**64 - 1).map(lambda i: str(i).encode())
    if name == "id":
        return st.text(min_size=1, max_size=MAX_EVENT_ID).map(_json)
    if name == "event":
        return st.sampled_from(sorted(dtype.events)).map(_json)
    if name == "online":
        return st.sampled_from([b"true", b"false"])
    if name == "accel" and dtype.raw_accel:
        return ACCEL
    for e in dtype.events.values():
        if name in e.choices:
            return st.sampled_from(e.choices[name]).map(_json)
        if name in e.ranges:
            lo, hi = e.ranges[name]
            return st.floats(lo, hi).map(lambda f: repr(f).encode())
    return st.one_of(
        st.integers(-(2**63), 2**64 - 1).map(lambda i: str(i).encode()),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
        st.text(max_size=30).map(_json),
        st.sampled_from([b"true", b"false", b"null", b"[1,2]", b'{"a":{"b":[]}}']),
    )


def _pad(body: bytes, size: int) -> bytes:
    """Whitespace before the closing brace up to exactly `size` bytes (still valid JSON)."""
    if len(body) >= size or not body.endswith(b"}"):
        return body
    return body[:-1] + b" " * (size - len(body)) + b"}"


def _flip(b: bytes, i: int) -> bytes:
    if not b:
        return b
    k = i % len(b)
    return b[:k] + bytes([b[k] ^ (1 << (i % 8))]) + b[k + 1 :]


WRAPPERS: dict[str, Callable[[bytes, int], bytes]] = {
    "none": lambda b, _i: b,
    "bom": lambda b, _i: b"\xef\xbb\xbf" + b,
    "space": lambda b, _i: b" \n\t" + b + b"\r\n ",
    "trailing": lambda b, i: b + [b" x", b"}", b",", b"\x00", b"{}"][i % 5],
    "truncate": lambda b, i: b[: i % max(1, len(b))],
    "invalid_utf8": lambda b, i: (
        b[: i % (len(b) + 1)]
        + [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe4\xb8", b"\xf8\x88\x80\x80\x80"][i % 5]
        + b[i % (len(b) + 1) :]
    ),
    "array": lambda b, _i: b"[" + b + b"]",
    "exactly_limit": lambda b, _i: _pad(b, MAX_PAYLOAD),
    "one_over_limit": lambda b, _i: _pad(b, MAX_PAYLOAD + 1),
    "flip": lambda b, i: _flip(b, i),
}


NAMES = {
    t.name: st.one_of(
        st.sampled_from(sorted(t.fields)),
        st.sampled_from(["ts", "seq", "id", "event", "online"]),
        st.sampled_from(FIELD_NAMES),
        st.text(max_size=12),
    )
    for t in DEVICE_TYPES.values()
}
DEVICE_INDEX = st.integers(0, len(DEVICES) - 1)
KIND = st.sampled_from(KINDS)
TENTHS = st.integers(0, 9)
TWENTIETHS = st.integers(0, 19)
PAIRS_N = st.integers(0, 5)
BAD_KEYS = st.sampled_from([b"1", b"'a'", b"a", b"null", b'"a\x00"'])
WRAPPER_NAMES = st.sampled_from(["none"] * 8 + sorted(WRAPPERS))
POSITIONS = st.integers(0, 1 << 16)


@st.composite
def payload_case(draw: st.DrawFn) -> tuple[str, bytes, str]:
    dev = DEVICES[draw(DEVICE_INDEX)]  # indices: devices are not hashable, slow to sample
    dtype = dev.type
    kind = draw(KIND)
    topic = f"{PREFIX}/{dev.site}/{dev.id}/{kind}"
    pairs: list[tuple[bytes, bytes]] = []
    if kind == "event" and draw(TENTHS) < 8:
        pairs.append((b'"event"', draw(valid_token(dtype, "event"))))
    if kind == "status" and draw(TENTHS) < 8:
        pairs.append((b'"online"', draw(valid_token(dtype, "online"))))
    if dtype.raw_accel and kind == "telemetry" and draw(TENTHS) < 3:
        pairs.append((b'"accel"', draw(ACCEL)))
    for _ in range(draw(PAIRS_N)):
        name = draw(NAMES[dtype.name])
        key = _json(name) if draw(TWENTIETHS) else draw(BAD_KEYS)
        hostile = draw(TENTHS) < 4
        value = draw(hostile_token if hostile else valid_token(dtype, name))
        pairs.append((key, value))
    body = b"{" + b",".join(k + b":" + v for k, v in pairs) + b"}"
    wrapper = draw(WRAPPER_NAMES)
    return topic, WRAPPERS[wrapper](body, draw(POSITIONS)), wrapper


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


# ----------------------------------------------------------- raw random bytes (no hypothesis)


def valid_message(rng: random.Random, dev: Device, now: int) -> tuple[str, bytes]:
    """A message the contract accepts, on a registered device."""
    dtype = dev.type
    kinds = ["telemetry"] * 6 + ["event"] * 3 * bool(dtype.events) + ["status"]
    kind = rng.choice(kinds)
    body: dict[str, Any] = {}
    if rng.random() < 0.7:
        body["ts"] = now - rng.randint(0, 60_000)
    if kind == "telemetry":
        for name, spec in dtype.fields.items():
            if rng.random() < 0.5:
                continue
            if spec.kind is FieldKind.NUMBER:
                assert spec.min is not None and spec.max is not None
                body[name] = round(rng.uniform(spec.min, spec.max), 3)
            elif spec.kind is FieldKind.BOOL:
                body[name] = rng.random() < 0.5
            else:
                body[name] = rng.choice(["bed", "bathroom", "corridor", "dining"])
        if rng.random() < 0.2:
            body["fw"] = "1.2.3"
    elif kind == "event":
        event = rng.choice(sorted(dtype.events))
        spec = dtype.events[event]
        body["event"] = event
        body["id"] = f"fz-{rng.getrandbits(48):012x}"
        for attr, values in spec.choices.items():
            body[attr] = rng.choice(values)
        for attr, (lo, hi) in spec.ranges.items():
            body[attr] = round(rng.uniform(lo, hi), 3)
    else:
        body["online"] = rng.random() < 0.95
    return f"{PREFIX}/{dev.site}/{dev.id}/{kind}", orjson.dumps(body)


def _garbage(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def _known_number_field(rng: random.Random, dev: Device) -> str:
    numbers = [n for n, s in dev.type.fields.items() if s.kind is FieldKind.NUMBER]
    return rng.choice(numbers)


# hostile payloads for a registered device, each at most `cap` bytes
def _nonfinite(rng: random.Random, dev: Device, _cap: int) -> bytes:
    token = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999", b"9" * 400])
    return b'{"' + _known_number_field(rng, dev).encode() + b'":' + token + b"}"


def _huge_int(rng: random.Random, dev: Device, _cap: int) -> bytes:
    n = rng.choice([2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30, -(10**300)])
    name = rng.choice([_known_number_field(rng, dev), "seq", "ts", "x"])
    return b'{"' + name.encode() + b'":' + str(n).encode() + b"}"


def _neg_zero(rng: random.Random, dev: Device, _cap: int) -> bytes:
    return (
        b'{"' + _known_number_field(rng, dev).encode() + b'":' + rng.choice([b"-0", b"-0.0"]) + b"}"
    )


def _deep_nesting(rng: random.Random, _dev: Device, cap: int) -> bytes:
    kind = rng.choice(["array", "object"])
    most = (cap - 10) // (2 if kind == "array" else 6)  # bytes per level
    depth = rng.choice([255, 256, 1024, 1025, 10_000, rng.randint(1, most)])
    return b'{"x":' + _deep(min(depth, most), kind) + b"}"


def _oversized(rng: random.Random, _dev: Device, cap: int) -> bytes:
    n = rng.choice([MAX_PAYLOAD - 8, MAX_PAYLOAD - 7, rng.randint(MAX_PAYLOAD, cap - 8)])
    return b'{"x":"' + b"x" * n + b'"}'


def _invalid_utf8(rng: random.Random, dev: Device, _cap: int) -> bytes:
    bad = rng.choice([b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe4\xb8", b"\x80"])
    field = "zone" if "zone" in dev.type.fields else "fw"
    return b'{"' + field.encode() + b'":"ab' + bad + b'cd"}'


def _bom(rng: random.Random, dev: Device, _cap: int) -> bytes:
    return b"\xef\xbb\xbf" + valid_message(rng, dev, int(time.time() * 1000))[1]


def _duplicate_keys(rng: random.Random, dev: Device, _cap: int) -> bytes:
    name = _known_number_field(rng, dev)
    spec = dev.type.fields[name]
    assert spec.max is not None
    return b'{"%s":%d,"%s":%d}' % (name.encode(), 1, name.encode(), int(spec.max) * 10 + 1)


def _wrong_type(rng: random.Random, dev: Device, _cap: int) -> bytes:
    name = rng.choice([*dev.type.fields, "ts", "seq"])
    value = rng.choice([b'"74"', b"[]", b"{}", b"true", b"1.5", b'"x"', b"-1"])
    return b'{"' + name.encode() + b'":' + value + b"}"


def _not_object(rng: random.Random, _dev: Device, _cap: int) -> bytes:
    return rng.choice([b"[]", b"[1,2]", b'"x"', b"42", b"null", b"true", b"-0"])


def _bad_json(rng: random.Random, _dev: Device, _cap: int) -> bytes:
    return rng.choice(
        [b"", b"{", b'{"a":', b"{'a':1}", b'{"a":1,}', b'{"a" 1}', b'{"a":1} x', b'{"a":"\x01"}']
    )


def _event_trouble(rng: random.Random, _dev: Device, _cap: int) -> bytes:
    return rng.choice(
        [
            b'{"id":"x"}',
            b'{"event":42}',
            b'{"event":"explode"}',
            b'{"event":"press","button":"roof"}',
            b'{"event":"fall","confidence":3}',
            b'{"event":"fall","id":""}',
            b'{"event":"fall","id":7}',
            b'{"event":"fall","id":"' + b"i" * 65 + b'"}',
            b'{"online":"yes"}',
            b"{}",
        ]
    )


def _random_bytes(rng: random.Random, _dev: Device, cap: int) -> bytes:
    return _garbage(rng, min(cap, int(rng.expovariate(1 / 200))))


def _mutated(rng: random.Random, dev: Device, _cap: int) -> bytes:
    b = bytearray(valid_message(rng, dev, int(time.time() * 1000))[1])
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[pos % len(b)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[pos:pos] = rng.choice([b"NaN", b"\xff", b"1e400", b",", b"{", b'"', b"\\"])
        elif op == 2 and b:
            del b[pos % len(b)]
        else:
            b[pos:pos] = _garbage(rng, rng.randint(1, 8))
    return bytes(b)


def _name_in_payload(rng: random.Random, dev: Device, _cap: int) -> bytes:
    # devices never know names; one sending text where a number belongs is rejected
    return orjson.dumps({_known_number_field(rng, dev): rng.choice(["杜奶奶", "姚奶奶"])})


HOSTILE_PAYLOADS = [
    _nonfinite,
    _huge_int,
    _neg_zero,
    _deep_nesting,
    _oversized,
    _invalid_utf8,
    _bom,
    _duplicate_keys,
    _wrong_type,
    _not_object,
    _bad_json,
    _event_trouble,
    _random_bytes,
    _mutated,
    _name_in_payload,
]


def hostile_topic_rng(rng: random.Random, broker_safe: bool) -> str:
    """A topic with one hostile part; `broker_safe` keeps to what an MQTT broker accepts
    from a publisher (no wildcards, NUL, control characters or lone surrogates)."""
    dev = rng.choice(FLOOD_DEVICES)
    unsafe = ["+", "#", "\x00", "w-101-1\n", "\ud800", "\x7f", "a\u0085"]
    ids = [
        "alerts",
        "..",
        ".",
        "ｗ-101-1",
        "w‐101‐1",
        "w-101-1\u200b",
        "\u202ew-101-1",
        "杜奶奶",
        "🔥",
        "a b",
        "a" * 65,
        "x" * rng.randint(66, 1_500),
        f"ghost-{rng.getrandbits(32):08x}",
        f"W-{rng.randint(100, 399)}-1",
    ]
    if not broker_safe:
        ids += unsafe
    pick = rng.randrange(6)
    if pick == 0:
        return f"{PREFIX}/{SITE}/{rng.choice(ids)}/{rng.choice(KINDS)}"
    if pick == 1:
        site = rng.choice(["other", "Sunrise", "a" * 33, "sün", "..", *ids[:4]])
        return f"{PREFIX}/{site}/{dev.id}/{rng.choice(KINDS)}"
    if pick == 2:
        kind = rng.choice(["TELEMETRY", "Event", "telemetry ", "status\u200b"])
        return f"{PREFIX}/{SITE}/{dev.id}/{kind}"
    if pick == 3:  # not matching any subscription: the broker never delivers these
        return rng.choice(
            [
                f"{PREFIX}/{SITE}/{dev.id}/telemetry/extra",
                f"{PREFIX}/{SITE}/{dev.id}",
                f"carewatch/v2/{SITE}/{dev.id}/event",
                f"{PREFIX}//{dev.id}/x",
            ]
        )
    if pick == 4:
        return f"{PREFIX}/{SITE}//{rng.choice(KINDS)}"
    return f"{PREFIX}/{SITE}/ghost-{rng.randint(0, 9_999_999)}/{rng.choice(KINDS)}"


def hostile_message(rng: random.Random, cap: int, broker_safe: bool) -> tuple[str, bytes]:
    """One hostile message: a hostile payload on a registered device, or a hostile topic."""
    dev = rng.choice(FLOOD_DEVICES)
    if rng.random() < 0.25:
        payload = rng.choice([b"{}", b'{"battery_pct":50}', b'{"event":"fall","id":"h"}'])
        return hostile_topic_rng(rng, broker_safe), payload
    kind = rng.choice(KINDS)
    return f"{PREFIX}/{SITE}/{dev.id}/{kind}", rng.choice(HOSTILE_PAYLOADS)(rng, dev, cap)


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
            payload = _garbage(rng, int(rng.expovariate(1 / 100)))
        elif mode == 1:  # a valid message, mutated
            topic = f"{PREFIX}/{dev.site}/{dev.id}/{rng.choice(KINDS)}"
            payload = _mutated(rng, dev, MAX_PAYLOAD)
        elif mode == 2:  # the builders of the service flood, topics unrestricted
            topic, payload = hostile_message(rng, 1_100_000, broker_safe=False)
        elif mode == 3:  # valid messages are accepted (the fuzzing does not over-reject)
            topic, payload = valid_message(rng, dev, NOW)
            if dev.type.raw_accel and rng.random() < 0.1:  # with a fall in raw acceleration
                t0 = NOW - rng.randint(8_000, 60_000)
                topic = f"{PREFIX}/{dev.site}/{dev.id}/telemetry"
                payload = b'{"ts":%d,"accel":%s}' % (t0, _fall_window(t0))
            r = DECODER.decode(topic, payload, NOW)
            assert not isinstance(r, Rejection), (topic, payload, r)
            if isinstance(r, DeviceEvent) and topic.endswith("/telemetry"):
                ran["fall found in raw acceleration"] += 1
        else:  # random topic BYTES through the MQTT source's own callback
            raw = rng.choice(
                [
                    _garbage(rng, rng.randint(0, 80)),
                    f"{PREFIX}/{SITE}/".encode() + _garbage(rng, 6) + b"/telemetry",
                    f"{PREFIX}/{SITE}/{dev.id}/telemetry".encode(),
                ]
            )
            msg = MQTTMessage(mid=i, topic=raw)
            payload = rng.choice([b"{}", _garbage(rng, 20), b'{"battery_pct":50}'])
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
    assert len(msgs) == FLOOD
    assert max(len(t.encode()) + len(p) for t, p in msgs) < 64_000  # mosquitto takes each
    return msgs


@pytest.mark.integration
def test_a_flood_of_hostile_input_is_counted_blocks_nothing_and_stops_nothing(
    tmp_path, broker, influx, publisher
):
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, influx.url)
    service.start()
    try:
        rng = random.Random(SEED)
        msgs = build_flood(rng, int(time.time() * 1000))
        predictor = fresh_decoder()  # as the service's: same registry, prefix, no memory
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
