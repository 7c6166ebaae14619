"""Device knowledge as data: one table entry per device type (PROTOCOL.md).

Adding a device type is adding an entry; `validate_table` checks every entry and a test
walks the whole table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from devices.catalog import load_catalog
from devices.rounds import CHECKLIST_ITEMS


class FieldKind(StrEnum):
    """What a telemetry field holds; the decoder checks every value against it (text at most 64
    characters)."""

    NUMBER = "number"
    BOOL = "bool"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One telemetry field of a device type: its kind, unit and range; a number outside [min, max]
    is rejected as `out_of_range`."""

    kind: FieldKind
    unit: str = ""
    min: float | None = None
    max: float | None = None
    description: str = ""
    choices: tuple[str, ...] = ()  # a text field's allowed values (none: any text)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event a device type sends: the allowed values of its text attributes and ranges of its
    numeric ones, checked by the decoder; other attributes are kept as sent."""

    description: str
    # allowed values of string attributes, e.g. {"button": ("bed", ...)}
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # numeric attributes with their range, e.g. {"confidence": (0, 1)}
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # text attributes with their longest length, e.g. a fire panel's {"point": 32}
    texts: Mapping[str, int] = field(default_factory=dict)
    # attributes the event must carry (a fire panel's fire names its `point`)
    required: tuple[str, ...] = ()


# how a field shows activity: `true` (a motion sensor's occupancy), `change` (a door
# contact opened or closed, someone got into or out of bed), `rise` (a step counter)
Activity = Literal["true", "change", "rise"]


@dataclass(frozen=True, slots=True)
class DeviceType:
    """One entry of the device-type table: fields, events and supervision interval; the decoder, the
    rules check, the screen and the report all read it."""

    name: str
    fields: Mapping[str, FieldSpec]
    events: Mapping[str, EventSpec]
    supervision_s: int  # silent longer than this = offline
    fire_safety: bool = False  # offline fire devices are more severe
    # telemetry may carry raw acceleration (`accel`) for server-side fall detection
    raw_accel: bool = False
    # what its alarms are about, for receivers that sort notifications (CAP category): a
    # fire (detectors, call points), a resident's health or call for help, else safety
    concern: Literal["fire", "health", "safety"] = "safety"
    # what shows a resident up and about (a home bed's no-activity and daily check-in,
    # alerting/welfare.py): these events, and these fields when true / changed / risen
    activity_events: tuple[str, ...] = ()
    activity_fields: Mapping[str, Activity] = field(default_factory=dict)

    def label(self, lang: str) -> str:
        """The type's name for a reader, from the catalog (`device_type.<name>`): one place
        for every language, shared by the screen, the report and the notices."""
        return load_catalog().text(lang, f"device_type.{self.name}")


COMMON_FIELDS: Mapping[str, FieldSpec] = {
    "battery_pct": FieldSpec(FieldKind.NUMBER, "%", 0, 100, "battery level"),
    "rssi_dbm": FieldSpec(FieldKind.NUMBER, "dBm", -150, 20, "radio signal strength"),
    "link_quality": FieldSpec(FieldKind.NUMBER, "LQI", 0, 255, "Zigbee link quality (0-255)"),
}
COMMON_EVENTS: Mapping[str, EventSpec] = {
    "fault": EventSpec("device reports a fault"),
    "tamper": EventSpec("device opened or removed from its mount"),
    "low_battery": EventSpec("device reports its battery low"),
}


def _type(
    name: str,
    fields: dict[str, FieldSpec],
    events: dict[str, EventSpec],
    supervision_s: int,
    fire_safety: bool = False,
    raw_accel: bool = False,
    concern: Literal["fire", "health", "safety"] = "safety",
    activity_events: tuple[str, ...] = (),
    activity_fields: dict[str, Activity] | None = None,
) -> DeviceType:
    return DeviceType(
        name=name,
        fields=MappingProxyType({**COMMON_FIELDS, **fields}),
        events=MappingProxyType({**COMMON_EVENTS, **events}),
        supervision_s=supervision_s,
        fire_safety=fire_safety,
        raw_accel=raw_accel,
        concern=concern,
        activity_events=activity_events,
        activity_fields=MappingProxyType(activity_fields or {}),
    )


# a fire panel's event (docs/protocol.md, "Fire panel gateway"): the point (loop-address)
# it is about, where that point is, and the panel's own text
PANEL_TEXTS: Mapping[str, int] = MappingProxyType(
    {"point": 32, "zone": 64, "floor": 16, "room": 32, "text": 200}
)


def _panel_event(description: str, point: bool = True) -> EventSpec:
    return EventSpec(description, texts=PANEL_TEXTS, required=("point",) if point else ())


N = FieldKind.NUMBER
DEVICE_TYPES: Mapping[str, DeviceType] = MappingProxyType(
    {
        t.name: t
        for t in (
            _type(
                "call_button",
                {},
                {
                    "press": EventSpec(
                        "resident asks for help",
                        choices={"button": ("bed", "bathroom_cord", "pendant")},
                    ),
                    "cancel": EventSpec("staff present at the bedside reset the call"),
                },
                supervision_s=3600,
                concern="health",
                activity_events=("press", "cancel"),
            ),
            _type(
                "wearable",
                {
                    "heart_rate_bpm": FieldSpec(N, "bpm", 0, 250, "heart rate"),
                    "spo2_pct": FieldSpec(N, "%", 0, 100, "blood oxygen saturation"),
                    "worn": FieldSpec(FieldKind.BOOL, "", description="worn on the body"),
                    "zone": FieldSpec(FieldKind.TEXT, "", description="location zone"),
                    "steps": FieldSpec(N, "steps", 0, 1_000_000, "step counter"),
                },
                {
                    "fall": EventSpec("fall detected", ranges={"confidence": (0.0, 1.0)}),
                    "sos": EventSpec("SOS pressed on the wearable"),
                    "removed": EventSpec("wearable taken off"),
                    "put_on": EventSpec("wearable put on"),
                },
                supervision_s=600,
                raw_accel=True,
                concern="health",
                activity_events=("sos", "put_on"),
                activity_fields={"steps": "rise"},
            ),
            _type(
                "smoke_detector",
                {"temperature_c": FieldSpec(N, "°C", -40, 150, "air temperature")},
                {
                    "smoke_alarm": EventSpec("smoke detected"),
                    "smoke_clear": EventSpec("smoke gone"),
                    "test": EventSpec("self-test pressed"),
                },
                supervision_s=3600,
                fire_safety=True,
                concern="fire",
            ),
            _type(
                "call_point",
                {},
                {"pressed": EventSpec("someone broke the glass / pressed the fire call point")},
                supervision_s=3600,
                fire_safety=True,
                concern="fire",
            ),
            _type(
                "water_pressure",
                {"pressure_mpa": FieldSpec(N, "MPa", 0, 4, "fire-water pipe pressure")},
                {},
                supervision_s=600,
                fire_safety=True,
            ),
            _type(
                "electrical_monitor",
                {
                    "residual_current_ma": FieldSpec(N, "mA", 0, 10_000, "residual current"),
                    "cable_temp_c": FieldSpec(N, "°C", -40, 250, "cable temperature"),
                    "current_a": FieldSpec(N, "A", 0, 2_000, "load current"),
                    "voltage_v": FieldSpec(N, "V", 0, 500, "voltage"),
                },
                {
                    "arc_fault": EventSpec("arc fault detected"),
                    "overcurrent": EventSpec("overcurrent"),
                },
                supervision_s=600,
                fire_safety=True,
            ),
            # --- automatic fire installations (docs/fire-duty.md, "Fire equipment") -------
            # Wired and mains-powered with battery backup, reaching CareWatch through the
            # fire panel's gateway (用户信息传输装置) or a wired I/O module that reports at
            # least every minute: 10 min of silence is as suspicious as for the other
            # mains-powered fire devices (water pressure, electrical monitor; Zigbee2MQTT's
            # mains limit), far inside GB 50440's 2 h patrol check, because a dead link
            # hides a closed valve or a pump left in manual. A Zigbee contact on a fire door
            # takes its profile's own limit (devices/zigbee.py).
            _type(
                "fire_panel",
                {},
                {
                    "fire": _panel_event("fire alarm at a point of the panel"),
                    "fault": _panel_event("fault at a point (or of the panel: point `panel`)"),
                    "fault_clear": _panel_event("the point's fault is gone"),
                    "supervisory": _panel_event("supervisory signal at a point"),
                    "supervisory_clear": _panel_event("the point's supervisory signal is gone"),
                    "disable": _panel_event("a point disabled (屏蔽) at the panel"),
                    "enable": _panel_event("a disabled point enabled again"),
                    "reset": _panel_event("the panel reset (复位)", point=False),
                },
                supervision_s=600,
                fire_safety=True,
                concern="fire",
            ),
            _type(
                "fire_pump",
                {
                    "running": FieldSpec(FieldKind.BOOL, "", description="the pump runs"),
                    "mode": FieldSpec(
                        FieldKind.TEXT,
                        "",
                        description='"auto" or "manual"',
                        choices=("auto", "manual"),
                    ),
                    "fault": FieldSpec(FieldKind.BOOL, "", description="fault relay of the pump"),
                },
                {},
                supervision_s=600,
                fire_safety=True,
            ),
            _type(
                "sprinkler_flow",
                {"flow": FieldSpec(FieldKind.BOOL, "", description="water flows in the branch")},
                {},
                supervision_s=600,
                fire_safety=True,
                concern="fire",
            ),
            _type(
                "signal_valve",
                {"open": FieldSpec(FieldKind.BOOL, "", description="valve fully open")},
                {},
                supervision_s=600,
                fire_safety=True,
            ),
            _type(
                "fire_tank",
                {"level_pct": FieldSpec(N, "%", 0, 100, "water level of the full tank")},
                {},
                supervision_s=600,
                fire_safety=True,
            ),
            _type(
                "smoke_fan",
                {
                    "running": FieldSpec(FieldKind.BOOL, "", description="the fan runs"),
                    "fault": FieldSpec(FieldKind.BOOL, "", description="fault relay of the fan"),
                },
                {},
                supervision_s=600,
                fire_safety=True,
            ),
            _type(
                "fire_door",
                {"closed": FieldSpec(FieldKind.BOOL, "", description="door closed (true)")},
                {},
                supervision_s=600,
                fire_safety=True,
            ),
            _type(
                "emergency_light",
                {
                    "on_battery": FieldSpec(FieldKind.BOOL, "", description="mains lost"),
                    "fault": FieldSpec(FieldKind.BOOL, "", description="lamp or battery fault"),
                },
                {},
                supervision_s=600,
                fire_safety=True,
            ),
            # Zigbee sensors people already own (devices/zigbee.py maps them)
            _type(
                "water_leak",
                {
                    "water_leak": FieldSpec(FieldKind.BOOL, "", description="water detected"),
                    "temperature_c": FieldSpec(N, "°C", -40, 125, "air temperature"),
                },
                {
                    "leak": EventSpec("water on the floor"),
                    "leak_clear": EventSpec("dry again"),
                },
                supervision_s=7200,
            ),
            _type(
                "motion_sensor",
                {
                    "occupancy": FieldSpec(FieldKind.BOOL, "", description="someone moving"),
                    "illuminance_lux": FieldSpec(N, "lx", 0, 200_000, "illuminance"),
                },
                {},
                supervision_s=7200,
                activity_fields={"occupancy": "true"},
            ),
            _type(
                "vibration_sensor",
                {
                    "strength": FieldSpec(N, "level", 0, 10_000, "vibration strength"),
                    "angle_deg": FieldSpec(N, "°", -180, 180, "tilt angle"),
                },
                {
                    "vibration": EventSpec("shaken"),
                    "tilt": EventSpec("tilted"),
                    "drop": EventSpec("dropped or knocked over"),
                },
                supervision_s=7200,
            ),
            # --- the home-bed kit (docs/home-beds.md) -----------------------------------
            _type(  # 一键通: the one-touch terminal of the home call network
                "home_terminal",
                {},
                {
                    "press": EventSpec("emergency call: the resident asks for help"),
                    "cancel": EventSpec("the resident cancels the call at the terminal"),
                    "callback": EventSpec("the resident asks the call centre to call back"),
                    "checkin": EventSpec("the day's check-in: \"I'm OK\""),
                },
                supervision_s=3600,
                concern="health",
                activity_events=("press", "cancel", "callback", "checkin"),
            ),
            _type(
                "gas_detector",
                {
                    "gas": FieldSpec(FieldKind.BOOL, "", description="combustible gas detected"),
                    "gas_density": FieldSpec(N, "%LEL", 0, 100, "gas concentration"),
                },
                {"test": EventSpec("self-test pressed")},
                supervision_s=3600,
            ),
            _type(
                "door_contact",
                {"contact": FieldSpec(FieldKind.BOOL, "", description="door closed (true)")},
                {},
                supervision_s=7200,
                activity_fields={"contact": "change"},
            ),
            _type(
                "bed_presence",
                {"presence": FieldSpec(FieldKind.BOOL, "", description="someone in bed")},
                {},
                supervision_s=7200,
                activity_fields={"presence": "change"},
            ),
            # --- fire patrols (docs/fire-duty.md, ## Rounds) ---------------------------
            _type(  # a fixed or handheld reader of the checkpoints' NFC/RFID tags
                "tag_reader",
                {},
                {
                    "scan": EventSpec(
                        "a checkpoint's tag read on a round: attributes tag, staff, problem",
                        choices={"problem": tuple(CHECKLIST_ITEMS)},
                        # a scan without its tag checks nothing in: refused at the door
                        texts={"tag": 64, "staff": 32},
                        required=("tag",),
                    ),
                },
                supervision_s=3600,  # a heartbeat (battery_pct) at least hourly
            ),
        )
    }
)

# the automatic fire installations (issue 17; docs/fire-duty.md, "Fire equipment"): one list
# for the rules, the simulator and anything else that treats them as a family
FIRE_INSTALLATIONS: tuple[str, ...] = (
    "fire_panel",
    "fire_pump",
    "sprinkler_flow",
    "signal_valve",
    "fire_tank",
    "smoke_fan",
    "fire_door",
    "emergency_light",
)


def validate_table(table: Mapping[str, DeviceType]) -> list[str]:
    """Every problem in the device-type table, as sentences; empty when it is sound."""
    problems: list[str] = []
    named = load_catalog().keys()
    for key, t in table.items():
        if key != t.name:
            problems.append(f"{key}: entry is named {t.name!r}")
        if t.supervision_s <= 0:
            problems.append(f"{key}: supervision interval must be positive")
        if f"device_type.{key}" not in named:
            problems.append(f"{key}: the catalog does not name it (device_type.{key})")
        for fname, spec in t.fields.items():
            if spec.kind is FieldKind.NUMBER:
                if spec.min is None or spec.max is None:
                    problems.append(f"{key}.{fname}: numeric field needs a range")
                elif spec.min >= spec.max:
                    problems.append(f"{key}.{fname}: empty range {spec.min}..{spec.max}")
                if not spec.unit:
                    problems.append(f"{key}.{fname}: numeric field needs a unit")
            elif spec.min is not None or spec.max is not None:
                problems.append(f"{key}.{fname}: only numeric fields take a range")
        for ename, ev in t.events.items():
            # a state beside the report of it is fine (a pump's `fault` relay as a field,
            # the common `fault` event); anything else would be ambiguous in rules
            shared = t.fields.get(ename)
            if shared is not None and not (
                shared.kind is FieldKind.BOOL and ename in COMMON_EVENTS
            ):
                problems.append(f"{key}: {ename!r} is both a field and an event")
            for attr, (lo, hi) in ev.ranges.items():
                if lo >= hi:
                    problems.append(f"{key}.{ename}.{attr}: empty range")
            known = {*ev.choices, *ev.ranges, *ev.texts}
            for attr in ev.required:
                if attr not in known:
                    problems.append(
                        f"{key}.{ename}: required {attr!r} has no choices, range or length"
                    )
            for attr, longest in ev.texts.items():
                if longest <= 0:
                    problems.append(f"{key}.{ename}.{attr}: text length must be positive")
        for ename in t.activity_events:
            if ename not in t.events:
                problems.append(f"{key}: activity event {ename!r} is not an event of it")
        for fname, how in t.activity_fields.items():
            found = t.fields.get(fname)
            if found is None:
                problems.append(f"{key}: activity field {fname!r} is not a field of it")
            elif (how == "rise") != (found.kind is FieldKind.NUMBER):
                problems.append(f"{key}.{fname}: `rise` is for numbers, true/change for bools")
    return problems
