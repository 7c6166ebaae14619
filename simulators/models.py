"""What each simulated device says, as pure functions of time and a seeded random source."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from devices.registry import Device

TELEMETRY_EVERY_S = {
    "call_button": 60.0,
    "call_point": 300.0,
    "wearable": 5.0,
    "smoke_detector": 30.0,
    "water_pressure": 5.0,
    "electrical_monitor": 5.0,
}


@dataclass
class DeviceModel:
    device: Device
    rng: random.Random
    battery: float = 0.0
    heart: float = 72.0
    pressure: float = 0.35
    next_at: float = 0.0
    seq: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.battery = self.rng.uniform(55, 100)
        self.heart = self.rng.uniform(62, 82)
        self.pressure = self.rng.uniform(0.32, 0.42)
        # spread the first reports so 200 devices do not speak at the same instant
        self.next_at = self.rng.uniform(0, min(5.0, self.every_s))

    @property
    def every_s(self) -> float:
        return TELEMETRY_EVERY_S[self.device.type.name]

    def telemetry(self, ts_ms: int) -> dict[str, Any]:
        """The next telemetry payload; battery drains, vitals wander within normal bounds."""
        self.seq += 1
        self.battery = max(1.0, self.battery - self.rng.uniform(0, 0.01))
        body: dict[str, Any] = {"ts": ts_ms, "seq": self.seq}
        kind = self.device.type.name
        if kind == "wearable":
            self.heart += self.rng.uniform(-2, 2) + (72 - self.heart) * 0.1
            body |= {
                "heart_rate_bpm": round(self.heart),
                "spo2_pct": self.rng.randint(95, 99),
                "worn": True,
                "battery_pct": round(self.battery),
            }
        elif kind == "water_pressure":
            # jockey pump: slow leak-down, then a top-up
            self.pressure -= self.rng.uniform(0.0, 0.004)
            if self.pressure < 0.30:
                self.pressure = self.rng.uniform(0.38, 0.42)
            body |= {"pressure_mpa": round(self.pressure, 3)}
        elif kind == "electrical_monitor":
            body |= {
                "residual_current_ma": round(self.rng.uniform(90, 190)),
                "cable_temp_c": round(self.rng.uniform(28, 38), 1),
                "current_a": round(self.rng.uniform(5, 25), 1),
                "voltage_v": round(self.rng.uniform(220, 232)),
            }
        elif kind == "smoke_detector":
            body |= {
                "temperature_c": round(self.rng.uniform(21, 25), 1),
                "battery_pct": round(self.battery),
            }
        else:
            body |= {"battery_pct": round(self.battery)}
        return body


@dataclass(frozen=True)
class Step:
    """At `at_s` seconds into the scenario, `device` publishes `payload` on `kind`."""

    at_s: float
    device: str
    kind: str
    payload: dict[str, Any]
    label: str = ""


def scenario(name: str) -> list[Step]:
    """Built-in scenarios; device ids are those of examples/demo-site.yaml."""
    scenarios: dict[str, list[Step]] = {
        "fall": [
            Step(
                5,
                "w-204-1",
                "event",
                {"event": "fall", "confidence": 0.94},
                "resident in 204 falls",
            )
        ],
        "call": [
            Step(
                3,
                "cb-305-1",
                "event",
                {"event": "press", "button": "bathroom_cord"},
                "pull cord in 305 bathroom",
            )
        ],
        "smoke": [
            Step(2, "sd-305", "event", {"event": "smoke_alarm"}, "smoke in 305"),
            Step(40, "sd-306", "event", {"event": "smoke_alarm"}, "smoke in 306"),
        ],
        "pressure_drop": [
            Step(
                float(t),
                "p-1f-riser",
                "telemetry",
                {"pressure_mpa": round(max(0.02, 0.3 - t * 0.01), 3)},
                "pump fails, pressure decays",
            )
            for t in range(0, 90, 5)
        ],
        "none": [],
    }
    scenarios["demo"] = [
        *scenarios["fall"],
        Step(20, "cb-112-1", "event", {"event": "press", "button": "bed"}, "bed call in 112"),
    ]
    if name not in scenarios:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(sorted(scenarios))}")
    return scenarios[name]
