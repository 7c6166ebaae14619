"""Scenarios as YAML timelines: the file format, its times, and its fit to a site.

A scenario file (docs/simulator.md) names happenings at simulated clock times ("03:10") or
offsets ("+90s"): a device's happening, an operator's action on an alert (acknowledge,
record an outcome or a contact attempt, resolve), a step on the hazard register, or only a
mark on the timeline. It may state the alerts it expects, with the escalation steps each
must (or must not) climb, and the hazard register's end state, so a scenario doubles as an
acceptance test: simulators/play.py plays it against a running
service and simulators/judge.py judges what the service did. A scenario on the `site_clock`
runs on the site's own local time (the service and the simulator under one shifted clock,
e.g. libfaketime), so rules of the time of day see the hour the scenario names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from devices.registry import Registry
from devices.yamlconf import StrictModel, parse_model
from simulators.accel import ALL as MOVEMENTS
from simulators.models import Step, actions_for

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")
_OFFSET = re.compile(r"^\+?(\d+(?:\.\d+)?)(s|m|h)?$")
# what an operator can do to an alert from a scenario: POST /api/alerts/{id}/<action>
OPERATOR_ACTIONS = ("ack", "resolve", "outcome", "contact")
# a step on the newest hazard of the register: POST /api/hazards/{id}/<step> (docs/fire-duty.md)
HAZARD_STEPS = ("start", "fix", "close", "reopen")
STATES = ("active_unack", "active_ack", "cleared_unack", "closed", "shelved")


class Publish(StrictModel):
    kind: Literal["telemetry", "event", "status", "zigbee", "availability"] = Field(
        description="CareWatch topic kind, or a Zigbee2MQTT state / availability message"
    )
    payload: dict[str, Any]


class Entry(StrictModel):
    """One line of the timeline: a device's happening (`device` with `do` or `publish`), an
    operator's action on an alert (`operator` with the alert's `rule`), a step on the newest
    hazard (`hazard`, by a staff id: simulators/hazard_play.py), or a mark (only `say`: the
    run lasts until then)."""

    model_config = ConfigDict(populate_by_name=True)  # `with_` or its YAML name `with`

    at: str | float = Field(
        description="simulated clock time (HH:MM[:SS]) or offset from the start (90, +90s, +2m)"
    )
    device: str | None = Field(
        None, description="device id in the site file (with `operator`: the alert's device)"
    )
    do: str | None = Field(None, description="a happening of the device (docs/simulator.md)")
    with_: dict[str, Any] = Field(
        default_factory=dict,
        alias="with",
        description="the happening's parameters, or the operator action's body",
    )
    publish: Publish | None = Field(None, description="a raw message instead of a happening")
    operator: Literal["ack", "resolve", "outcome", "contact"] | None = Field(
        None, description="an operator's action on the newest open alert of `rule`"
    )
    rule: str | None = Field(None, description="with `operator`: the alert's rule")
    hazard: Literal["start", "fix", "close", "reopen"] | None = Field(
        None, description="a step on the newest hazard of the site, by `by` (a staff id)"
    )
    refused: bool = Field(
        False, description="with `hazard`: the step must be refused (409), e.g. the fixer's close"
    )
    by: str = Field("op-scenario", min_length=1, max_length=64, description="the operator's id")
    say: str = Field("", description="what happens, for the log and the report")

    @model_validator(mode="after")
    def _one(self) -> Entry:
        if self.hazard is not None:
            if any(x is not None for x in (self.device, self.do, self.publish, self.operator,
                                           self.rule)):  # fmt: skip
                raise ValueError(
                    "a hazard step has no `device`, `do`, `publish`, `operator`, `rule`"
                )
            if set(self.with_) - {"note"}:
                raise ValueError("a hazard step's `with` takes only `note`")
            return self
        if self.refused:
            raise ValueError("`refused` goes with `hazard`")
        if self.operator is not None:
            if self.do is not None or self.publish is not None:
                raise ValueError("an operator's action has no `do` or `publish`")
            if self.rule is None:
                raise ValueError("an operator's action needs the alert's `rule`")
            return self
        if self.rule is not None:
            raise ValueError("`rule` goes with `operator`")
        if self.device is None:
            if self.do is not None or self.publish is not None or self.with_:
                raise ValueError("a happening needs its `device`")
            if not self.say:
                raise ValueError("an entry needs a `device`, an `operator` or (a mark) `say`")
            return self
        if (self.do is None) == (self.publish is None):
            raise ValueError("an entry needs exactly one of `do` and `publish`")
        if self.publish is not None and self.with_:
            raise ValueError("`with` goes with `do`")
        return self

    @property
    def happening(self) -> bool:
        """A device's happening (not an operator's action, not a mark)."""
        return self.operator is None and self.device is not None


class StepExpect(StrictModel):
    """An escalation step of the expected alert: its target notified (an `escalate` or
    `renotify` row of the alert's audit trail), or, `absent`, not notified."""

    target: str = Field(
        pattern=r"^[a-z0-9_]{1,32}$",
        description="the step's target: operator, family_1, community, duty_screen...",
    )
    within_s: float | None = Field(
        None,
        gt=0,
        le=3600,
        description="seconds after the alert was raised; absent: how long to watch",
    )
    absent: bool = Field(False, description="the step must NOT be taken (within `within_s`)")
    skipped: bool = Field(
        False, description="the step is recorded as skipped (nobody to reach: no contact...)"
    )
    contact: str | None = Field(
        None, description="the resident's contact (id) the step reached: an outbox row for them"
    )

    @model_validator(mode="after")
    def _window(self) -> StepExpect:
        if self.absent and self.within_s is None:
            raise ValueError("an absent step needs `within_s`: how long it must not come")
        if self.absent and (self.skipped or self.contact):
            raise ValueError("an absent step is neither skipped nor reaches a contact")
        if self.skipped and self.contact:
            raise ValueError("a skipped step reaches no contact")
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
    steps: list[StepExpect] = Field(
        default_factory=list,
        description="its escalation steps: the present ones in this order, the absent never",
    )
    state: Literal["active_unack", "active_ack", "cleared_unack", "closed", "shelved"] | None = (
        Field(None, description="the alert's state at the end")
    )
    outcome: str | None = Field(
        None, description="the outcome code an operator recorded on it (audit action outcome)"
    )

    @model_validator(mode="after")
    def _plain_absent(self) -> Expect:
        if self.absent and (self.steps or self.state or self.outcome):
            raise ValueError("an absent alert has no steps, state or outcome")
        return self

    def watch_s(self) -> float:
        """How long after the alert is raised its steps need watching."""
        return max((s.within_s or 0.0 for s in self.steps), default=0.0)


class HazardExpect(StrictModel):
    """The newest hazard of the register (of `source` and `category`, when given) at the
    end: its state, and whether someone other than its fixer closed it."""

    source: Literal["screen", "round", "alert"] | None = None
    category: str | None = Field(None, pattern=r"^[a-z_]{1,32}$")
    state: Literal["open", "in_progress", "fixed", "closed"] | None = None
    closed_by_second: bool = Field(
        False, description="closed, and `closed_by` is not `fixed_by` (a second person)"
    )
    within_s: float = Field(30, gt=0, le=3600, description="wall-clock seconds after the run")


class Scenario(StrictModel):
    name: str | None = Field(None, description="defaults to the file name")
    title: str = Field(min_length=1)
    site: str | None = Field(None, description="site file, relative to this file")
    start: str = Field("08:00", description="the simulated clock at the start, HH:MM[:SS]")
    speed: float = Field(60, gt=0, le=3600, description="simulated seconds per real second")
    site_clock: bool = Field(
        False,
        description="play on the site's local clock: wait until it reads `start` (speed 1)",
    )
    watched_from: str | None = Field(
        None,
        description="site_clock: the service already watched the home from HH:MM[:SS] the"
        " day before (started then, stopped, started again just before `start`)",
    )
    background: bool = Field(
        True, description="the site's other devices send their periodic messages too"
    )
    timeline: list[Entry] = Field(min_length=1)
    expect: list[Expect] = Field(default_factory=list)
    expect_hazards: list[HazardExpect] = Field(
        default_factory=list, description="the register at the end (simulators/hazard_play.py)"
    )
    quiet: bool = Field(
        False, description="any other alert on the timeline's devices fails the scenario"
    )

    @model_validator(mode="after")
    def _times(self) -> Scenario:
        if not _CLOCK.match(self.start):
            raise ValueError(f"start {self.start!r} is not HH:MM[:SS]")
        if self.site_clock and self.speed != 1:
            raise ValueError("a scenario on the site's clock plays at speed 1")
        if self.watched_from is not None:
            if not self.site_clock:
                raise ValueError("watched_from is for a scenario on the site's clock")
            if not _CLOCK.match(self.watched_from):
                raise ValueError(f"watched_from {self.watched_from!r} is not HH:MM[:SS]")
        for e in self.timeline:
            offset(e.at, self.start)
        return self


def clock_s(text: str) -> int:
    """Seconds since midnight of HH:MM[:SS]."""
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
        return float((clock_s(text) - clock_s(start)) % 86400)
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
        return clock_s(self.scenario.start) / 3600

    def at_s(self, e: Entry) -> float:
        """The entry's simulated seconds from the start."""
        return offset(e.at, self.scenario.start)

    def steps(self) -> list[Step]:
        """The devices' happenings, for the simulated home."""
        out = []
        for e in self.scenario.timeline:
            if not e.happening:
                continue
            assert e.device is not None
            at = self.at_s(e)
            label = f"{self.name}: {e.say or e.do or 'publish'}"
            if e.publish is not None:
                out.append(Step(at, e.device, e.publish.kind, dict(e.publish.payload), label))
            else:
                out.append(Step(at, e.device, "action", dict(e.with_), label, e.do))
        return out

    def devices(self) -> set[str]:
        """The devices the timeline's happenings name."""
        return {e.device for e in self.scenario.timeline if e.happening and e.device}

    def length_s(self) -> float:
        """Simulated seconds from the start to the last entry."""
        return max((self.at_s(e) for e in self.scenario.timeline), default=0.0)


def load(path: Path) -> Loaded:
    """Read a scenario file; ConfigError names file, line and field of every problem."""
    return Loaded(parse_model(Scenario, path), path)


def problems(loaded: Loaded, registry: Registry) -> list[str]:
    """What in the scenario does not fit the site: unknown devices, actions, movements."""
    out: list[str] = []
    if loaded.scenario.site_clock and registry.site.timezone is None:
        out.append(f"{loaded.name}: site_clock needs the site file's `timezone`")
    staff = {s.id for s in registry.site.staff}
    for i, e in enumerate(loaded.scenario.timeline):
        where = f"{loaded.name}: timeline.{i}"
        if e.hazard is not None and e.by not in staff:
            out.append(f"{where}: `by` {e.by!r} is not a staff id of site {registry.site.id}")
        if not e.happening:
            continue
        assert e.device is not None
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
