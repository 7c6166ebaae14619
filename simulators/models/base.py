"""What every simulated device shares: the message it sends, how often it reports, the
happenings it can play (`act`), and its clock (simulated seconds or the wall clock)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from devices.profiles import FIRE_INSTALLATIONS
from devices.registry import Device
from devices.zigbee import profile_for

TELEMETRY_EVERY_S = {
    "call_button": 60.0,
    "call_point": 300.0,
    "wearable": 5.0,
    "smoke_detector": 30.0,
    "water_pressure": 5.0,
    "electrical_monitor": 5.0,
    "water_leak": 3000.0,
    "motion_sensor": 300.0,
    "vibration_sensor": 3000.0,
    "home_terminal": 60.0,
    "gas_detector": 300.0,
    "door_contact": 300.0,
    "bed_presence": 300.0,
    # wired fire installations: their gateway or I/O module reports every minute
    **dict.fromkeys(FIRE_INSTALLATIONS, 60.0),
    "tag_reader": 180.0,  # a patrol's reader: its battery, and on a round the next tag read
}
ZIGBEE_EVERY_S = {
    "call_button": 4 * 3600.0,
    "smoke_detector": 3600.0,
    "gas_detector": 3000.0,  # Xiaomi/Aqara check in about every 50 min
    "door_contact": 600.0,  # reported on change; the simulation samples the door
    "bed_presence": 600.0,
    "fire_door": 600.0,  # a door contact reports on change; the simulation samples it
}

# what `act` understands, by device type (zigbee entries: by profile name); all: COMMON
COMMON_ACTIONS = ("link_down", "link_up", "battery")
ACTIONS: dict[str, tuple[str, ...]] = {
    "wearable": (
        "fall",
        "activity",
        "fall_event",
        "sos",
        "remove",
        "put_on",
        "heart_rate",
        "zone",
    ),
    "call_button": ("press", "cancel"),
    "home_terminal": ("press", "cancel", "callback", "checkin"),
    "gas_detector": ("gas", "gas_clear"),
    "door_contact": ("open", "close"),
    "bed_presence": ("in_bed", "out_of_bed"),
    "call_point": ("press",),
    "tag_reader": ("scan",),  # params: tag, staff, problem (docs/fire-duty.md)
    "smoke_detector": ("smoke", "clear", "test", "fault", "heat"),
    "water_pressure": ("pump_fail", "pump_restore"),
    "electrical_monitor": ("overheat", "cool", "leakage", "arc_fault", "overcurrent"),
    "fire_panel": (
        "fire",
        "fault",
        "fault_clear",
        "supervisory",
        "supervisory_clear",
        "disable",
        "enable",
        "reset",
    ),
    "fire_pump": ("start", "stop", "manual", "auto", "fault", "fault_clear"),
    "sprinkler_flow": ("flow", "flow_stop"),
    "signal_valve": ("close", "open"),
    "fire_tank": ("drain", "fill"),
    "smoke_fan": ("start", "stop", "fault", "fault_clear"),
    "fire_door": ("hold_open", "close"),
    "emergency_light": ("fault", "fault_clear", "mains_lost", "mains_back"),
    "zigbee:fire_door_contact": ("hold_open", "close"),
    "zigbee:sos_button": ("press",),
    "zigbee:smoke_detector": ("smoke", "clear", "test"),
    "zigbee:aqara_smoke_detector": ("smoke", "clear", "test"),
    "zigbee:water_leak": ("leak", "dry"),
    "zigbee:motion": ("motion",),
    "zigbee:vibration": ("drop", "tilt", "vibration"),
    "zigbee:aqara_presence": ("motion",),
    "zigbee:aqara_gas": ("gas", "gas_clear"),
    "zigbee:heiman_gas": ("gas", "gas_clear"),
    "zigbee:aqara_contact": ("open", "close"),
    "zigbee:tuya_bed_presence": ("in_bed", "out_of_bed"),
}


def actions_for(device: Device) -> tuple[str, ...]:
    """The scenario actions a device can play."""
    if device.source == "zigbee2mqtt":
        profile = profile_for(device.type.name, device.model)
        key = f"zigbee:{profile.name}" if profile else ""
    else:
        key = device.type.name
    return ACTIONS.get(key, ()) + COMMON_ACTIONS


@dataclass(frozen=True)
class Out:
    """One message: `kind` telemetry / event / status (CareWatch topics) or zigbee /
    availability (Zigbee2MQTT topics)."""

    kind: str
    payload: dict[str, Any]
    retain: bool = False


class Clocked:
    """The clock of a device model: the state it keeps is declared by DeviceModel (a
    dataclass); the family mixins read it through these annotations."""

    device: Device
    rng: random.Random
    start_hour: float | None
    battery: float
    seq: int
    last_s: float | None

    def hour(self, ts_ms: int, at_s: float | None) -> float:
        if self.start_hour is None or at_s is None:
            t = time.localtime(ts_ms / 1000)
            return t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600
        return (self.start_hour + at_s / 3600) % 24

    def _advance(self, ts_ms: int, at_s: float | None) -> tuple[float, float]:
        """Simulated seconds since the last call, and the hour of day."""
        now = at_s if at_s is not None else ts_ms / 1000
        dt = 0.0 if self.last_s is None else max(0.0, now - self.last_s)
        self.last_s = now
        return dt, self.hour(ts_ms, at_s)
