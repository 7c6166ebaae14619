"""Zigbee2MQTT devices: the real payloads of DOMAIN.md decode to the readings and
events a duty room needs; levels raise once; a self-test is never a fire alarm; the table
of model families is checked entry by entry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from devices.decode import Decoder
from devices.model import DeviceEvent, DeviceStatus, Reading, Rejection
from devices.profiles import DEVICE_TYPES
from devices.registry import Registry, load_site
from devices.yamlconf import ConfigError
from devices.zigbee import PROFILES, EventMap, FieldMap, map_state, validate_profiles

NOW = 1_795_316_645_000
Z = "zigbee2mqtt"

SITE = """\
id: z1
name: Zigbee home
floors: [{id: "1", rooms: [{id: "101"}, {id: "102"}]}]
devices:
  - {id: w-1, type: wearable, room: "101"}
  - {id: sos-1, type: call_button, room: "101", source: zigbee2mqtt, friendly_name: 1F/101/sos, model: TS0215A_sos}
  - {id: smoke-1, type: smoke_detector, room: "101", source: zigbee2mqtt, friendly_name: smoke_101, model: HS1SA}
  - {id: smoke-2, type: smoke_detector, room: "102", source: zigbee2mqtt, friendly_name: smoke_102, model: SMSZB-120}
  - {id: smoke-3, type: smoke_detector, room: "102", source: zigbee2mqtt, friendly_name: smoke_xiaomi, model: JTYJ-GD-01LM/BW}
  - {id: leak-1, type: water_leak, room: "101", source: zigbee2mqtt, friendly_name: leak_101, model: SJCGQ11LM}
  - {id: vib-1, type: vibration_sensor, room: "101", source: zigbee2mqtt, friendly_name: walker_101, model: DJT11LM}
  - {id: pir-1, type: motion_sensor, room: "102", source: zigbee2mqtt, friendly_name: pir_102, model: RTCGQ11LM}
  - {id: btn-1, type: call_button, room: "102", source: zigbee2mqtt, friendly_name: button_102}
