"""Scenarios as YAML timelines, played by a SimulatedHome, checked against a running service.

A scenario file (docs/simulator.md) names happenings at simulated clock times ("03:10") or
offsets ("+90s"), and may state the alerts it expects: the runner plays it, then reads
`GET /api/alerts?state=all` of the service and reports, for each expectation, whether the
alert came and how long after its device's first step, so a scenario doubles as an
acceptance test. Several scenarios can play at once (one home, one timeline each).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, model_validator

from devices.ports import Clock
from devices.registry import Registry
from devices.yamlconf import StrictModel, parse_model
from simulators.accel import ALL as MOVEMENTS
from simulators.home import SimulatedHome
from simulators.models import Step, actions_for

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
_OFFSET = re.compile(r"^\+?(\d+(?:\.\d+)?)(s|m|h)?$")
SETTLE_S = 1.5  # after the last expectation, how long to look for alerts that must not come


class Publish(StrictModel):
    kind: Literal["telemetry", "event", "status", "zigbee", "availability"] = Field(
        description="CareWatch topic kind, or a Zigbee2MQTT state / availability message"
    )
    payload: dict[str, Any]


class Entry(StrictModel):
    model_config = ConfigDict(populate_by_name=True)  # `with_` or its YAML name `with`

    at: str | float = Field(
        description="simulated clock time (HH:MM[:SS]) or offset from the start (90, +90s, +2m)"
    )
    device: str = Field(description="device id in the site file")
    do: str | None = Field(None, description="a happening of the device (docs/simulator.md)")
    with_: dict[str, Any] = Field(
        default_factory=dict, alias="with", description="the happening's parameters"
    )
    publish: Publish | None = Field(None, description="a raw message instead of a happening")
    say: str = Field("", description="what happens, for the log and the report")

    @model_validator(mode="after")
    def _one(self) -> Entry:
        if (self.do is None) == (self.publish is None):
            raise ValueError("an entry needs exactly one of `do` and `publish`")
        if self.publish is not None and self.with_:
            raise ValueError("`with` goes with `do`")
        return self


class Expect(StrictModel):
    rule: str = Field(description="the alert's rule, e.g. fall")
    device: str | None = Field(
        None, description="the alert's device_id (a device, or e.g. floor:3); any if unset"
    )
    within_s: float = Field(
        30, gt=0, le=3600, description="wall-clock seconds after the device's first step"
    )
    absent: bool = Field(False, description="the alert must NOT be raised")
    severity: Literal["critical", "high", "medium", "low"] | None = None


class Scenario(StrictModel):
    name: str | None = Field(None, description="defaults to the file name")
    title: str = Field(min_length=1)
    site: str | None = Field(None, description="site file, relative to this file")
    start: str = Field("08:00", description="the simulated clock at the start, HH:MM")
    speed: float = Field(60, gt=0, le=3600, description="simulated seconds per real second")
    timeline: list[Entry] = Field(min_length=1)
    expect: list[Expect] = Field(default_factory=list)
    quiet: bool = Field(
        False, description="any other alert on the timeline's devices fails the scenario"
    )

    @model_validator(mode="after")
    def _times(self) -> Scenario:
        if not _CLOCK.match(self.start):
            raise ValueError(f"start {self.start!r} is not HH:MM")
        for e in self.timeline:
            offset(e.at, self.start)
        return self


def _clock_s(text: str) -> float:
    m = _CLOCK.match(text)
    if not m:
        raise ValueError(f"{text!r} is not HH:MM[:SS]")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)


def offset(at: str | float, start: str) -> float:
    """Simulated seconds from the start: a clock time later that day (or the next), or an
    offset: 90, "90", "+90s", "+2m", "+1h"."""
    if isinstance(at, int | float):
        if at < 0:
            raise ValueError(f"offset {at} is negative")
        return float(at)
    text = at.strip()
    if _CLOCK.match(text):
        return (_clock_s(text) - _clock_s(start)) % 86400
    m = _OFFSET.match(text)
    if not m:
        raise ValueError(f"at {at!r} is neither HH:MM nor an offset like +90s")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2) or "s"]


@dataclass(frozen=True)
class Loaded:
    scenario: Scenario
    path: Path | None

    @property
    def name(self) -> str:
        if self.scenario.name:
            return self.scenario.name
        return self.path.stem if self.path else "scenario"

    @property
    def site_file(self) -> Path | None:
        if self.scenario.site is None:
            return None
        base = self.path.parent if self.path else Path()
        return (base / self.scenario.site).resolve()

    @property
    def start_hour(self) -> float:
        return _clock_s(self.scenario.start) / 3600

    def steps(self) -> list[Step]:
        out = []
        for e in self.scenario.timeline:
            at = offset(e.at, self.scenario.start)
            label = f"{self.name}: {e.say or e.do or 'publish'}"
            if e.publish is not None:
                out.append(Step(at, e.device, e.publish.kind, dict(e.publish.payload), label))
            else:
                out.append(Step(at, e.device, "action", dict(e.with_), label, e.do))
        return out

    def devices(self) -> set[str]:
        return {e.device for e in self.scenario.timeline}


def load(path: Path) -> Loaded:
    """Read a scenario file; ConfigError names file, line and field of every problem."""
    return Loaded(parse_model(Scenario, path), path)


def problems(loaded: Loaded, registry: Registry) -> list[str]:
    """What in the scenario does not fit the site: unknown devices, actions, movements."""
    out: list[str] = []
    for i, e in enumerate(loaded.scenario.timeline):
        where = f"{loaded.name}: timeline.{i}"
        dev = registry.by_id(e.device)
        if dev is None:
            out.append(f"{where}: device {e.device!r} is not in site {registry.site.id}")
            continue
        if e.do is not None and e.do not in actions_for(dev):
            out.append(
                f"{where}: {e.device} ({dev.type.name}) cannot {e.do!r};"
                f" it can: {', '.join(actions_for(dev))}"
            )
        kind = e.with_.get("kind")
        if e.do in ("fall", "activity") and kind is not None and kind not in MOVEMENTS:
            out.append(f"{where}: unknown movement {kind!r}; known: {', '.join(MOVEMENTS)}")
        if e.publish is not None and e.publish.kind in ("zigbee", "availability"):
            if dev.source != "zigbee2mqtt":
                out.append(f"{where}: {e.device} is not a Zigbee2MQTT device")
        elif e.publish is not None and dev.source != "carewatch":
            out.append(f"{where}: {e.device} speaks Zigbee2MQTT: publish kind zigbee")
    return out


# --- checking ---------------------------------------------------------------------------


@dataclass
class Outcome:
    expect: Expect
    ok: bool
    detail: str
    latency_s: float | None = None


@dataclass
class Report:
    loaded: Loaded
    outcomes: list[Outcome] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)  # with `quiet`: alerts not expected
    errors: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.errors and not self.unexpected and all(o.ok for o in self.outcomes)

    def lines(self) -> list[str]:
        s = self.loaded.scenario
        out = [f"scenario {self.loaded.name}: {s.title}"]
        for o in self.outcomes:
            out.append(f"  {'ok  ' if o.ok else 'FAIL'}  {o.detail}")
        out += [f"  FAIL  unexpected: {u}" for u in self.unexpected]
        out += [f"  FAIL  step: {e}" for e in self.errors]
        out.append("  PASSED" if self.passed else "  FAILED")
        return out


def _ms(iso: str | None) -> int | None:
    return None if iso is None else int(datetime.fromisoformat(iso).timestamp() * 1000)


def _what(x: Expect) -> str:
    return f"{x.rule} on {x.device}" if x.device else x.rule


def _judge(x: Expect, alerts: Sequence[dict[str, Any]], ref_ms: int) -> Outcome:
    hits = []
    for a in alerts:
        if a["rule"] != x.rule or (x.device is not None and a["device_id"] != x.device):
            continue
        raised, last = _ms(a["raised_at"]), _ms(a["last_at"])
        at = raised if raised is not None and raised >= ref_ms - 500 else last
        if at is None or at < ref_ms - 500:
            continue  # from before this step
        hits.append((at, a))
    if x.absent:
        if hits:
            return Outcome(x, False, f"{_what(x)} raised, and must not be")
        return Outcome(x, True, f"no {_what(x)}")
    if not hits:
        return Outcome(x, False, f"{_what(x)} not raised within {x.within_s:g} s")
    at, a = min(hits, key=lambda h: h[0])
    latency = max(0.0, (at - ref_ms) / 1000)
    if x.severity is not None and a["severity"] != x.severity:
        return Outcome(x, False, f"{_what(x)} raised as {a['severity']}, not {x.severity}")
    if latency > x.within_s:
        return Outcome(x, False, f"{_what(x)} raised after {latency:.1f} s (> {x.within_s:g} s)")
    return Outcome(x, True, f"{_what(x)} after {latency:.1f} s (within {x.within_s:g} s)", latency)


class AlertSource:
    """Reads a running service's alerts (the runner's only view of it)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def alerts(self) -> list[dict[str, Any]]:
        r = httpx.get(
            f"{self._url}/api/alerts",
            params={"state": "all", "limit": 5000},
            headers=self._headers,
            timeout=10,
        )
        r.raise_for_status()
        result: list[dict[str, Any]] = r.json()
        return result


