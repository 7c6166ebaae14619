"""The wearable pendant's model: a resident's day (sleep, meals, walks, a nap) drives heart
rate, steps and SpO2; falls and other movements go out as raw acceleration windows."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from simulators.accel import ALL as ACCEL_KINDS
from simulators.accel import trace
from simulators.models.base import Clocked, Out

ACCEL_WINDOW_S = 2.0  # raw acceleration goes in windows of 2 s (50 Hz: ~2 KB each)
HR_TARGET = {"sleep": 56.0, "nap": 62.0, "rest": 70.0, "meal": 76.0, "walk": 95.0, "down": 92.0}
STEPS_PER_MIN = {"sleep": 0.0, "nap": 0.0, "rest": 3.0, "meal": 2.0, "walk": 90.0, "down": 0.0}


@dataclass
class Day:
    """One resident's day, in hours of the clock."""

    wake: float
    sleep: float
    meals: list[tuple[float, float]]
    walks: list[tuple[float, float]]
    nap: tuple[float, float] | None

    @classmethod
    def draw(cls, rng: random.Random) -> Day:
        def span(at: float, jitter: float, minutes: tuple[float, float]) -> tuple[float, float]:
            start = at + rng.uniform(-jitter, jitter)
            return start, start + rng.uniform(*minutes) / 60

        return cls(
            wake=rng.uniform(6.0, 7.0),
            sleep=rng.uniform(21.0, 22.5),
            meals=[
                span(7.5, 0.25, (30, 45)),
                span(11.5, 0.25, (35, 50)),
                span(17.5, 0.25, (30, 45)),
            ],
            walks=[span(10.0, 0.5, (20, 40)), span(15.5, 0.5, (15, 35))],
            nap=span(13.2, 0.3, (40, 80)) if rng.random() < 0.7 else None,
        )

    def activity(self, hour: float) -> str:
        if hour < self.wake or hour >= self.sleep:
            return "sleep"
        for kind, spans in (("meal", self.meals), ("walk", self.walks)):
            if any(a <= hour < b for a, b in spans):
                return kind
        if self.nap and self.nap[0] <= hour < self.nap[1]:
            return "nap"
        return "rest"


class WearableModel(Clocked):
    """The wearable's part of DeviceModel."""

    day: Day
    heart: float
    hr_offset: float
    hr_override: tuple[float, float] | None
    steps: float
    worn: bool
    zone: str | None
    down_since: float | None

    def _wearable(self, dt: float, hour: float, now: float) -> dict[str, Any]:
        r = self.rng
        activity = "down" if self.down_since is not None else self.day.activity(hour)
        if self.down_since is not None and now - self.down_since > 1800:
            self.down_since = None  # helped up
        target = HR_TARGET[activity] + self.hr_offset
        if self.hr_override and now < self.hr_override[1]:
            target = self.hr_override[0]
        pull = 1 - math.exp(-dt / 60) if dt else 0.2
        self.heart += (target - self.heart) * pull + r.gauss(0, 1.2)
        if not self.hr_override or now >= self.hr_override[1]:
            self.heart = min(115.0, max(46.0, self.heart))
        self.steps += STEPS_PER_MIN[activity] * dt / 60 * r.uniform(0.8, 1.2)
        spo2 = r.randint(93, 97) if activity == "sleep" else r.randint(95, 99)
        body: dict[str, Any] = {
            "heart_rate_bpm": round(self.heart),
            "spo2_pct": spo2,
            "worn": self.worn,
            "battery_pct": round(self.battery),
            "steps": int(self.steps),
        }
        if self.zone is not None:
            body["zone"] = self.zone
        return body

    def _accel(self, kind: str, params: dict[str, Any], ts_ms: int, now: float) -> list[Out]:
        """A recorded movement (simulators/accel.py) as 2 s telemetry windows that end now."""
        if kind not in ACCEL_KINDS:
            raise ValueError(f"unknown movement {kind!r}; known: {', '.join(ACCEL_KINDS)}")
        t = trace(kind, int(params.get("seed", 1)))
        per = round(ACCEL_WINDOW_S * t.hz)
        start_ms = ts_ms - round(t.seconds * 1000)
        worn = t.worn
        outs = []
        for i in range(0, len(t.xyz), per):
            t0 = start_ms + round(i * 1000 / t.hz)
            chunk = [[round(v, 2) for v in s] for s in t.xyz[i : i + per]]
            self.seq += 1
            outs.append(
                Out(
                    "telemetry",
                    {
                        "ts": t0 + round(len(chunk) * 1000 / t.hz),
                        "seq": self.seq,
                        "worn": worn,
                        "heart_rate_bpm": round(self.heart),
                        "accel": {"hz": t.hz, "t0": t0, "g": chunk},
                    },
                )
            )
        if t.fall:
            self.down_since = now
        return outs
