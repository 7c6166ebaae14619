"""Zigbee devices as Zigbee2MQTT speaks for them: the whole cached state in each message
(Tuya SOS buttons with null or text batteries, smoke, leak, motion and vibration sensors)."""

from __future__ import annotations

import math
from typing import Any

from simulators.models.base import Out
from simulators.models.building import BuildingModel


class ZigbeeModel(BuildingModel):
    """The Zigbee2MQTT part of DeviceModel (a leak sensor also reads the room temperature)."""

    smoke: bool
    water: bool

    def zigbee_state(self, ts_ms: int, at_s: float | None = None) -> dict[str, Any]:
        """A Zigbee2MQTT state message (the whole cached state, as Zigbee2MQTT sends it)."""
        dt, hour = self._advance(ts_ms, at_s)
        r = self.rng
        self.battery = max(1.0, self.battery - 0.002 * dt / 3600)
        lq = r.randint(40, 160)
        kind = self.device.type.name
        battery: Any = round(self.battery)
        if kind == "call_button":  # Tuya SOS buttons often send null or text
            battery = r.choice((None, battery, f"{battery:.2f}"))
            return {"battery": battery, "linkquality": lq}
        if kind == "smoke_detector":
            return {
                "smoke": self.smoke,
                "battery": battery,
                "battery_low": self.battery < 20,
                "linkquality": lq,
            }
        if kind == "water_leak":
            return {
                "water_leak": self.water,
                "battery": battery,
                "battery_low": self.battery < 20,
                "temperature": round(self._temperature(0, hour)),
                "voltage": 2800 + round(self.battery * 2.2),
                "linkquality": lq,
            }
        if kind == "motion_sensor":
            busy = 0.05 if hour < 6 or hour >= 22 else 0.7
            lux = max(0, round(400 * math.sin(math.pi * (hour - 6) / 14))) if 6 <= hour < 20 else 3
            return {
                "occupancy": r.random() < busy,
                "illuminance_lux": lux,
                "battery": battery,
                "linkquality": lq,
            }
        return {"battery": battery, "voltage": 2800 + round(self.battery * 2.2), "linkquality": lq}

    def _zigbee_act(
        self, action: str, params: dict[str, Any], ts_ms: int, at_s: float | None
    ) -> list[Out]:
        state = self.zigbee_state(ts_ms, at_s)
        if action == "press":
            press = {"action": str(params.get("action", "emergency")), **state}
            return [Out("zigbee", press), Out("zigbee", {"action": ""})]
        if action in ("smoke", "clear"):
            self.smoke = action == "smoke"
            return [Out("zigbee", {**state, "smoke": self.smoke})]
        if action == "test":
            return [
                Out("zigbee", {**state, "smoke": False, "test": True, "trouble": False}),
                Out("zigbee", {**state, "smoke": False, "test": False, "trouble": False}),
            ]
        if action in ("leak", "dry"):
            self.water = action == "leak"
            return [Out("zigbee", {**state, "water_leak": self.water})]
        if action == "motion":
            return [Out("zigbee", {**state, "occupancy": True})]
        strength = int(params.get("strength", self.rng.randint(5, 60)))
        angle = int(params.get("angle", self.rng.randint(0, 90)))
        return [Out("zigbee", {"action": action, "strength": strength, "angle": angle, **state})]
