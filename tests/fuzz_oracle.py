"""The fuzz tests' oracle: the message contract read again, independently of
devices/decode.py, and the checks every decoded message must pass whatever went in
(test_fuzz_decoder.py, test_fuzz_service.py).

Topic problems get the reason a separate reading of the contract gives; payload problems
agree with Python's own json module (differential); accepted messages carry only finite
numbers within the device-type table, valid times, ids and events.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from devices.decode import REASONS, Decoder
from devices.model import Decoded, DeviceEvent, DeviceStatus, MessageKind, Reading, Rejection
from devices.payload import FUTURE_SKEW_MS, MAX_EVENT_ID, MAX_PAYLOAD, PAST_SKEW_MS
from devices.profiles import FieldKind
from devices.registry import load_site
from tests.conftest import DEMO_SITE

SEED = 20261123  # hypothesis and random.Random: the same cases every run
PREFIX = "carewatch/v1"
NOW = 1_795_316_645_000
KINDS = tuple(k.value for k in MessageKind)
REGISTRY = load_site(DEMO_SITE)
DEVICES = REGISTRY.devices()
SITE = REGISTRY.site.id
DECODER = Decoder(REGISTRY, PREFIX)
RESULT_TYPES = (Reading, DeviceEvent, DeviceStatus, Rejection)


def fresh_decoder() -> Decoder:
    """The decoder keeps a little memory per device (raw acceleration windows, Zigbee
    levels): hypothesis needs each case to decode the same when it runs it again."""
    return Decoder(REGISTRY, PREFIX)


TOPIC_REASONS = frozenset({"bad_topic", "unregistered_device", "wrong_site"})
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
        # a device of another site publishing under this one's topic has its own reason
        return "wrong_site" if REGISTRY.by_id(device_id) is not None else "unregistered_device"
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
                assert not spec.choices or v in spec.choices
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
            where = "".join(f":{m.attrs[n]}" for n in dtype.events[m.event].required)
            assert m.key == f"ts:{m.ts_ms}:{m.event}{where}"  # what it must name: two fires
        spec = dtype.events[m.event]
        for name, v in m.attrs.items():
            assert name not in ("ts", "seq", "event", "id")
            assert _scalar_ok(v), (name, v)
            if name in spec.choices:
                assert v in spec.choices[name]
            elif name in spec.ranges:
                lo, hi = spec.ranges[name]
                assert type(v) is float and lo <= v <= hi
            elif name in spec.texts:
                assert isinstance(v, str) and v.strip() and len(v) <= spec.texts[name]
        assert all(name in m.attrs for name in spec.required), (spec.required, m.attrs)
    else:
        assert kind == "status"
        assert type(m.online) is bool and m.online is body["online"]