def judge(
    runs: Sequence[tuple[Loaded, list[int]]],
    alerts: Sequence[dict[str, Any]],
    start_ms: int,
) -> list[Report]:
    """Each scenario's expectations against the service's alerts; `runs` pairs a scenario
    with the wall-clock times its steps were played (-1: not played)."""
    reports = []
    for loaded, played in runs:
        r = Report(loaded)
        steps = loaded.scenario.timeline
        first: dict[str, int] = {}
        for e, t in zip(steps, played, strict=True):
            if t >= 0:
                first.setdefault(e.device, t)
        run_ref = min((t for t in played if t >= 0), default=start_ms)
        for x in loaded.scenario.expect:
            ref = first.get(x.device or "", run_ref)
            if x.absent:
                ref = start_ms
            r.outcomes.append(_judge(x, alerts, ref))
        if loaded.scenario.quiet:
            mine = loaded.devices()
            expected = {(x.rule, x.device) for x in loaded.scenario.expect if not x.absent}
            for a in alerts:
                last = _ms(a["last_at"]) or 0
                if a["device_id"] not in mine or last < start_ms - 500:
                    continue
                if (a["rule"], a["device_id"]) in expected or (a["rule"], None) in expected:
                    continue
                if any(o.expect.absent and o.expect.rule == a["rule"] for o in r.outcomes):
                    continue  # already a failed expectation
                r.unexpected.append(f"{a['rule']} on {a['device_id']}")
        reports.append(r)
    return reports


