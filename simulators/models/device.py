"""One simulated device: its state, what it sends on its own schedule and what it sends
when a scenario's happening is played on it (docs/simulator.md)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from devices.registry import Device
from simulators.models.base import TELEMETRY_EVERY_S, ZIGBEE_EVERY_S, Out, actions_for
from simulators.models.fireequip import FIRE_TYPES, FireEquipModel
from simulators.models.homekit import KIT_TYPES, HomeKitModel
from simulators.models.patrol import Patrol
from simulators.models.wearable import Day, WearableModel
from simulators.models.zigbee import ZigbeeModel


@dataclass
class DeviceModel(WearableModel, ZigbeeModel, HomeKitModel, FireEquipModel):
    """Every family's state on one object, drawn from the device's seeded random source in
    a fixed order (the same seed gives the same home)."""

    device: Device
    rng: random.Random
    start_hour: float | None = None
    loss: float = 0.0  # share of periodic messages lost on the way (flaky links)
    battery: float = 0.0
    heart: float = 72.0
    pressure: float = 0.35
    next_at: float = 0.0
    seq: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    down_until: float | None = None  # link down until this simulated second
    patrol: Patrol | None = None  # a tag reader walking the site's rounds (models/patrol.py)

    def __post_init__(self) -> None:
        r = self.rng
        self.battery = r.uniform(55, 100)
        self.heart = r.uniform(62, 82)
        self.pressure = r.uniform(0.32, 0.42)
        # spread the first reports so 200 devices do not speak at the same instant
        self.next_at = r.uniform(0, min(5.0, self.every_s))
        self.day = Day.draw(r)
        self.hr_offset = r.uniform(-6, 6)
        self.steps = float(r.randint(0, 3000))
        self.worn = True
        self.zone = None
        self.hr_override = None  # (bpm, until)
        self.down_since = None  # lying on the floor since (simulated s)
        self.last_s = None
        # fire-water network: static pressure, jockey band, leak-down
        self.p_off = self.pressure
        self.p_on = self.pressure - 0.05
        self.leak_per_s = 0.05 / r.uniform(3600, 7200)
        self.pumping = False
        self.pump_failed = False
        self.burst_per_s = 0.0
        # electrical panel
        text = f"{self.device.room} {self.device.label or ''} {self.device.id}".lower()
        self.panel = (
            "kitchen"
            if "kitchen" in text
            else "main"
            if "main" in text or "b1" in text
            else "floor"
        )
        self.cable = 28.0
        self.heat_target = None
        self.leak_ma = 0.0
        self.room_temp = r.uniform(21.5, 24.0)
        self.fire_heat = None
        self.water = False
        self.smoke = False
        # home-bed kit
        self.door_open = False
        self.in_bed = None
        self.gas = False
        self.checked_day = None

    @property
    def every_s(self) -> float:
        if self.device.source == "zigbee2mqtt":
            return ZIGBEE_EVERY_S.get(
                self.device.type.name, TELEMETRY_EVERY_S[self.device.type.name]
            )
        return TELEMETRY_EVERY_S[self.device.type.name]

    @property
    def zigbee(self) -> bool:
        return self.device.source == "zigbee2mqtt"

    def link_down(self, at_s: float) -> bool:
        return self.down_until is not None and at_s < self.down_until

    # --- periodic messages -------------------------------------------------------------

    def periodic(self, ts_ms: int, at_s: float | None = None) -> list[Out]:
        """What the device sends on its own schedule (lost ones: none)."""
        if self.loss and self.rng.random() < self.loss:
            self._advance(ts_ms, at_s)
            return []
        if self.device.type.name in KIT_TYPES:
            return self.kit_periodic(ts_ms, at_s)
        if self.device.type.name in FIRE_TYPES:
            return self.fire_periodic(ts_ms, at_s)
        if self.zigbee:
            return [Out("zigbee", self.zigbee_state(ts_ms, at_s))]
        scans = self.patrol.scans(ts_ms) if self.patrol is not None else []
        return [Out("telemetry", self.telemetry(ts_ms, at_s)), *(Out("event", s) for s in scans)]

    def telemetry(self, ts_ms: int, at_s: float | None = None) -> dict[str, Any]:
        """The next telemetry payload; battery drains, vitals follow the resident's day."""
        dt, hour = self._advance(ts_ms, at_s)
        self.seq += 1
        kind = self.device.type.name
        drain = {"wearable": 0.3, "smoke_detector": 0.001, "call_button": 0.002}.get(kind, 0.0)
        self.battery = max(1.0, self.battery - drain * dt / 3600)
        body: dict[str, Any] = {"ts": ts_ms, "seq": self.seq}
        if kind == "wearable":
            body |= self._wearable(dt, hour, at_s if at_s is not None else ts_ms / 1000)
        elif kind == "water_pressure":
            body |= {"pressure_mpa": round(self._pressure(dt), 3)}
        elif kind == "electrical_monitor":
            body |= self._panel(dt, hour)
        elif kind == "smoke_detector":
            body |= {
                "temperature_c": round(self._temperature(dt, hour), 1),
                "battery_pct": round(self.battery),
            }
        elif kind == "call_button" and self.seq % 60:
            return {}  # a heartbeat: alive, nothing to store; the battery once an hour
        elif kind == "call_point":
            return {}
        else:
            body |= {"battery_pct": round(self.battery)}
        return body

    # --- scenario happenings ---------------------------------------------------------------

    def act(
        self, action: str, params: dict[str, Any], ts_ms: int, at_s: float | None = None
    ) -> list[Out]:
        """What the device sends when `action` happens to it (docs/simulator.md)."""
        if action not in actions_for(self.device):
            raise ValueError(
                f"{self.device.id} ({self.device.type.name}) cannot {action!r};"
                f" it can: {', '.join(actions_for(self.device))}"
            )
        now = at_s if at_s is not None else ts_ms / 1000
        if action == "link_down":
            self.down_until = now + float(params.get("for_s", 3600))
            if self.zigbee:
                return [Out("availability", {"state": "offline"}, True)]
            return [Out("status", {"online": False}, True)]  # what the broker's will says
        if action == "link_up":
            self.down_until = None
            if self.zigbee:
                return [Out("availability", {"state": "online"}, True)]
            return [Out("status", {"online": True}, True)]
        if action == "battery":
            self.battery = float(params.get("pct", 10))
            return self.periodic_now(ts_ms, at_s)
        if self.device.type.name in KIT_TYPES:
            return self.kit_act(action, ts_ms)
        if self.device.type.name in FIRE_TYPES:
            return self.fire_act(action, params, ts_ms)
        if self.zigbee:
            return self._zigbee_act(action, params, ts_ms, at_s)
        kind = self.device.type.name
        if (kind, action) == ("tag_reader", "scan"):  # a checkpoint's tag read on a round
            scan = {k: str(params[k]) for k in ("tag", "staff", "problem") if params.get(k)}
            return [Out("event", {"event": "scan", "ts": ts_ms, **scan})]
        event = {
            ("wearable", "fall_event"): "fall",
            ("wearable", "sos"): "sos",
            ("call_button", "press"): "press",
            ("call_button", "cancel"): "cancel",
            ("call_point", "press"): "pressed",
            ("smoke_detector", "smoke"): "smoke_alarm",
            ("smoke_detector", "clear"): "smoke_clear",
            ("smoke_detector", "test"): "test",
            ("smoke_detector", "fault"): "fault",
            ("electrical_monitor", "arc_fault"): "arc_fault",
            ("electrical_monitor", "overcurrent"): "overcurrent",
        }.get((kind, action))
        if event is not None:
            body: dict[str, Any] = {"event": event, "ts": ts_ms}
            if action == "fall_event":
                body["confidence"] = float(params.get("confidence", 0.93))
            if action == "press" and kind == "call_button" and "button" in params:
                body["button"] = params["button"]
            return [Out("event", body)]
        if action in ("fall", "activity"):
            return self._accel(str(params.get("kind", "fall_forward")), params, ts_ms, now)
        if action == "remove":
            self.worn = False
            return [
                Out("event", {"event": "removed", "ts": ts_ms}),
                *self.periodic_now(ts_ms, at_s),
            ]
        if action == "put_on":
            self.worn = True
            return [Out("event", {"event": "put_on", "ts": ts_ms}), *self.periodic_now(ts_ms, at_s)]
        if action == "heart_rate":
            self.hr_override = (
                float(params.get("bpm", 130)),
                now + float(params.get("for_s", 3600)),
            )
            self.heart = self.hr_override[0]
            return self.periodic_now(ts_ms, at_s)
        if action == "zone":
            self.zone = params.get("zone")
            return self.periodic_now(ts_ms, at_s)
        if action == "heat":
            self.fire_heat = float(params.get("target_c", 70))
            return []
        if action == "pump_fail":
            self.pump_failed = True
            self.burst_per_s = float(params.get("leak_mpa_per_min", 0.0)) / 60
            return []
        if action == "pump_restore":
            self.pump_failed, self.burst_per_s, self.pumping = False, 0.0, True
            return []
        if action == "overheat":
            self.heat_target = float(params.get("target_c", 90))
            return []
        if action == "cool":
            self.heat_target, self.leak_ma = None, 0.0
            return []
        if action == "leakage":
            self.leak_ma = float(params.get("ma", 350)) - 150
            return self.periodic_now(ts_ms, at_s)
        raise AssertionError(action)  # every action of ACTIONS is handled above

    def periodic_now(self, ts_ms: int, at_s: float | None) -> list[Out]:
        if self.device.type.name in FIRE_TYPES:
            return self.fire_periodic(ts_ms, at_s)
        if self.zigbee:
            return [Out("zigbee", self.zigbee_state(ts_ms, at_s))]
        return [Out("telemetry", self.telemetry(ts_ms, at_s))]
