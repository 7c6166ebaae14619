"""The automatic fire installations (docs/fire-duty.md, "Fire equipment") as a quiet
building keeps them: pumps standing in automatic and still, signal valves open, the tank
full but for a little evaporation and refill, fans still, fire doors closed, emergency
lights on mains, the panel's gateway sending its heartbeat. Nothing raises an alert until a
scenario says so (docs/simulator.md lists the happenings).

Wired equipment speaks CareWatch payloads; a fire door may be a Zigbee door contact
(Zigbee2MQTT's `contact`, devices/zigbee.py `fire_door_contact`)."""

from __future__ import annotations

from typing import Any

from devices.profiles import FIRE_INSTALLATIONS
from simulators.models.base import Clocked, Out

FIRE_TYPES = frozenset(FIRE_INSTALLATIONS)
# action -> (state key, value) of the level devices
_LEVELS: dict[tuple[str, str], tuple[str, Any]] = {
    ("fire_pump", "start"): ("running", True),
    ("fire_pump", "stop"): ("running", False),
    ("fire_pump", "manual"): ("mode", "manual"),
    ("fire_pump", "auto"): ("mode", "auto"),
    ("fire_pump", "fault"): ("fault", True),
    ("fire_pump", "fault_clear"): ("fault", False),
    ("sprinkler_flow", "flow"): ("flow", True),
    ("sprinkler_flow", "flow_stop"): ("flow", False),
    ("signal_valve", "close"): ("open", False),
    ("signal_valve", "open"): ("open", True),
    ("smoke_fan", "start"): ("running", True),
    ("smoke_fan", "stop"): ("running", False),
    ("smoke_fan", "fault"): ("fault", True),
    ("smoke_fan", "fault_clear"): ("fault", False),
    ("fire_door", "hold_open"): ("closed", False),
    ("fire_door", "close"): ("closed", True),
    ("emergency_light", "fault"): ("fault", True),
    ("emergency_light", "fault_clear"): ("fault", False),
    ("emergency_light", "mains_lost"): ("on_battery", True),
    ("emergency_light", "mains_back"): ("on_battery", False),
}
_QUIET: dict[str, dict[str, Any]] = {
    "fire_pump": {"running": False, "mode": "auto", "fault": False},
    "sprinkler_flow": {"flow": False},
    "signal_valve": {"open": True},
    "fire_tank": {"level_pct": 98.0},
    "smoke_fan": {"running": False, "fault": False},
    "fire_door": {"closed": True},
    "emergency_light": {"on_battery": False, "fault": False},
}
PANEL_ATTRS = ("point", "zone", "floor", "room", "text")


class FireEquipModel(Clocked):
    """The fire-installation part of DeviceModel; its levels live in `state`."""

    state: dict[str, Any]

    def _fire_levels(self) -> dict[str, Any]:
        if not self.state:
            self.state.update(_QUIET.get(self.device.type.name, {}))
        return self.state

    def _fire_out(self, ts_ms: int) -> Out:
        levels = self._fire_levels()
        if self.device.source == "zigbee2mqtt":  # a door contact on a fire door
            body = {"contact": levels["closed"], "battery": round(self.battery)}
            return Out("zigbee", {**body, "voltage": 3005, "linkquality": 90})
        self.seq += 1
        body = {k: v for k, v in levels.items() if not k.startswith("_")}
        return Out("telemetry", {"ts": ts_ms, "seq": self.seq, **body})

    def fire_periodic(self, ts_ms: int, at_s: float | None) -> list[Out]:
        """The equipment's own reports: its levels (the panel: a heartbeat)."""
        dt, _ = self._advance(ts_ms, at_s)
        if self.device.type.name == "fire_panel":
            self.seq += 1
            return [Out("telemetry", {})]  # the gateway's heartbeat: alive, nothing to store
        if self.device.type.name == "fire_tank" and not self.state.get("_drained"):
            levels = self._fire_levels()  # evaporation, then the float valve tops it up
            level = levels["level_pct"] - 0.01 * dt / 60
            levels["level_pct"] = round(level if level >= 96.0 else 98.0, 2)
        self.battery = max(1.0, self.battery - 0.001 * dt / 3600)
        return [self._fire_out(ts_ms)]

    def fire_act(self, action: str, params: dict[str, Any], ts_ms: int) -> list[Out]:
        """A scenario's happening on fire equipment (docs/simulator.md)."""
        kind = self.device.type.name
        if kind == "fire_panel":
            body: dict[str, Any] = {"event": action, "ts": ts_ms}
            body |= {k: str(params[k]) for k in PANEL_ATTRS if params.get(k) is not None}
            if action != "reset":
                body.setdefault("point", "L1-001")
            return [Out("event", body)]
        levels = self._fire_levels()
        if kind == "fire_tank":
            levels["_drained"] = action == "drain"  # a leak or a valve left open
            levels["level_pct"] = float(params.get("to_pct", 60)) if action == "drain" else 98.0
            return [self._fire_out(ts_ms)]
        key, value = _LEVELS[(kind, action)]
        levels[key] = value
        return [self._fire_out(ts_ms)]
