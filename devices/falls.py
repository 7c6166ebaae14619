"""Server-side fall detection from raw acceleration (docs/protocol.md, "Raw acceleration").

A wearable that cannot detect falls itself streams windows of acceleration in its
telemetry (`accel`); this module finds falls in them with the three-stage threshold
method of the fall-detection literature (Bourke 2007, Kangas 2008):

1. free fall: the magnitude of acceleration drops below `free_fall_g`,
2. impact: within `impact_within_s` after that it peaks above `impact_g`,
3. stillness: after `settle_s`, the body lies still (the magnitude's standard deviation
   below `still_std_g`) for `still_s`, starting within `still_search_s`.

An optional fourth stage (`posture_change_deg`, off by default) asks the trunk to have
turned towards lying; it only makes sense for devices worn on the trunk and it misses falls
that end sitting, so it is a per-site choice. `detect` is pure; `FallWatch` joins the
consecutive windows of each device so a fall that straddles two messages is still seen,
and reports each fall once.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

MAX_SAMPLES = 2000
MAX_G = 64.0
MIN_HZ, MAX_HZ = 5.0, 400.0


class FallSettings(BaseModel):
    """Thresholds of the detector; the defaults are the literature's (DOMAIN.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    free_fall_g: float = Field(0.6, gt=0, lt=1, description="free fall: magnitude below this")
    impact_g: float = Field(2.5, gt=1, le=MAX_G, description="impact: magnitude above this")
    impact_within_s: float = Field(
        0.5, gt=0, le=2, description="the impact follows the free fall within this"
    )
    settle_s: float = Field(
        1.0, ge=0, le=5, description="after the impact, bouncing and rolling are ignored"
    )
    still_s: float = Field(2.0, gt=0, le=10, description="lying still this long")
    still_std_g: float = Field(
        0.1, gt=0, le=1, description="still: standard deviation of the magnitude below this"
    )
    still_search_s: float = Field(
        3.0, ge=0, le=10, description="the still period starts within this after settling"
    )
    posture_change_deg: float | None = Field(
        None,
        gt=0,
        lt=180,
        description="if set (trunk-worn devices), the device must have turned by this much"
        " between before the fall and lying still; needs 3-axis samples",
    )

    @property
    def context_s(self) -> float:
        """How much signal one fall needs, from before the free fall to the end of stillness."""
        return 2.0 + self.impact_within_s + self.settle_s + self.still_search_s + self.still_s


@dataclass(frozen=True, slots=True)
class AccelWindow:
    """Samples at a fixed rate; `xyz` is empty when only magnitudes were sent."""

    t0_ms: int
    hz: float
    mag: tuple[float, ...]
    xyz: tuple[tuple[float, float, float], ...] = ()

    def ts_of(self, index: int) -> int:
        """The time of sample `index` in epoch ms, from `t0_ms` and the rate, rounded to the
        millisecond."""
        return self.t0_ms + round(index * 1000 / self.hz)

    @property
    def end_ms(self) -> int:
        """Where the next sample would be."""
        return self.ts_of(len(self.mag))


@dataclass(frozen=True, slots=True)
class Fall:
    """A fall found in acceleration: the impact's time (epoch ms) and the magnitudes in g that made
    it one. The decoder turns it into a `fall` event."""

    ts_ms: int  # the impact
    impact_g: float
    free_fall_g: float
    still_std_g: float
    posture_change_deg: float | None


class AccelError(ValueError):
    """An `accel` object that does not follow the format; `reason` is a rejection reason."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _finite(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccelError("wrong_type", f"accel: {what} must be a number")
    v = float(value)
    if not math.isfinite(v):
        raise AccelError("not_finite", f"accel: {what} is not finite")
    if abs(v) > MAX_G:
        raise AccelError("out_of_range", f"accel: {what}={v:g} beyond ±{MAX_G:g} g")
    return v


def parse_accel(body: object, t0_ms: int) -> AccelWindow:
    """The `accel` object of a telemetry message; `t0_ms` is its first sample's time."""
    if not isinstance(body, dict):
        raise AccelError("wrong_type", "accel must be an object")
    unknown = set(body) - {"hz", "t0", "g", "mag"}
    if unknown:
        raise AccelError("wrong_type", f"accel: unknown key {sorted(unknown)[0]!r}")
    hz = body.get("hz")
    if hz is None:
        raise AccelError("missing_field", "accel needs 'hz'")
    if isinstance(hz, bool) or not isinstance(hz, int | float):
        raise AccelError("wrong_type", "accel: hz must be a number")
    rate = float(hz)
    if not MIN_HZ <= rate <= MAX_HZ:
        raise AccelError("out_of_range", f"accel: hz={rate:g} outside {MIN_HZ:g}..{MAX_HZ:g}")
    has_g, has_mag = "g" in body, "mag" in body
    if has_g == has_mag:
        raise AccelError("missing_field", "accel needs exactly one of 'g' and 'mag'")
    raw = body["g"] if has_g else body["mag"]
    if not isinstance(raw, list) or not raw:
        raise AccelError("wrong_type", "accel samples must be a non-empty list")
    if len(raw) > MAX_SAMPLES:
        raise AccelError("out_of_range", f"accel: more than {MAX_SAMPLES} samples")
    if has_mag:
        mag = tuple(_finite(v, "mag") for v in raw)
        if any(v < 0 for v in mag):
            raise AccelError("out_of_range", "accel: a magnitude is negative")
        return AccelWindow(t0_ms, rate, mag)
    xyz: list[tuple[float, float, float]] = []
    for sample in raw:
        if not isinstance(sample, list) or len(sample) != 3:
            raise AccelError("wrong_type", "accel: each g sample is [x, y, z]")
        x, y, z = (_finite(v, "g") for v in sample)
        xyz.append((x, y, z))
    return AccelWindow(
        t0_ms, rate, tuple(math.sqrt(x * x + y * y + z * z) for x, y, z in xyz), tuple(xyz)
    )


