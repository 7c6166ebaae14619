"""What each simulated device says, as pure functions of time and a seeded random source.

A resident's day (sleep, meals, walks, a nap) drives the wearable's heart rate, steps and
SpO2; batteries drain; the fire-water network sits in a jockey-pump cycle (a slow leak-down,
then a top-up); electrical panels follow a load curve (meals in the kitchen, mornings and
evenings on the floors) and their cables warm with the square of the current. Zigbee
devices speak Zigbee2MQTT's payloads. `act` plays a scenario's happenings (a fall, a pump
failure, an overheating cable...); docs/simulator.md lists them.

Time: `at_s` is simulated seconds since the start; `start_hour` is the simulated clock's
hour of day at that start (None: the wall clock of each timestamp).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from devices.registry import Device
from devices.zigbee import profile_for
from simulators.accel import ALL as ACCEL_KINDS
from simulators.accel import trace

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
}
ZIGBEE_EVERY_S = {"call_button": 4 * 3600.0, "smoke_detector": 3600.0}
ACCEL_WINDOW_S = 2.0  # raw acceleration goes in windows of 2 s (50 Hz: ~2 KB each)
HR_TARGET = {"sleep": 56.0, "nap": 62.0, "rest": 70.0, "meal": 76.0, "walk": 95.0, "down": 92.0}
STEPS_PER_MIN = {"sleep": 0.0, "nap": 0.0, "rest": 3.0, "meal": 2.0, "walk": 90.0, "down": 0.0}

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
    "call_point": ("press",),
    "smoke_detector": ("smoke", "clear", "test", "fault", "heat"),
    "water_pressure": ("pump_fail", "pump_restore"),
    "electrical_monitor": ("overheat", "cool", "leakage", "arc_fault", "overcurrent"),
    "zigbee:sos_button": ("press",),
    "zigbee:smoke_detector": ("smoke", "clear", "test"),
    "zigbee:aqara_smoke_detector": ("smoke", "clear", "test"),
    "zigbee:water_leak": ("leak", "dry"),
    "zigbee:motion": ("motion",),
    "zigbee:vibration": ("drop", "tilt", "vibration"),
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


@dataclass
class DeviceModel:
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
        self.zone: str | None = None
        self.hr_override: tuple[float, float] | None = None  # (bpm, until)
        self.down_since: float | None = None  # lying on the floor since (simulated s)
        self.last_s: float | None = None
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
        self.heat_target: float | None = None
        self.leak_ma = 0.0
        self.room_temp = r.uniform(21.5, 24.0)
        self.fire_heat: float | None = None
        self.water = False
        self.smoke = False

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

    # --- time -----------------------------------------------------------------------

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

    # --- periodic messages -------------------------------------------------------------

    def periodic(self, ts_ms: int, at_s: float | None = None) -> list[Out]:
        """What the device sends on its own schedule (lost ones: none)."""
        if self.loss and self.rng.random() < self.loss:
            self._advance(ts_ms, at_s)
            return []
        if self.zigbee:
            return [Out("zigbee", self.zigbee_state(ts_ms, at_s))]
        return [Out("telemetry", self.telemetry(ts_ms, at_s))]

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
        if self.zigbee:
            return self._zigbee_act(action, params, ts_ms, at_s)
        kind = self.device.type.name
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
        if self.zigbee:
            return [Out("zigbee", self.zigbee_state(ts_ms, at_s))]
        return [Out("telemetry", self.telemetry(ts_ms, at_s))]

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
