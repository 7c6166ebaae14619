"""Synthetic 3-axis acceleration traces shaped like the public fall datasets.

SisFall, UP-Fall, MobiAct and FallAllD cannot be downloaded here, so the fall detector is
evaluated on traces built from the shapes those datasets show for a waist or chest
sensor: a dip of the magnitude while the body drops (0.1-0.6 g for falls), an impact
peak (about 3-6 g for falls, 1.5-3 g for sitting down hard), then lying still with
breathing and the odd small movement; walking at about 2 steps/s with ±0.2-0.35 g,
jogging at 2.6-3 strides/s with flight phases near 0.1-0.5 g and landings of 2.3-4 g, and
a device dropped from 0.7-1.5 m in true free fall (about 0 g) hitting the floor at
4-12 g. Everything comes from a seeded random source: the same seed gives the same set.

The body frame: `y` points up when the wearer stands, `z` out of the chest. Units: g.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

Vec = tuple[float, float, float]
UP: Vec = (0.0, 1.0, 0.0)
HZ = 50.0


@dataclass(frozen=True)
class Trace:
    kind: str  # the activity, e.g. "fall_forward", "sit_hard"
    fall: bool
    hz: float
    xyz: list[Vec]
    worn: bool = True  # False: the device was not on the body (dropped from the hand)

    @property
    def seconds(self) -> float:
        return len(self.xyz) / self.hz


def _lerp(a: Vec, b: Vec, t: float) -> Vec:
    v = tuple(x + (y - x) * t for x, y in zip(a, b, strict=True))
    n = math.sqrt(sum(c * c for c in v)) or 1.0
    return (v[0] / n, v[1] / n, v[2] / n)


def _tilt(angle_deg: float, toward: Vec) -> Vec:
    """UP turned by `angle_deg` towards the horizontal direction `toward`."""
    a = math.radians(angle_deg)
    return (
        toward[0] * math.sin(a),
        math.cos(a) + toward[1] * math.sin(a),
        toward[2] * math.sin(a),
    )


class _Builder:
    def __init__(self, rng: random.Random, hz: float = HZ) -> None:
        self.rng = rng
        self.hz = hz
        self.mag: list[float] = []
        self.dirs: list[Vec] = []
        self.dir: Vec = UP

    def n(self, seconds: float) -> int:
        return max(1, round(seconds * self.hz))

    def add(self, mags: list[float], to: Vec | None = None) -> None:
        start = self.dir
        end = to or start
        for i, m in enumerate(mags):
            self.mag.append(m)
            self.dirs.append(_lerp(start, end, (i + 1) / len(mags)))
        self.dir = end

    def still(self, seconds: float, noise: float, breathing: float = 0.0) -> None:
        r = self.rng
        k = self.n(seconds)
        phase = r.uniform(0, 6.3)
        self.add(
            [
                1.0
                + breathing * math.sin(phase + 2 * math.pi * 0.25 * i / self.hz)
                + r.gauss(0, noise)
                for i in range(k)
            ]
        )

    def walk(self, seconds: float, amp: float, cadence: float) -> None:
        r = self.rng
        phase = r.uniform(0, 6.3)
        self.add(
            [
                1.0
                + amp * math.sin(phase + 2 * math.pi * cadence * i / self.hz)
                + 0.4 * amp * math.sin(2 * phase + 4 * math.pi * cadence * i / self.hz)
                + r.gauss(0, 0.03)
                for i in range(self.n(seconds))
            ]
        )

    def dip(self, seconds: float, low: float, to: Vec | None = None) -> None:
        """The magnitude sinks from 1 g to `low` and stays there (the body drops)."""
        k = self.n(seconds)
        ramp = max(1, k // 3)
        mags = [
            low
            + (1 - low) * (0.5 + 0.5 * math.cos(math.pi * min(1.0, i / ramp)))
            + self.rng.gauss(0, 0.02)
            for i in range(k)
        ]
        self.add([max(0.0, m) for m in mags], to)

    def impact(self, peak: float, width_s: float, to: Vec | None = None, bounces: int = 1) -> None:
        r = self.rng
        w = max(2, self.n(width_s))
        mags = [1.0 + (peak - 1.0) * math.sin(math.pi * (i + 0.5) / w) for i in range(w)]
        for _ in range(bounces):
            b = r.uniform(1.2, max(1.3, min(2.2, peak * 0.5)))
            gap = self.n(r.uniform(0.06, 0.15))
            mags += [r.uniform(0.6, 1.1) for _ in range(gap)]
            bw = max(2, self.n(r.uniform(0.04, 0.08)))
            mags += [1.0 + (b - 1.0) * math.sin(math.pi * (i + 0.5) / bw) for i in range(bw)]
        self.add(mags, to)

    def lie(self, seconds: float, moves: int) -> None:
        """Lying: breathing, sensor noise, and `moves` short movements after the first 2 s."""
        r = self.rng
        k = self.n(seconds)
        phase = r.uniform(0, 6.3)
        breath = r.uniform(0.005, 0.02)
        mags = [
            1.0 + breath * math.sin(phase + 2 * math.pi * 0.25 * i / self.hz) + r.gauss(0, 0.01)
            for i in range(k)
        ]
        for _ in range(moves):
            at = r.randrange(self.n(2.0), max(self.n(2.0) + 1, k - self.n(0.6)))
            for i in range(at, min(k, at + self.n(r.uniform(0.3, 0.6)))):
                mags[i] += r.gauss(0, r.uniform(0.05, 0.15))
        self.add(mags)

    def trace(self, kind: str, fall: bool, worn: bool = True, noise: float = 0.01) -> Trace:
        r = self.rng
        xyz = [
            (
                m * d[0] + r.gauss(0, noise),
                m * d[1] + r.gauss(0, noise),
                m * d[2] + r.gauss(0, noise),
            )
            for m, d in zip(self.mag, self.dirs, strict=True)
        ]
        return Trace(
            kind, fall, self.hz, [(round(x, 3), round(y, 3), round(z, 3)) for x, y, z in xyz], worn
        )


def _before(b: _Builder) -> None:
    r = b.rng
    if r.random() < 0.5:
        b.still(r.uniform(2.0, 3.0), 0.015)
    else:
        b.walk(r.uniform(2.0, 3.0), r.uniform(0.2, 0.35), r.uniform(1.7, 2.1))


def _fall(rng: random.Random, kind: str, lying: Vec, peak: tuple[float, float]) -> Trace:
    b = _Builder(rng)
    _before(b)
    mid = _lerp(UP, lying, rng.uniform(0.2, 0.5))
    b.dip(rng.uniform(0.2, 0.45), rng.uniform(0.1, 0.55), mid)
    b.impact(rng.uniform(*peak), rng.uniform(0.06, 0.12), lying, bounces=rng.randint(1, 2))
    # rolling and bracing after the impact, then lying (the long lie the detector is for)
    b.add([1.0 + rng.gauss(0, rng.uniform(0.08, 0.2)) for _ in range(b.n(rng.uniform(0.3, 1.2)))])
    b.lie(rng.uniform(8.0, 10.0), rng.randint(0, 1))
    return b.trace(kind, True)


def fall_forward(rng: random.Random) -> Trace:
    return _fall(rng, "fall_forward", (0.0, 0.0, 1.0), (2.8, 6.5))


def fall_backward(rng: random.Random) -> Trace:
    return _fall(rng, "fall_backward", (0.0, 0.0, -1.0), (2.8, 6.5))


def fall_sideways(rng: random.Random) -> Trace:
    return _fall(rng, "fall_sideways", (rng.choice((1.0, -1.0)), 0.0, 0.0), (2.7, 5.5))


def fall_backward_sitting(rng: random.Random) -> Trace:
    """Falling backwards and ending up sitting on the floor against the bed or a wall."""
    return _fall(
        rng, "fall_backward_sitting", _tilt(rng.uniform(20, 45), (0.0, 0.0, -1.0)), (2.7, 4.5)
    )


def sit_hard(rng: random.Random) -> Trace:
    """Dropping onto a chair or the bed: a dip, a seat impact of 1.5-3.2 g, sitting still."""
    b = _Builder(rng)
    b.still(rng.uniform(2.0, 3.0), 0.015)
    b.dip(rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.8))
    seated = _tilt(rng.uniform(0, 25), (0.0, 0.0, -1.0))
    b.impact(rng.uniform(1.5, 3.2), rng.uniform(0.08, 0.16), seated)
    b.add([1.0 + rng.gauss(0, 0.05) for _ in range(b.n(rng.uniform(0.3, 0.8)))])
    b.still(rng.uniform(6.0, 8.0), 0.012, breathing=0.01)
    return b.trace("sit_hard", False)


def stumble(rng: random.Random) -> Trace:
    """A trip while walking, caught with a hard step; walking on, or a pause at the rail."""
    b = _Builder(rng)
    b.walk(rng.uniform(2.5, 3.5), rng.uniform(0.2, 0.35), rng.uniform(1.7, 2.1))
    b.dip(rng.uniform(0.15, 0.3), rng.uniform(0.35, 0.8), _tilt(rng.uniform(5, 20), (0, 0, 1)))
    b.impact(rng.uniform(1.8, 3.3), rng.uniform(0.06, 0.1), UP)
    if rng.random() < 0.25:
        b.still(rng.uniform(3.0, 5.0), 0.02)
    b.walk(rng.uniform(5.0, 7.0), rng.uniform(0.2, 0.35), rng.uniform(1.7, 2.1))
    return b.trace("stumble", False)


def jogging(rng: random.Random) -> Trace:
    """Jogging (staff, visitors, fit residents); sometimes slowing down to stand at the end."""
    b = _Builder(rng)
    b.still(rng.uniform(0.5, 1.0), 0.015)
    cadence = rng.uniform(2.6, 3.0)
    for _ in range(int(rng.uniform(8.0, 10.0) * cadence)):
        stride = 1 / cadence
        b.dip(stride * rng.uniform(0.35, 0.45), rng.uniform(0.1, 0.5))
        b.impact(rng.uniform(2.3, 4.0), stride * 0.2, bounces=0)
        b.add([1.0 + rng.gauss(0, 0.1) for _ in range(b.n(stride * rng.uniform(0.3, 0.4)))])
    if rng.random() < 0.4:
        b.walk(rng.uniform(1.5, 3.0), rng.uniform(0.25, 0.4), rng.uniform(1.8, 2.2))
        b.still(4.0, 0.015)
    return b.trace("jogging", False)


def walking(rng: random.Random) -> Trace:
    b = _Builder(rng)
    b.walk(rng.uniform(10.0, 12.0), rng.uniform(0.2, 0.35), rng.uniform(1.7, 2.1))
    return b.trace("walking", False)


def lie_down(rng: random.Random) -> Trace:
    """Sitting on the bed edge and lying down: slow, no impact."""
    b = _Builder(rng)
    b.still(2.0, 0.015)
    b.add([1.0 - 0.15 * math.sin(math.pi * i / 50) for i in range(50)], _tilt(10, (0, 0, -1)))
    b.add([1.0 + 0.2 * math.sin(math.pi * i / 75) for i in range(75)], (0.0, 0.0, -1.0))
    b.lie(6.0, 1)
    return b.trace("lie_down", False)


def drop_device(rng: random.Random) -> Trace:
    """The pendant slips from the hand (not worn) and hits the floor."""
    b = _Builder(rng)
    b.add([1.0 + rng.gauss(0, 0.08) for _ in range(b.n(rng.uniform(2.0, 3.0)))])
    height = rng.uniform(0.7, 1.5)
    spin: Vec = (rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1))
    b.dip(math.sqrt(2 * height / 9.81), rng.uniform(0.0, 0.05), _lerp(UP, spin, 0.5))
    b.impact(rng.uniform(4.0, 12.0), 0.04, spin, bounces=rng.randint(1, 3))
    b.still(8.0, 0.003)
    return b.trace("drop_device", False, worn=False, noise=0.004)


FALLS: dict[str, Callable[[random.Random], Trace]] = {
    "fall_forward": fall_forward,
    "fall_backward": fall_backward,
    "fall_sideways": fall_sideways,
    "fall_backward_sitting": fall_backward_sitting,
}
ACTIVITIES: dict[str, Callable[[random.Random], Trace]] = {
    "sit_hard": sit_hard,
    "stumble": stumble,
    "jogging": jogging,
    "walking": walking,
    "lie_down": lie_down,
    "drop_device": drop_device,
}
ALL = {**FALLS, **ACTIVITIES}


def synthetic_set(per_kind: int = 40, seed: int = 8) -> list[Trace]:
    """`per_kind` traces of every fall and every activity, the same for the same seed."""
    rng = random.Random(seed)
    return [make(random.Random(rng.random())) for make in ALL.values() for _ in range(per_kind)]


def trace(kind: str, seed: int = 1) -> Trace:
    """One trace of `kind` (a key of FALLS or ACTIVITIES), for the simulator's scenarios."""
    if kind not in ALL:
        raise ValueError(f"unknown activity {kind!r}; known: {', '.join(ALL)}")
    return ALL[kind](random.Random(seed))
