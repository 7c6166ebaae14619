"""The home-bed kit (docs/home-beds.md) as a resident living alone uses it: the entrance
door opened and closed again now and then by day, the bed slept in at night and for a nap,
the one-touch terminal's heartbeat and a morning "I'm OK", a gas detector that stays quiet
until a scenario says otherwise. Native devices speak CareWatch payloads, Zigbee ones
Zigbee2MQTT's (aqara_contact, aqara_gas / heiman_gas, tuya_bed_presence)."""

from __future__ import annotations

from typing import Any

from simulators.models.base import Clocked, Out

KIT_TYPES = frozenset({"home_terminal", "gas_detector", "door_contact", "bed_presence"})


class HomeKitModel(Clocked):
    """The kit part of DeviceModel; state set by DeviceModel.__post_init__."""

    door_open: bool
    in_bed: bool | None
    gas: bool
    checked_day: int | None

    def _day(self, ts_ms: int, at_s: float | None) -> int:
        if self.start_hour is None or at_s is None:
            return int(ts_ms // 86_400_000)
        return int((self.start_hour * 3600 + at_s) // 86400)

    def _kit_body(self, battery: int) -> dict[str, Any]:
        """The device's state as its contract says it (Zigbee2MQTT or CareWatch)."""
        kind = self.device.type.name
        zigbee = self.device.source == "zigbee2mqtt"
        if kind == "door_contact":
            if zigbee:
                return {"contact": not self.door_open, "battery": battery, "voltage": 3005}
            return {"contact": not self.door_open, "battery_pct": battery}
        if kind == "bed_presence":
            if zigbee:
                return {"occupancy": bool(self.in_bed), "battery": battery}
            return {"presence": bool(self.in_bed), "battery_pct": battery}
        if kind == "gas_detector":
            return {"gas": self.gas} if zigbee else {"gas": self.gas, "gas_density": 0}
        return {"battery_pct": battery}

    def _kit_out(self, body: dict[str, Any], ts_ms: int) -> Out:
        if self.device.source == "zigbee2mqtt":
            return Out("zigbee", {**body, "linkquality": self.rng.randint(40, 160)})
        self.seq += 1
        return Out("telemetry", {"ts": ts_ms, "seq": self.seq, **body})

    def kit_periodic(self, ts_ms: int, at_s: float | None) -> list[Out]:
        """The kit's own reports: a resident's day in doors, bed and check-ins."""
        dt, hour = self._advance(ts_ms, at_s)
        r = self.rng
        self.battery = max(1.0, self.battery - 0.002 * dt / 3600)
        battery = round(self.battery)
        kind = self.device.type.name
        if kind == "home_terminal":
            day = self._day(ts_ms, at_s)
            if 7 <= hour < 9 and self.checked_day != day and r.random() < 0.2:
                self.checked_day = day  # the morning's "I'm OK"
                return [Out("event", {"event": "checkin", "ts": ts_ms})]
            self.seq += 1
            return [Out("telemetry", {} if self.seq % 60 else {"battery_pct": battery})]
        if kind == "bed_presence":
            self.in_bed = hour >= 22 or hour < 7 or 13 <= hour < 14  # night and a nap
        if kind == "door_contact" and 7 <= hour < 21 and r.random() < 0.08:
            # out and back in between two samples: opened, then closed again
            self.door_open = True
            opened = self._kit_out(self._kit_body(battery), ts_ms)
            self.door_open = False
            return [opened, self._kit_out(self._kit_body(battery), ts_ms + 1)]
        return [self._kit_out(self._kit_body(battery), ts_ms)]

    def kit_act(self, action: str, ts_ms: int) -> list[Out]:
        """A scenario's happening on a kit device (docs/simulator.md)."""
        if self.device.type.name == "home_terminal":  # press, cancel, callback, checkin
            return [Out("event", {"event": action, "ts": ts_ms})]
        if action in ("gas", "gas_clear"):
            self.gas = action == "gas"
        elif action in ("open", "close"):
            self.door_open = action == "open"
        elif action in ("in_bed", "out_of_bed"):
            self.in_bed = action == "in_bed"
        else:
            raise AssertionError(action)  # every kit action of ACTIONS is handled above
        return [self._kit_out(self._kit_body(round(self.battery)), ts_ms)]
