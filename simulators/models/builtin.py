"""The built-in scenarios (`carewatch demo --scenario`): timed messages or happenings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Step:
    """At `at_s` seconds into the scenario, `device` publishes `payload` on `kind`; or, with
    `action`, the device's model plays that happening with `payload` as its parameters."""

    at_s: float
    device: str
    kind: str
    payload: dict[str, Any]
    label: str = ""
    action: str | None = None


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
