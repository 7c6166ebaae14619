"""Zigbee2MQTT devices as data: one table entry per model family.

Zigbee2MQTT publishes each device's state as JSON at `zigbee2mqtt/<friendly_name>` and its
availability at `zigbee2mqtt/<friendly_name>/availability`. A site registers such a device
with `source: zigbee2mqtt`, its `friendly_name`, a CareWatch `type` and optionally the
Zigbee2MQTT `model`; the entry below whose `models` name it (else the first entry for the
type) says how its payload maps onto the type's fields and events.

Adding a model is adding an entry (or a model id to an entry): `match` (models), decoders
(`events`, most important first), `fields` and defaults (`supervision_s`). `validate_profiles`
checks every entry against the device-type table; the registry runs it at load and a test
walks the whole table with each entry's `example` (a real payload).

`map_state` is pure: it takes the previous state of the device's level keys and returns
the new one. Levels (`smoke`, `water_leak`, `battery_low`...) are repeated in every message
Zigbee2MQTT sends, so they raise an event only when they change; momentary keys (`action`)
raise one each time. A message becomes at most one event, the first of the entry's list;
another change in the same message stays pending (its previous state is kept) and comes
out with the next message, which repeats it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import orjson

from devices.model import Scalar, as_json_scalar
from devices.profiles import DEVICE_TYPES, DeviceType, FieldKind

Convert = Literal["number", "percent", "bool", "text"]
Z2MValue = str | bool
BATTERY_SUPERVISION_S = 25 * 3600  # Zigbee2MQTT's own timeout for battery devices
XIAOMI_SUPERVISION_S = 2 * 3600  # Xiaomi/Aqara devices check in about every 50-60 min
# keys that are Zigbee2MQTT's bookkeeping, not measurements
IGNORED_KEYS = frozenset({"last_seen", "update", "update_available", "device", "elapsed"})
# a level that changed during a self-test: its change back is not an event either
TEST_MARK = "test:"
_KIND = {"number": FieldKind.NUMBER, "percent": FieldKind.NUMBER, "bool": FieldKind.BOOL}


@dataclass(frozen=True, slots=True)
class FieldMap:
    """A Zigbee2MQTT key read as a field of the device type."""

    field: str
    convert: Convert = "number"  # percent: also clamped into 0..100 (some firmware says 200)


@dataclass(frozen=True, slots=True)
class EventMap:
    """A Zigbee2MQTT key whose value means an event of the device type."""

    key: str
    values: tuple[Z2MValue, ...]
    event: str
    edge: bool = True  # a level repeated in every message: only a change raises the event
    after: tuple[Z2MValue, ...] = ()  # only if the previous known value was one of these
    unless: tuple[str, ...] = ()  # not while one of these keys is true (a self-test)
    attr: str | None = None  # the value goes into the event as this attribute


@dataclass(frozen=True, slots=True)
class ZigbeeProfile:
    """How a family of Zigbee2MQTT models maps onto one device type: which keys are events and which
    are fields, and its check-in interval (an entry of PROFILES)."""

    name: str
    device_type: str
    models: tuple[str, ...]  # match: Zigbee2MQTT model ids (its "model" column)
    events: tuple[EventMap, ...]  # decoders, most important first
    fields: Mapping[str, FieldMap]  # Zigbee2MQTT key -> field
    supervision_s: int  # default: silent longer than this = offline
    example: Mapping[str, Any]  # a payload seen in the wild (DOMAIN.md)
    description: str = ""


COMMON_FIELDS: Mapping[str, FieldMap] = {
    "battery": FieldMap("battery_pct", "percent"),
    "linkquality": FieldMap("link_quality"),
}
COMMON_EVENTS: tuple[EventMap, ...] = (
    EventMap("tamper", (True,), "tamper"),
    EventMap("battery_low", (True,), "low_battery"),
)


def _profile(
    name: str,
    device_type: str,
    models: tuple[str, ...],
    events: tuple[EventMap, ...],
    fields: dict[str, FieldMap],
    supervision_s: int,
    example: dict[str, Any],
    description: str,
) -> ZigbeeProfile:
    return ZigbeeProfile(
        name,
        device_type,
        models,
        (*events, *COMMON_EVENTS),
        MappingProxyType({**COMMON_FIELDS, **fields}),
        supervision_s,
        MappingProxyType(example),
        description,
    )


_TEMPERATURE = {"temperature": FieldMap("temperature_c")}
PROFILES: tuple[ZigbeeProfile, ...] = (
    _profile(
        "sos_button",
        "call_button",
        ("TS0215A_sos", "TS0041", "WXKG11LM", "WXKG01LM"),
        (
            EventMap(
                "action", ("emergency", "single", "double", "hold"), "press", False, attr="action"
            ),
        ),
        {},
        BATTERY_SUPERVISION_S,
        {"action": "emergency", "battery": None, "linkquality": 90},
        "SOS / emergency buttons, and plain buttons used as call buttons",
    ),
    _profile(
        "smoke_detector",
        "smoke_detector",
        ("HS1SA", "SMSZB-120"),
        (
            EventMap("test", (True,), "test"),
            EventMap("smoke", (True,), "smoke_alarm", unless=("test",)),
            EventMap("smoke", (False,), "smoke_clear", after=(True,)),
            EventMap("trouble", (True,), "fault"),
        ),
        _TEMPERATURE,
        BATTERY_SUPERVISION_S,
        {"smoke": True, "battery": 100, "battery_low": False, "linkquality": 81},
        "HEIMAN HS1SA, frient SMSZB-120: a self-test (`test`) never raises a fire alarm",
    ),
    _profile(
        "aqara_smoke_detector",
        "smoke_detector",
        ("JTYJ-GD-01LM/BW",),
        (
            EventMap("test", (True,), "test"),
            EventMap("smoke", (True,), "smoke_alarm", unless=("test",)),
            EventMap("smoke", (False,), "smoke_clear", after=(True,)),
        ),
        _TEMPERATURE,
        XIAOMI_SUPERVISION_S,
        {"smoke": True, "battery": 100, "battery_low": False, "linkquality": 81},
        "Xiaomi / Aqara smoke detector (hourly check-in)",
    ),
    _profile(
        "water_leak",
        "water_leak",
        ("SJCGQ11LM", "SJCGQ12LM"),
        (
            EventMap("water_leak", (True,), "leak"),
            EventMap("water_leak", (False,), "leak_clear", after=(True,)),
        ),
        {"water_leak": FieldMap("water_leak", "bool"), **_TEMPERATURE},
        XIAOMI_SUPERVISION_S,
        {
            "water_leak": True,
            "battery": 100,
            "battery_low": False,
            "temperature": 26,
            "voltage": 3025,
        },
        "Aqara water leak sensor",
    ),
    _profile(
        "vibration",
        "vibration_sensor",
        ("DJT11LM",),
        (EventMap("action", ("vibration", "tilt", "drop"), "", False, attr="action"),),
        {"strength": FieldMap("strength"), "angle": FieldMap("angle_deg")},
        XIAOMI_SUPERVISION_S,
        {"action": "drop", "strength": 20, "angle": 87, "battery": 100},
        "Aqara vibration sensor: `action` vibration, tilt or drop is the event of that name",
    ),
    _profile(
        "motion",
        "motion_sensor",
        ("RTCGQ11LM", "RTCGQ01LM"),
        (),
        {
            "occupancy": FieldMap("occupancy", "bool"),
            "illuminance_lux": FieldMap("illuminance_lux"),
        },
        XIAOMI_SUPERVISION_S,
        {"occupancy": True, "illuminance_lux": 7, "battery": 100},
        "Aqara motion sensor: occupancy and light as readings",
    ),
    _profile(
        "aqara_presence",
        "motion_sensor",
        ("RTCZCGQ11LM",),
        (),
        {"presence": FieldMap("occupancy", "bool")},
        XIAOMI_SUPERVISION_S,
        {"presence": True, "presence_event": "enter", "linkquality": 120},
        "Aqara FP1 mmWave presence sensor (mains): `presence` read as occupancy",
    ),
    # --- the home-bed kit (docs/home-beds.md) -----------------------------------------
    _profile(
        "aqara_gas",
        "gas_detector",
        ("JTQJ-BF-01LM/BW",),
        (),
        {"gas": FieldMap("gas", "bool"), "gas_density": FieldMap("gas_density")},
        XIAOMI_SUPERVISION_S,
        {"gas": True, "gas_density": 12, "linkquality": 96},
        "Xiaomi/Aqara (Honeywell) natural gas detector, mains: `gas` and `gas_density`",
    ),
    _profile(
        "heiman_gas",
        "gas_detector",
        ("HS1CG-M", "HS1CG-E", "HS1CG"),
        (),
        {"gas": FieldMap("gas", "bool")},
        BATTERY_SUPERVISION_S,  # mains, but silent while nothing changes: availability pings it
        {"gas": True, "battery_low": False, "tamper": False, "linkquality": 78},
        "HEIMAN combustible gas sensors: `gas`, `battery_low`, `tamper`",
    ),
    _profile(
        "aqara_contact",
        "door_contact",
        ("MCCGQ11LM", "MCCGQ01LM"),
        (),
        {"contact": FieldMap("contact", "bool")},
        XIAOMI_SUPERVISION_S,
        {"contact": False, "battery": 100, "voltage": 3005, "linkquality": 102},
        "Aqara / Xiaomi door & window contact: `contact` true = closed",
    ),
    _profile(  # the same contact on a normally-closed fire door (常闭式防火门)
        "fire_door_contact",
        "fire_door",
        ("MCCGQ11LM", "MCCGQ01LM"),
        (),
        {"contact": FieldMap("closed", "bool")},
        XIAOMI_SUPERVISION_S,
        {"contact": True, "battery": 100, "voltage": 3005, "linkquality": 102},
        "Aqara / Xiaomi door contact fitted on a fire door: `contact` true = closed",
    ),
    _profile(
        "tuya_bed_presence",
        "bed_presence",
        ("TS0601_bed_presence_sensor",),
        (),
        {"occupancy": FieldMap("presence", "bool")},
        BATTERY_SUPERVISION_S,
        {"occupancy": True, "battery": 90, "illuminance": 2150, "work_state": "presence"},
        "Tuya pressure strap under the mattress: `occupancy` read as presence"
        " (`illuminance` is its raw pressure, kept as sent)",
    ),
)
# one model may serve two types (a door contact on an entrance door, or on a fire door)
BY_MODEL: Mapping[tuple[str, str], ZigbeeProfile] = MappingProxyType(
    {(p.device_type, m): p for p in PROFILES for m in p.models}
)


def profile_for(device_type: str, model: str | None) -> ZigbeeProfile | None:
    """The entry for a registered device: by its model, else the type's first entry."""
    if model is not None:
        return BY_MODEL.get((device_type, model))
    return next((p for p in PROFILES if p.device_type == device_type), None)


