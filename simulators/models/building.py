"""Models of the building's equipment: the fire-water network in its jockey-pump cycle (a
slow leak-down, then a top-up), electrical panels on a load curve (meals in the kitchen,
mornings and evenings on the floors) whose cables warm with the square of the current,
and the room temperature a smoke detector reads."""

from __future__ import annotations

import math
from typing import Any

from simulators.models.base import Clocked


def _load_curve(kind: str, hour: float) -> float:
    """Amperes of a panel at an hour of the day."""

    def bump(center: float, width: float) -> float:
        d = min(abs(hour - center), 24 - abs(hour - center))
        return math.exp(-((d / width) ** 2))

    if kind == "kitchen":  # cooking before each meal
        return 8 + 38 * max(bump(6.8, 0.8), bump(11.0, 0.9), bump(17.0, 0.9))
    if kind == "main":
        return 40 + 60 * max(bump(7.5, 1.5), bump(12.0, 1.5), bump(19.0, 2.0))
    return 5 + 9 * max(bump(7.5, 1.2), bump(19.5, 1.8)) + 2 * bump(13.0, 2.0)


class BuildingModel(Clocked):
    """The water-pressure, electrical-panel and temperature part of DeviceModel."""

    pressure: float
    p_on: float
    p_off: float
    leak_per_s: float
    pumping: bool
    pump_failed: bool
    burst_per_s: float
    panel: str
    cable: float
    heat_target: float | None
    leak_ma: float
    room_temp: float
    fire_heat: float | None

    def _pressure(self, dt: float) -> float:
        """Jockey pump: a slow leak-down to the cut-in pressure, then a top-up; with the
        pump failed the leak (and a burst, if any) goes on."""
        if self.pump_failed:
            self.pressure -= (self.leak_per_s + self.burst_per_s) * dt
        elif self.pumping:
            self.pressure += 0.02 / 60 * dt
            if self.pressure >= self.p_off:
                self.pumping = False
        else:
            self.pressure -= self.leak_per_s * dt
            if self.pressure <= self.p_on:
                self.pumping = True
        self.pressure = max(0.02, self.pressure)
        return self.pressure + self.rng.gauss(0, 0.001)

    def _panel(self, dt: float, hour: float) -> dict[str, Any]:
        r = self.rng
        amps = _load_curve(self.panel, hour) * r.uniform(0.95, 1.05)
        peak = {"kitchen": 46.0, "main": 100.0, "floor": 14.0}[self.panel]
        target = 26 + 24 * (amps / peak) ** 2  # ~50 °C at the busiest hour
        tau = 1200.0
        if self.heat_target is not None:
            target, tau = max(target, self.heat_target), 120.0
        self.cable += (target - self.cable) * (1 - math.exp(-dt / tau))
        return {
            "residual_current_ma": round(60 + 130 * amps / peak + r.gauss(0, 6) + self.leak_ma),
            "cable_temp_c": round(self.cable + r.gauss(0, 0.2), 1),
            "current_a": round(amps, 1),
            "voltage_v": round(230 - 6 * amps / peak + r.gauss(0, 0.8)),
        }

    def _temperature(self, dt: float, hour: float) -> float:
        base = self.room_temp + 1.2 * math.sin(2 * math.pi * (hour - 9) / 24)
        if self.fire_heat is not None:
            self.room_temp += (self.fire_heat - self.room_temp) * (1 - math.exp(-dt / 90))
            base = self.room_temp
        return base + self.rng.gauss(0, 0.1)