def run(
    scenarios: Sequence[Loaded],
    registry: Registry,
    mqtt_url: str,
    clock: Clock,
    *,
    speed: float | None = None,
    check: AlertSource | None = None,
    prefix: str = "carewatch/v1",
    background: bool = True,
    loss: float = 0.0,
    seed: int = 1,
    linger_s: float = 0.0,
    say: Callable[[str], None] = print,
) -> list[Report]:
    """Play the scenarios together (each from the start of the run) in one simulated home;
    with `check`, wait for every expected alert (or its deadline) and judge them."""
    bad = [p for s in scenarios for p in problems(s, registry)]
    if bad:
        raise ValueError("\n".join(bad))
    speed = speed or (scenarios[0].scenario.speed if scenarios else 1.0)
    tagged: list[tuple[int, Step]] = [(i, st) for i, s in enumerate(scenarios) for st in s.steps()]
    steps = [st for _, st in tagged]
    home = SimulatedHome(
        registry,
        mqtt_url,
        clock,
        steps,
        prefix,
        speed=speed,
        seed=seed,
        start_hour=scenarios[0].start_hour if scenarios else None,
        loss=loss,
        devices=None if background else set(),
    )
    last_at = max((st.at_s for st in steps), default=0.0)
    start_ms = clock.now_ms()
    home.start()
    say(
        f"playing {len(scenarios)} scenario(s), {len(steps)} steps over"
        f" {last_at / speed:.1f} s at {speed:g}x, {len(registry)} devices of {registry.site.id}"
    )
    reports: list[Report] = []
    try:
        deadline = time.monotonic() + last_at / speed + 30
        while not home.all_played() and time.monotonic() < deadline:
            time.sleep(0.05)
        n = len(home.played_ms)  # the home's thread appends a step, then its time
        played_at = dict(zip(map(id, home.done_steps[:n]), home.played_ms[:n], strict=True))
        runs = [
            (s, [played_at.get(id(st), -1) for k, st in tagged if k == i])
            for i, s in enumerate(scenarios)
        ]
        if check is not None:
            reports = _wait_and_judge(runs, check, start_ms, clock)
            for r in reports:
                r.errors += [e for e in home.errors if e.startswith(f"{r.loaded.name}:")]
        if linger_s:
            time.sleep(linger_s)
    finally:
        home.stop()
    say(f"published {home.published} messages")
    return reports


def _wait_and_judge(
    runs: list[tuple[Loaded, list[int]]],
    check: AlertSource,
    start_ms: int,
    clock: Clock,
) -> list[Report]:
    def ref_of(loaded: Loaded, played: list[int], x: Expect) -> int:
        times = [
            t
            for e, t in zip(loaded.scenario.timeline, played, strict=True)
            if t >= 0 and (x.device is None or e.device == x.device)
        ]
        return min(times, default=start_ms)

    until = max(
        (
            ref_of(s, p, x) + int(x.within_s * 1000)
            for s, p in runs
            for x in s.scenario.expect
            if not x.absent
        ),
        default=clock.now_ms(),
    )
    has_negative = any(
        s.scenario.quiet or any(x.absent for x in s.scenario.expect) for s, _ in runs
    )
    while True:
        reports = judge(runs, check.alerts(), start_ms)
        positives_ok = all(o.ok for r in reports for o in r.outcomes if not o.expect.absent)
        if positives_ok or clock.now_ms() > until:
            break
        time.sleep(0.25)
    if has_negative:
        time.sleep(SETTLE_S)  # give what must not come a chance to show itself
        reports = judge(runs, check.alerts(), start_ms)
    return reports