def _event_names(em: EventMap) -> list[str]:
    """`event` "" means: the value itself is the event (vibration's tilt, drop...)."""
    return [em.event] if em.event else [str(v) for v in em.values]


def validate_profiles(
    profiles: tuple[ZigbeeProfile, ...] = PROFILES,
    types: Mapping[str, DeviceType] = DEVICE_TYPES,
) -> list[str]:
    """Every problem of the table, as sentences; empty when it is sound."""
    problems: list[str] = []
    names: set[str] = set()
    models: dict[tuple[str, str], str] = {}
    for p in profiles:
        if p.name in names:
            problems.append(f"zigbee {p.name}: name used twice")
        names.add(p.name)
        for m in p.models:
            if (p.device_type, m) in models:
                problems.append(
                    f"zigbee {p.name}: model {m!r} is also in {models[p.device_type, m]}"
                )
            models[p.device_type, m] = p.name
        t = types.get(p.device_type)
        if t is None:
            problems.append(f"zigbee {p.name}: unknown device type {p.device_type!r}")
            continue
        if p.supervision_s <= 0:
            problems.append(f"zigbee {p.name}: supervision interval must be positive")
        for key, fm in p.fields.items():
            spec = t.fields.get(fm.field)
            if spec is None:
                problems.append(f"zigbee {p.name}.{key}: {p.device_type} has no field {fm.field!r}")
            elif _KIND.get(fm.convert, FieldKind.TEXT) is not spec.kind:
                problems.append(f"zigbee {p.name}.{key}: {fm.convert} does not fit {spec.kind}")
        for em in p.events:
            if not em.values:
                problems.append(f"zigbee {p.name}.{em.key}: no values")
            for event in _event_names(em):
                if event not in t.events:
                    problems.append(
                        f"zigbee {p.name}.{em.key}: {p.device_type} has no event {event!r}"
                    )
            if em.after and not em.edge:
                problems.append(f"zigbee {p.name}.{em.key}: `after` needs a level (edge) key")
        if not isinstance(p.example, Mapping) or not p.example:
            problems.append(f"zigbee {p.name}: needs an example payload")
    return problems


