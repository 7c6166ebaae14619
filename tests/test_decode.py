"""Every kind of bad input of PROTOCOL.md becomes a Rejection with its reason; good input decodes."""

from __future__ import annotations

import pytest

from devices.decode import REASONS, Decoder
from devices.model import DeviceEvent, DeviceStatus, Reading, Rejection

NOW = 1_795_316_645_000
T = "carewatch/v1/sunrise"


@pytest.fixture
def dec(registry):
    return Decoder(registry)


def test_telemetry_decodes_with_units_and_device_time(dec):
    m = dec.decode(
        f"{T}/w-101-1/telemetry",
        b'{"ts":1795316645120,"heart_rate_bpm":74,"worn":true,"battery_pct":81}',
        NOW,
    )
    assert isinstance(m, Reading)
    assert m.fields == {"heart_rate_bpm": 74.0, "worn": True, "battery_pct": 81.0}
    assert m.ts_ms == 1795316645120 and not m.clock_skewed


def test_event_with_rfc3339_time_and_id(dec):
    m = dec.decode(
        f"{T}/w-101-1/event",
        b'{"event":"fall","id":"e-88121","ts":"2026-11-22T03:04:05.120Z","confidence":0.93}',
        1_795_316_700_000,
    )
    assert isinstance(m, DeviceEvent)
    assert (m.event, m.key, m.attrs) == ("fall", "id:e-88121", {"confidence": 0.93})
    assert m.ts_ms == 1795316645120


def test_event_without_id_is_keyed_by_time_and_event(dec):
    m = dec.decode(
        f"{T}/cb-101-1/event", b'{"event":"press","button":"bed","ts":1795316640000}', NOW
    )
    assert isinstance(m, DeviceEvent) and m.key == "ts:1795316640000:press"


@pytest.mark.parametrize("ts", [None, NOW + 6 * 60_000, NOW - 25 * 3600_000])
def test_missing_or_skewed_time_uses_receive_time_and_flags_it(dec, ts):
    body = b'{"pressure_mpa":0.34}' if ts is None else b'{"pressure_mpa":0.34,"ts":%d}' % ts
    m = dec.decode(f"{T}/p-1f-riser/telemetry", body, NOW)
    assert isinstance(m, Reading) and m.ts_ms == NOW and m.clock_skewed


def test_status_and_unknown_extra_fields_are_kept(dec):
    s = dec.decode(f"{T}/sd-101/status", b'{"online":false}', NOW)
    assert isinstance(s, DeviceStatus) and s.online is False
    r = dec.decode(f"{T}/sd-101/telemetry", b'{"temperature_c":24.5,"fw":"1.2","x":{"a":[1]}}', NOW)
    assert isinstance(r, Reading)
    assert r.fields == {"temperature_c": 24.5, "fw": "1.2", "x": '{"a":[1]}'}


BAD = [
    ("too_large", f"{T}/w-101-1/telemetry", b'{"a":"' + b"x" * 9000 + b'"}'),
    ("bad_encoding", f"{T}/w-101-1/telemetry", b'{"zone":"\xff\xfe"}'),
    ("bad_json", f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm":'),
    ("not_object", f"{T}/w-101-1/telemetry", b"[1,2]"),
    ("not_finite", f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm":NaN}'),
    ("not_finite", f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm":1e999}'),
    ("out_of_range", f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm":900}'),
    ("wrong_type", f"{T}/w-101-1/telemetry", b'{"heart_rate_bpm":"74"}'),
    ("wrong_type", f"{T}/w-101-1/telemetry", b'{"worn":1}'),
    ("wrong_type", f"{T}/w-101-1/telemetry", b'{"ts":"yesterday"}'),
    ("bad_topic", "carewatch/v1/sunrise/w-101-1", b"{}"),
    ("bad_topic", "carewatch/v1/Sunrise!/w-101-1/telemetry", b"{}"),
    ("bad_topic", f"{T}/w-101-1/config", b"{}"),
    ("unregistered_device", f"{T}/ghost-1/telemetry", b'{"battery_pct":50}'),
    ("unregistered_device", "carewatch/v1/other/ghost-1/telemetry", b"{}"),
    # a device of site sunrise publishing under another site's topic
    ("wrong_site", "carewatch/v1/other/w-101-1/telemetry", b"{}"),
    ("unknown_event", f"{T}/w-101-1/event", b'{"event":"explode"}'),
    ("missing_field", f"{T}/w-101-1/event", b'{"id":"x"}'),
    ("missing_field", f"{T}/w-101-1/status", b"{}"),
    ("out_of_range", f"{T}/w-101-1/event", b'{"event":"fall","confidence":3}'),
    ("out_of_range", f"{T}/cb-101-1/event", b'{"event":"press","button":"roof"}'),
    ("out_of_range", f"{T}/cb-101-1/event", b'{"event":"press","id":"' + b"i" * 65 + b'"}'),
]


@pytest.mark.parametrize(("reason", "topic", "payload"), BAD)
def test_bad_input_is_rejected_with_its_reason(dec, reason, topic, payload):
    m = dec.decode(topic, payload, NOW)
    assert isinstance(m, Rejection), m
    assert m.reason == reason, m.detail
    assert m.payload == payload and m.topic == topic


def test_deeply_nested_unknown_field_is_rejected_not_raised(dec):
    deep = b'{"x":' + b"[" * 300 + b"]" * 300 + b"}"
    m = dec.decode(f"{T}/w-101-1/telemetry", deep, NOW)
    assert isinstance(m, Rejection) and m.reason == "wrong_type"


def test_every_rejection_reason_has_a_bad_input_case():
    assert {reason for reason, _, _ in BAD} == set(REASONS)