"""


def _site(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture
def reg(tmp_path) -> Registry:
    return load_site(_site(tmp_path, SITE))


@pytest.fixture
def dec(reg) -> Decoder:
    return Decoder(reg)


def z(dec: Decoder, name: str, payload: bytes, now: int = NOW):
    return dec.decode(f"{Z}/{name}", payload, now)


# --- the real payloads of DOMAIN.md -------------------------------------------------------


def test_sos_button_press_is_a_call_and_the_reset_message_is_only_a_sign_of_life(dec):
    m = z(dec, "1F/101/sos", b'{"action":"emergency","battery":null,"linkquality":90}')
    assert isinstance(m, DeviceEvent), m
    assert (m.device_id, m.device_type, m.event) == ("sos-1", "call_button", "press")
    assert m.attrs == {"action": "emergency", "link_quality": 90.0}  # battery null: absent
    reset = z(dec, "1F/101/sos", b'{"action":""}')
    assert isinstance(reset, Reading) and reset.fields == {}


@pytest.mark.parametrize("action", ["single", "double", "hold"])
def test_plain_buttons_registered_as_call_buttons_call_on_every_press(dec, action):
    m = z(dec, "button_102", b'{"action":"%s","battery":"80.00"}' % action.encode())
    assert isinstance(m, DeviceEvent) and m.event == "press"
    assert m.attrs["action"] == action and m.attrs["battery_pct"] == 80.0


def test_smoke_is_a_smoke_alarm_once_and_its_end_is_smoke_clear(dec):
    alarm = b'{"smoke":true,"battery":100,"battery_low":false,"linkquality":81}'
    m = z(dec, "smoke_101", alarm)
    assert isinstance(m, DeviceEvent) and m.event == "smoke_alarm"
    assert m.attrs["battery_pct"] == 100.0 and m.attrs["link_quality"] == 81.0
    again = z(dec, "smoke_101", alarm)  # Zigbee2MQTT repeats the whole state
    assert isinstance(again, Reading) and again.fields["smoke"] is True
    gone = z(dec, "smoke_101", b'{"smoke":false,"battery":100}')
    assert isinstance(gone, DeviceEvent) and gone.event == "smoke_clear"
    quiet = z(dec, "smoke_101", b'{"smoke":false,"battery":99}')
    assert isinstance(quiet, Reading) and quiet.fields["battery_pct"] == 99.0


def test_a_self_test_is_logged_as_a_test_and_never_raises_a_fire_alarm(dec):
    frient = b'{"smoke":false,"test":true,"trouble":false,"tamper":false,"battery":100,"temperature":24.06}'
    m = z(dec, "smoke_102", frient)
    assert isinstance(m, DeviceEvent) and m.event == "test"
    assert m.attrs["temperature_c"] == 24.06 and m.attrs["test"] is True
    # some detectors sound (smoke true) during their test, and Zigbee2MQTT's cache keeps
    # `smoke: true` in the next message after the test ends: still not a fire
    sequence = [
        b'{"smoke":true,"test":true}',
        b'{"smoke":true,"test":false}',
        b'{"smoke":false,"test":false}',
    ]
    events = [getattr(z(dec, "smoke_101", p), "event", None) for p in sequence]
    assert events == ["test", None, None]
    real = z(dec, "smoke_101", b'{"smoke":true,"test":false}')
    assert isinstance(real, DeviceEvent) and real.event == "smoke_alarm"


def test_trouble_and_tamper_are_fault_and_tamper(dec):
    assert z(dec, "smoke_102", b'{"trouble":true,"smoke":false}').event == "fault"
    assert z(dec, "smoke_102", b'{"trouble":true,"tamper":true,"smoke":false}').event == "tamper"


def test_two_changes_in_one_message_come_out_one_after_the_other(dec):
    both = b'{"smoke":true,"battery_low":true,"battery":9}'
    first, second, third = (z(dec, "smoke_101", both) for _ in range(3))
    assert (first.event, second.event) == ("smoke_alarm", "low_battery")
    assert isinstance(third, Reading) and third.fields["battery_pct"] == 9.0


def test_water_leak_vibration_and_motion(dec):
    leak = z(
        dec,
        "leak_101",
        b'{"water_leak":true,"battery":100,"battery_low":false,"temperature":26,"voltage":3025}',
    )
    assert isinstance(leak, DeviceEvent) and (leak.device_type, leak.event) == (
        "water_leak",
        "leak",
    )
    assert leak.attrs["water_leak"] is True and leak.attrs["temperature_c"] == 26.0
    assert leak.attrs["voltage"] == 3025.0  # an unknown key is kept as it came
    dry = z(dec, "leak_101", b'{"water_leak":false,"battery":100}')
    assert isinstance(dry, DeviceEvent) and dry.event == "leak_clear"

    drop = z(dec, "walker_101", b'{"action":"drop","strength":20,"angle":87,"battery":100}')
    assert isinstance(drop, DeviceEvent) and drop.event == "drop"
    assert drop.attrs == {
        "action": "drop",
        "strength": 20.0,
        "angle_deg": 87.0,
        "battery_pct": 100.0,
    }

    pir = z(dec, "pir_102", b'{"occupancy":true,"illuminance_lux":7,"battery":100}')
    assert isinstance(pir, Reading)
    assert pir.fields == {"occupancy": True, "illuminance_lux": 7.0, "battery_pct": 100.0}


@pytest.mark.parametrize(
    ("battery", "stored"),
    [
        (b"null", {}),
        (b'"80.00"', {"battery_pct": 80.0}),
        (b'" 55 "', {"battery_pct": 55.0}),
        (b"200", {"battery_pct": 100.0}),  # firmware reporting half-percent units
        (b"-3", {"battery_pct": 0.0}),
        (b'"unknown"', {"battery": "unknown"}),  # kept as it came, never a rejection
        (b"true", {"battery": True}),
    ],
)
def test_battery_is_read_defensively(dec, battery, stored):
    m = z(dec, "pir_102", b'{"battery":%s}' % battery)
    assert isinstance(m, Reading), m
    assert m.fields == stored


def test_a_value_that_cannot_be_read_does_not_lose_the_call(dec):
    m = z(dec, "1F/101/sos", b'{"action":"emergency","battery":{"v":1},"linkquality":"x"}')
    assert isinstance(m, DeviceEvent) and m.event == "press"
    assert m.attrs["battery"] == '{"v":1}' and m.attrs["linkquality"] == "x"


# --- availability, time, topics -----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"online", True),
        (b"offline", False),
        (b'{"state":"online"}', True),
        (b'{"state":"offline"}', False),
    ],
)
def test_availability_is_the_device_status(dec, payload, online):
    m = dec.decode(f"{Z}/1F/101/sos/availability", payload, NOW)
    assert isinstance(m, DeviceStatus) and m.online is online and m.device_id == "sos-1"


@pytest.mark.parametrize("payload", [b"maybe", b'{"state":1}', b"[1]", b'{"state":"dead"}'])
def test_availability_of_another_shape_is_rejected(dec, payload):
    m = dec.decode(f"{Z}/pir_102/availability", payload, NOW)
    assert isinstance(m, Rejection) and m.reason == "wrong_type"


def test_last_seen_is_the_message_time_and_makes_redelivery_recognisable(dec, reg):
    body = b'{"action":"emergency","last_seen":"2026-11-22T03:04:05.120Z"}'
    a = z(dec, "1F/101/sos", body, NOW + 10)
    b = Decoder(reg).decode(f"{Z}/1F/101/sos", body, NOW + 900)  # after a restart
    assert isinstance(a, DeviceEvent) and isinstance(b, DeviceEvent)
    assert a.ts_ms == 1795316645120 and not a.clock_skewed
    assert a.key == b.key
    local = z(dec, "1F/101/sos", b'{"action":"emergency","last_seen":"2026-11-22T03:04:05"}')
    assert isinstance(local, DeviceEvent) and local.ts_ms == NOW and local.clock_skewed
    plain = z(dec, "1F/101/sos", b'{"action":"emergency"}')
    assert plain.ts_ms == NOW and not plain.clock_skewed


def test_only_registered_friendly_names_are_subscribed_and_others_are_unregistered(dec):
    subs = dec.subscriptions()
    assert "zigbee2mqtt/1F/101/sos" in subs and "zigbee2mqtt/1F/101/sos/availability" in subs
    assert not any("+" in s or "#" in s for s in subs if s.startswith(Z))
    # each registered device's two topics, and its gateway's own two (devices/bridge.py)
    assert len([s for s in subs if s.startswith(Z)]) == 2 * 8 + 2
    assert f"{Z}/bridge/state" in subs and f"{Z}/bridge/devices" in subs
    m = z(dec, "kitchen_bulb", b'{"state":"ON"}')
    assert isinstance(m, Rejection) and m.reason == "unregistered_device"
    assert (m.site, m.device_id) == ("z1", "kitchen_bulb")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"{", "bad_json"), (b"[]", "not_object"), (b'{"a":"' + b"x" * 9000 + b'"}', "too_large")],
)
def test_bad_zigbee_payloads_are_rejected_with_the_contracts_reasons(dec, payload, reason):
    m = z(dec, "leak_101", payload)
    assert isinstance(m, Rejection) and m.reason == reason


def test_a_home_without_zigbee_devices_reads_no_zigbee_topics(registry):
    dec = Decoder(registry)
    assert not any(s.startswith(Z) for s in dec.subscriptions())
    m = dec.decode(f"{Z}/anything", b"{}", NOW)
    assert isinstance(m, Rejection) and m.reason == "bad_topic"


# --- the table ---------------------------------------------------------------------------


def test_every_entry_of_the_table_is_sound_and_every_model_decodes_its_example(tmp_path):
    assert validate_profiles() == []
    devices = [
        (f"d{i}-{j}", profile, model)
        for i, profile in enumerate(PROFILES)
        for j, model in enumerate(profile.models)
    ]
    site = BASE + "".join(
        f"  - {{id: {d}, type: {p.device_type}, room: '101', source: zigbee2mqtt,"
        f" friendly_name: {d}, model: '{m}'}}\n"
        for d, p, m in devices
    )
    dec = Decoder(load_site(_site(tmp_path, site)))
    for device_id, profile, model in devices:
        dtype = DEVICE_TYPES[profile.device_type]
        m = dec.decode(f"{Z}/{device_id}", orjson.dumps(dict(profile.example)), NOW)
        assert isinstance(m, Reading | DeviceEvent), (model, m)
        assert m.device_type == profile.device_type
        values = m.fields if isinstance(m, Reading) else m.attrs
        for name, value in values.items():
            spec = dtype.fields.get(name)
            if spec is not None and spec.min is not None and spec.max is not None:
                assert isinstance(value, float) and spec.min <= value <= spec.max, (model, name)
        if isinstance(m, DeviceEvent):
            assert m.event in dtype.events, (model, m.event)
        # and the mapping on its own agrees with what the decoder did
        mapped = map_state(profile, dtype, profile.example, {})
        assert mapped.event == getattr(m, "event", None)


def test_table_validation_finds_broken_entries():
    good = PROFILES[0]
    broken = (
        replace(good, device_type="toaster"),
        good,  # the same model twice for one type (another type may share it: a fire door)
        replace(good, name="b", models=("TS0215A_sos",), events=(EventMap("x", (True,), "boom"),)),
        replace(
            PROFILES[3],
            name="c",
            models=("Z",),
            fields={"temperature": FieldMap("temperature_c", "bool"), "x": FieldMap("nope")},
        ),
    )
    problems = validate_profiles(broken)
    assert any("unknown device type 'toaster'" in p for p in problems)
    assert any("model 'TS0215A_sos' is also in" in p for p in problems)
    assert any("has no event 'boom'" in p for p in problems)
    assert any("bool does not fit" in p for p in problems)
    assert any("has no field 'nope'" in p for p in problems)


# --- the site file -----------------------------------------------------------------------


def test_zigbee_devices_get_their_models_check_in_interval(reg):
    assert reg.by_id("sos-1").type.supervision_s == 25 * 3600  # Zigbee2MQTT's battery default
    assert reg.by_id("leak-1").type.supervision_s == 2 * 3600  # Aqara checks in hourly
    assert reg.by_id("smoke-3").type.supervision_s == 2 * 3600
    assert reg.by_id("w-1").type.supervision_s == DEVICE_TYPES["wearable"].supervision_s


BASE = 'id: s1\nname: H\nfloors: [{id: "1", rooms: [{id: "101"}]}]\ndevices:\n'


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("{id: a, type: water_leak, room: '101', source: zigbee2mqtt}", "need a friendly_name"),
        (
            "{id: a, type: water_leak, room: '101', source: zigbee2mqtt, friendly_name: 'a/+'}",
            "cannot be a Zigbee2MQTT device topic",
        ),
        (
            "{id: a, type: water_leak, room: '101', source: zigbee2mqtt, friendly_name: x/availability}",
            "cannot be a Zigbee2MQTT device topic",
        ),
        (
            "{id: a, type: water_leak, room: '101', source: zigbee2mqtt, friendly_name: bridge}",
            "cannot be a Zigbee2MQTT device topic",
        ),
        (
            "{id: a, type: water_leak, room: '101', source: zigbee2mqtt, friendly_name: l, model: TS0215A_sos}",
            "no Zigbee2MQTT entry for model 'TS0215A_sos' as a water_leak",
        ),
        (
            "{id: a, type: wearable, room: '101', source: zigbee2mqtt, friendly_name: w}",
            "no Zigbee2MQTT entry for type 'wearable'",
        ),
        ("{id: a, type: wearable, room: '101', model: SJCGQ11LM}", "model is for zigbee2mqtt"),
    ],
)
def test_site_file_rejects_zigbee_devices_that_cannot_work(tmp_path, device, message):
    with pytest.raises(ConfigError, match=message):
        load_site(_site(tmp_path, BASE + f"  - {device}\n"))


def test_friendly_names_are_unique(tmp_path):
    two = "".join(
        f"  - {{id: d{i}, type: water_leak, room: '101', source: zigbee2mqtt, friendly_name: same}}\n"
        for i in (1, 2)
    )
    with pytest.raises(ConfigError, match="friendly names used twice"):
        load_site(_site(tmp_path, BASE + two))


def test_alarms_and_telemetry_are_read_in_two_sessions_that_together_cover_every_topic(dec):
    events, telemetry = dec.subscriptions("events"), dec.subscriptions("telemetry")
    # the watched site only, never every site on the broker
    assert "carewatch/v1/z1/+/event" in events and "zigbee2mqtt/1F/101/sos" in events
    assert "carewatch/v1/z1/+/telemetry" in telemetry and "carewatch/v1/z1/+/status" in telemetry
    assert not any(s.startswith("carewatch/v1/+") for s in events + telemetry)
    assert "zigbee2mqtt/1F/101/sos/availability" in telemetry
    assert not set(events) & set(telemetry)
    assert sorted(events + telemetry) == sorted(dec.subscriptions())