# --- decoding ---------------------------------------------------------------------------


def _as_number(value: object) -> float | None:
    """Numbers, and numbers sent as text ("80.00"); None for null and anything else."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _convert(fm: FieldMap, dtype: DeviceType, value: object) -> Scalar | None:
    spec = dtype.fields[fm.field]
    if fm.convert in ("number", "percent"):
        number = _as_number(value)
        if number is None:
            return None
        if fm.convert == "percent":
            number = min(100.0, max(0.0, number))
        if (spec.min is not None and number < spec.min) or (
            spec.max is not None and number > spec.max
        ):
            return None
        return number
    if fm.convert == "bool":
        return value if isinstance(value, bool) else None
    return value[:64] if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Mapped:
    """What one Zigbee2MQTT state message says."""

    event: str | None
    attrs: dict[str, Scalar]  # the event's own attributes (e.g. the original `action`)
    fields: dict[str, Scalar]  # the type's fields, plus every other key as it came
    state: dict[str, Z2MValue]  # the level keys to remember for the next message
    pending: list[str] = field(default_factory=list)  # events left for the next message


def _extra(value: object) -> Scalar:
    try:
        return as_json_scalar(value)
    except orjson.JSONEncodeError:
        return "(nested too deeply)"


def map_state(
    profile: ZigbeeProfile,
    dtype: DeviceType,
    body: Mapping[str, Any],
    previous: Mapping[str, Z2MValue],
) -> Mapped:
    """Map one state payload; tolerant: a value that cannot be read is kept as it came
    (under its Zigbee2MQTT key) instead of rejecting the message, which may be a call."""
    fields: dict[str, Scalar] = {}
    event_keys = {em.key for em in profile.events}
    for key, value in body.items():
        if key in IGNORED_KEYS or value is None:
            continue
        fm = profile.fields.get(key)
        if fm is not None:
            converted = _convert(fm, dtype, value)
            if converted is not None:
                fields[fm.field] = converted
                continue
        elif key in event_keys and not isinstance(value, bool):
            continue  # an action is the event, not a reading ("" resets it)
        fields[key] = _extra(value)
    chosen: EventMap | None = None
    chosen_value: Z2MValue | None = None
    pending: list[str] = []
    held: set[str] = set()  # level keys whose change is left for the next message
    in_test: set[str] = set()  # level keys seen while the device runs a self-test
    for em in profile.events:
        value = body.get(em.key)
        if not isinstance(value, str | bool) or value not in em.values:
            continue
        if em.edge:
            before = previous.get(em.key)
            after_test = previous.get(TEST_MARK + em.key) is True
            if before == value or (em.after and (after_test or before not in em.after)):
                continue
            if any(body.get(u) is True for u in em.unless):
                in_test.add(em.key)
                continue
        name = em.event or str(value)
        if chosen is None:
            chosen, chosen_value = em, value
        else:
            pending.append(name)
            if em.edge:
                held.add(em.key)
    state = dict(previous)
    for key in {em.key for em in profile.events if em.edge}:
        value = body.get(key)
        if not isinstance(value, str | bool) or key in held:
            continue
        if key in in_test:
            state[TEST_MARK + key] = True
        elif value != previous.get(key):
            state.pop(TEST_MARK + key, None)
        state[key] = value
    if chosen is None or chosen_value is None:
        return Mapped(None, {}, fields, state, pending)
    attrs: dict[str, Scalar] = {chosen.attr: chosen_value} if chosen.attr else {}
    return Mapped(chosen.event or str(chosen_value), attrs, fields, state, pending)


def parse_availability(payload: bytes) -> bool | None:
    """`online` / `offline` (plain text, older Zigbee2MQTT) or `{"state": "online"}`."""
    text = payload.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            body = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        text = body.get("state", "") if isinstance(body, dict) else ""
        if not isinstance(text, str):
            return None
    return {"online": True, "offline": False}.get(text.strip().lower())