def _angle_deg(a: Sequence[float], b: Sequence[float]) -> float:
    na = math.sqrt(sum(v * v for v in a))
    nb = math.sqrt(sum(v * v for v in b))
    if na == 0 or nb == 0:
        return 0.0
    cos = sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def _mean_vec(xyz: Sequence[tuple[float, float, float]], lo: int, hi: int) -> tuple[float, ...]:
    n = max(1, hi - lo)
    return tuple(sum(s[k] for s in xyz[lo:hi]) / n for k in range(3))


def detect(window: AccelWindow, settings: FallSettings) -> list[Fall]:
    """Every fall in the window whose stillness lies inside it (pure)."""
    mag = window.mag
    n = len(mag)
    hz = window.hz
    within = max(1, round(settings.impact_within_s * hz))
    settle = round(settings.settle_s * hz)
    still = max(2, round(settings.still_s * hz))
    search = round(settings.still_search_s * hz)
    # prefix sums: the standard deviation of any stretch in O(1)
    s1 = [0.0]
    s2 = [0.0]
    for v in mag:
        s1.append(s1[-1] + v)
        s2.append(s2[-1] + v * v)

    def std(lo: int, hi: int) -> float:
        k = hi - lo
        mean = (s1[hi] - s1[lo]) / k
        return math.sqrt(max(0.0, (s2[hi] - s2[lo]) / k - mean * mean))

    falls: list[Fall] = []
    p = 1
    while p < n - 1:
        v = mag[p]
        if not (v > settings.impact_g and v >= mag[p - 1] and v >= mag[p + 1]):
            p += 1
            continue
        free_fall = min(mag[max(0, p - within) : p])
        if free_fall >= settings.free_fall_g:
            p += 1
            continue
        found: tuple[int, float] | None = None
        first = p + settle
        for start in range(first, min(first + search, n - still) + 1):
            sd = std(start, start + still)
            if sd < settings.still_std_g:
                found = (start, sd)
                break
        if found is None:
            p += 1
            continue
        start, sd = found
        turned: float | None = None
        if window.xyz:
            ff_start = max(0, p - within)
            before = _mean_vec(window.xyz, max(0, ff_start - round(hz)), max(1, ff_start))
            after = _mean_vec(window.xyz, start, start + still)
            turned = _angle_deg(before, after)
        if settings.posture_change_deg is not None and (
            turned is None or turned < settings.posture_change_deg
        ):
            p += 1
            continue
        falls.append(Fall(window.ts_of(p), round(v, 2), round(free_fall, 2), round(sd, 3), turned))
        p = start + still  # one fall per impact cluster and lying period
    return falls


@dataclass
class _Tail:
    window: AccelWindow
    reported: list[int]  # impact times of the falls reported lately


class FallWatch:
    """Per device: joins consecutive windows (gaps reset, overlaps are trimmed) and reports
    each fall once. Keeps only the last `context_s` seconds of each device."""

    def __init__(self, settings: FallSettings | None = None) -> None:
        self.settings = settings or FallSettings()
        self._tails: dict[Hashable, _Tail] = {}

    def forget(self, key: Hashable) -> None:
        """The device was taken off: a drop of a pendant lying on a table is not a fall."""
        self._tails.pop(key, None)

    def feed(self, key: Hashable, window: AccelWindow) -> list[Fall]:
        """The falls found in this window (joined to the device's previous one), each once."""
        tail = self._tails.get(key)
        period_ms = 1000 / window.hz
        joined = window
        keep = True
        if tail is not None and tail.window.hz == window.hz:
            prev = tail.window
            gap = window.t0_ms - prev.end_ms
            if abs(gap) <= 1.5 * period_ms:
                joined = _join(prev, window, 0)
            elif window.t0_ms > prev.t0_ms and gap < 0:
                # overlapping windows: keep the new samples only
                skip = math.ceil((prev.end_ms - window.t0_ms) / period_ms - 0.5)
                joined = _join(prev, window, skip)
            elif gap < 0:
                keep = False  # an old window again (redelivery): look at it on its own
        reported = tail.reported if tail else []
        # a fall found again in the joined signal is one already reported: another one can
        # only come after the previous one's settling and stillness
        gap_ms = 1000 * (self.settings.settle_s + self.settings.still_s)
        found = [
            f
            for f in detect(joined, self.settings)
            if all(abs(f.ts_ms - r) > gap_ms for r in reported)
        ][:1]  # a message becomes one event: a second fall is found with the next window
        reported = (reported + [f.ts_ms for f in found])[-8:]
        if keep:
            self._tails[key] = _Tail(_trim(joined, self.settings.context_s), reported)
        elif tail is not None:
            tail.reported = reported
        return found


def _join(a: AccelWindow, b: AccelWindow, skip: int) -> AccelWindow:
    if skip >= len(b.mag):
        return a
    xyz = a.xyz + b.xyz[skip:] if a.xyz and b.xyz else ()
    return AccelWindow(a.t0_ms, a.hz, a.mag + b.mag[skip:], xyz)


def _trim(w: AccelWindow, seconds: float) -> AccelWindow:
    keep = math.ceil(seconds * w.hz)
    drop = len(w.mag) - keep
    if drop <= 0:
        return w
    return AccelWindow(w.ts_of(drop), w.hz, w.mag[drop:], w.xyz[drop:] if w.xyz else ())
