"""Rule kinds as data, validated by pydantic. docs/rules.md has an example of each kind;
alerting/defaults.py holds the default rule set of DOMAIN.md's hazard table."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import time
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerting.model import Severity
from devices.yamlconf import StrictModel

Priority = Literal["emergency", "routine", "trouble"]
PRIORITY_RANK: dict[str, int] = {"emergency": 0, "routine": 1, "trouble": 2}
Scope = Literal["room", "floor", "site"]
# the watch's own parts, and a site's Zigbee2MQTT gateway (its bridge/state)
Component = Literal["broker", "store", "ingest", "spool", "engine", "zigbee_bridge"]
SYSTEM_TYPE = "system"
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class _Rule(StrictModel):
    name: str = Field(pattern=r"^[a-z0-9_]{1,48}$", description="rule id, unique")
    # titles live in the catalog (devices/catalog, `rule.<name>`); a site's rule file may
    # give its own, which win over the catalog (RuleSet.title)
    title_zh: str | None = Field(None, min_length=1, description="title override (Chinese)")
    title_en: str | None = Field(None, min_length=1, description="title override (English)")
    device_types: list[str] = Field(default_factory=list, description="device types watched")
    severity: Severity
    fire_safety_severity: Severity | None = Field(
        None, description="severity instead, when the device is a fire-safety device"
    )
    priority: Priority = Field("routine", description="emergency > routine > trouble")
    latched: bool = Field(False, description="stays until a person resets it")
    escalation: str | None = Field(None, description="policy name; default by severity")
    group: Literal["room", "floor"] | None = Field(
        None, description="incident grouping; default floor for fire-safety devices, else room"
    )
    fire: Literal["watch", "forward"] | None = Field(
        None,
        description="fire policy: watch = forward unless staff act in time; forward = at once",
    )
    enabled: bool = True

    def severity_for(self, fire_safety: bool) -> Severity:
        if fire_safety and self.fire_safety_severity is not None:
            return self.fire_safety_severity
        return self.severity


class _DeviceRule(_Rule):
    device_types: list[str] = Field(min_length=1, description="device types watched")


class EventRule(_DeviceRule):
    """Raise on one of `events` (after `for_s` if set); `clear_events` end the condition."""

    kind: Literal["event"] = "event"
    events: list[str] = Field(min_length=1)
    for_s: float = Field(0, ge=0, le=86400, description="on-delay: raise only if not cleared")
    clear_events: list[str] = Field(default_factory=list)
    clear_resets: bool = Field(
        False, description="a clear event is a reset at the origin (closes even if latched)"
    )
    reset: Literal["remote", "bedside"] = Field(
        "remote",
        description="bedside: only the clear event at the origin closes the alert; a remote"
        " resolve is a supervisor's override with a reason (nurse-call practice, DIN VDE 0834)",
    )
    point: str | None = Field(
        None,
        pattern=r"^[a-z_]{1,32}$",
        description="event attribute naming a point of the device (a fire panel's `point`):"
        " each point is its own alert (subject <device>/<point>), placed on the event's"
        " `floor`/`room` when given; a clear event without it clears every point",
    )

    @model_validator(mode="after")
    def _bedside(self) -> EventRule:
        if self.point is not None and (self.for_s > 0 or self.reset == "bedside"):
            raise ValueError("point takes neither for_s nor reset: bedside")
        if self.reset == "bedside" and not (self.clear_resets and self.clear_events):
            raise ValueError(
                "reset: bedside needs the reset at the origin: clear_events and clear_resets: true"
            )
        return self


class ThresholdRule(_DeviceRule):
    """Raise while `field` op `value` holds for `for_s`; clear past `clear_value`
    (hysteresis) and after `clear_for_s` (off-delay)."""

    kind: Literal["threshold"] = "threshold"
    field: str
    op: Literal["lt", "le", "gt", "ge", "eq", "ne"]
    value: float | bool | str
    unit: str | None = Field(None, description="must match the field's unit when given")
    for_s: float = Field(0, ge=0, le=86400)
    clear_value: float | None = Field(None, description="hysteresis; defaults to value")
    clear_for_s: float = Field(0, ge=0, le=86400, description="off-delay")
    inactive_field: str | None = Field(
        None, description="counter that must not have moved (e.g. steps) for the rule to hold"
    )

    @model_validator(mode="after")
    def _shape(self) -> ThresholdRule:
        numeric = self.op in ("lt", "le", "gt", "ge")
        if numeric and isinstance(self.value, bool | str):
            raise ValueError(f"op {self.op} needs a number as value")
        if self.clear_value is None:
            return self
        if not numeric:
            raise ValueError("clear_value applies to lt/le/gt/ge only")
        below = self.op in ("lt", "le")
        v = float(self.value)
        if (below and self.clear_value < v) or (not below and self.clear_value > v):
            raise ValueError("clear_value must lie on the safe side of value")
        return self

    def breached(self, v: float | bool | str) -> bool:
        """True if `v` is on the alarm side of `value`. An order comparison with a bool or text on
        either side is never breached (eq and ne compare anything)."""
        op, ref = self.op, self.value
        if op == "eq":
            return v == ref
        if op == "ne":
            return v != ref
        if isinstance(v, bool | str) or isinstance(ref, bool | str):
            return False
        if op == "lt":
            return v < ref
        if op == "le":
            return v <= ref
        if op == "gt":
            return v > ref
        return v >= ref

    def cleared(self, v: float | bool | str) -> bool:
        """True if `v` is back on the safe side: past `clear_value` when one is set (hysteresis),
        else simply not breached."""
        if self.clear_value is None or isinstance(v, bool | str):
            return not self.breached(v)
        if self.op in ("lt", "le"):
            return v >= self.clear_value
        return v <= self.clear_value


def threshold_verdict(rule: ThresholdRule) -> Callable[[float | bool | str], tuple[bool, bool]]:
    """`v -> (rule.breached(v), rule.cleared(v))`, made once per rule: an order rule on a
    number (every reading's usual case) is one comparison and one more for its hysteresis,
    not the general methods' type checks per call (about 8% of the interpreter's time at
    20,000 msg/s). Anything else goes to the general methods."""
    breached, cleared = rule.breached, rule.cleared
    ref, cv = rule.value, rule.clear_value
    if rule.op in ("eq", "ne") or isinstance(ref, bool | str):
        return lambda v: (breached(v), cleared(v))
    test = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}[rule.op]
    back = operator.ge if rule.op in ("lt", "le") else operator.le

    def verdict(v: float | bool | str) -> tuple[bool, bool]:
        if type(v) is not float:
            return breached(v), cleared(v)
        hit = test(v, ref)
        return hit, (not hit) if cv is None else back(v, cv)

    return verdict


class RateRule(_DeviceRule):
    """Raise when `field` falls (or rises) faster than `per_min` units per minute, measured
    over the last `window_s` seconds; clears after `clear_for_s` without that rate."""

    kind: Literal["rate"] = "rate"
    field: str
    direction: Literal["falling", "rising"]
    per_min: float = Field(gt=0)
    unit: str | None = None
    window_s: float = Field(60, ge=5, le=3600)
    min_span_s: float = Field(10, ge=1, le=3600, description="shortest span that counts")
    clear_for_s: float = Field(60, ge=0, le=86400)

    @model_validator(mode="after")
    def _span(self) -> RateRule:
        if self.min_span_s > self.window_s:
            raise ValueError("min_span_s must not exceed window_s")
        return self


class AbsenceRule(_DeviceRule):
    """No message within the supervision interval (the device type's unless set), or the
    device's last will says offline."""

    kind: Literal["absence"] = "absence"
    supervision_s: int | None = Field(None, ge=10, le=30 * 86400)


class TimeWindowRule(_DeviceRule):
    """Between `start` and `end` (site local time), raise when `field` is not in `allowed`;
    `{room}` in `allowed` is the device's own room."""

    kind: Literal["time_window"] = "time_window"
    field: str
    allowed: list[str] = Field(min_length=1)
    start: str = Field(description="HH:MM, site local time")
    end: str = Field(description="HH:MM; before start = the window spans midnight")
    for_s: float = Field(0, ge=0, le=86400)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("must be HH:MM (24 h)")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> TimeWindowRule:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def contains(self, t: time) -> bool:
        """True if the site-local time `t` lies in [start, end), midnight spanned when end is before
        start."""
        hhmm = f"{t.hour:02d}:{t.minute:02d}"
        if self.start < self.end:
            return self.start <= hhmm < self.end
        return hhmm >= self.start or hhmm < self.end


class CorrelationRule(_Rule):
    """`count` signals (raises of the rules in `signals`) in one room/floor/site within
    `within_s`, from distinct devices or from distinct rules."""

    kind: Literal["correlation"] = "correlation"
    signals: list[str] = Field(min_length=1)
    count: int = Field(2, ge=2, le=100)
    within_s: float = Field(gt=0, le=86400)
    distinct: Literal["device", "rule"] = "device"
    scope: Scope = "floor"

    @model_validator(mode="after")
    def _enough(self) -> CorrelationRule:
        if self.distinct == "rule" and self.count > len(set(self.signals)):
            raise ValueError("distinct=rule needs at least `count` different signals")
        return self


class RepetitionRule(_Rule):
    """The rules in `signals` raised `count` times for one device within `within_s`."""

    kind: Literal["repetition"] = "repetition"
    signals: list[str] = Field(min_length=1)
    count: int = Field(ge=2, le=1000)
    within_s: float = Field(gt=0, le=7 * 86400)


class SystemRule(_Rule):
    """The watch watching itself: `component` unhealthy for `for_s` seconds (the
    `zigbee_bridge` component is a site's own: an alert of that site)."""

    kind: Literal["system"] = "system"
    component: Component
    for_s: float = Field(0, ge=0, le=86400)


class ObservedRule(_Rule):
    """Raised and cleared by a check outside the message stream (the day's check-in not
    made, a welfare visit missed): the check says whether it holds for a subject, the rule
    gives severity, priority and escalation like any other."""

    kind: Literal["observed"] = "observed"
    start: str | None = Field(
        None, description="HH:MM site local time: the hours the check counts (no_activity: day)"
    )
    end: str | None = Field(None, description="HH:MM; before start = the hours span midnight")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str | None) -> str | None:
        if v is not None and not _HHMM.match(v):
            raise ValueError("must be HH:MM (24 h)")
        return v

    @model_validator(mode="after")
    def _both(self) -> ObservedRule:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start is not None and self.start == self.end:
            raise ValueError("start and end must differ")
        return self


AnyRule = (
    EventRule
    | ThresholdRule
    | RateRule
    | AbsenceRule
    | TimeWindowRule
    | CorrelationRule
    | RepetitionRule
    | SystemRule
    | ObservedRule
)
Rule = Annotated[AnyRule, Field(discriminator="kind")]
DeviceRuleT = EventRule | ThresholdRule | RateRule | AbsenceRule | TimeWindowRule
LevelRule = ThresholdRule | RateRule | TimeWindowRule | SystemRule | ObservedRule


class EscalationStep(BaseModel):
    """One step of an escalation policy: notify `notify` (a target) `after_s` seconds after the
    alert became unacknowledged."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    after_s: float = Field(ge=0, le=86400, description="since the alert became unacknowledged")
    notify: str = Field(pattern=r"^[a-z0-9_]{1,32}$", description="notifier target")


class EscalationPolicy(BaseModel):
    """Climb through `steps` while unacknowledged; after the last, repeat it every
    `repeat_s`. With `cycle_from` the whole climb from that step on repeats instead (a home
    call: family in order, then the community centre, again and again), the first step of
    each round `repeat_s` after the last. Acknowledging stops it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    steps: list[EscalationStep] = Field(min_length=1)
    repeat_s: float | None = Field(None, ge=30, le=86400)
    cycle_from: int | None = Field(
        None, ge=0, description="index of the step each repeated round starts from"
    )

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        times = [s.after_s for s in self.steps]
        if any(b <= a for a, b in pairwise(times)):
            raise ValueError("steps must have strictly increasing after_s")
        if self.cycle_from is not None:
            if self.repeat_s is None:
                raise ValueError("cycle_from needs repeat_s (the pause before each round)")
            if self.cycle_from >= len(self.steps):
                raise ValueError("cycle_from must name one of the steps (0-based index)")
        return self

    def step_at(self, n: int) -> tuple[int, bool] | None:
        """The step index of the `n`-th notification (0-based, counting every repeat) and
        whether it is a repeat; None when there is no `n`-th (no repeat_s)."""
        last = len(self.steps) - 1
        if n <= last:
            return n, False
        if self.repeat_s is None:
            return None
        if self.cycle_from is None:
            return last, True
        rnd = len(self.steps) - self.cycle_from
        return self.cycle_from + (n - len(self.steps)) % rnd, True

    def gap_after(self, n: int) -> float | None:
        """Seconds from the `n`-th notification to the next; None when none follows."""
        at = self.step_at(n)
        if at is None:
            return None
        idx = at[0]
        if idx < len(self.steps) - 1:  # a repeat without cycle_from is always the last
            return self.steps[idx + 1].after_s - self.steps[idx].after_s
        return self.repeat_s
