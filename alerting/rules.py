"""Rules as data, validated by pydantic. The defaults follow DOMAIN.md (see docs/rules.md)."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerting.model import Severity


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9_]{1,48}$", description="rule id, unique")
    title_zh: str = Field(min_length=1, description="what the screen shows (Chinese)")
    title_en: str = Field(min_length=1, description="what the screen shows (English)")
    device_types: list[str] = Field(min_length=1, description="device types it watches")
    severity: Severity


class EventRule(_Rule):
    """Raise on one of `events`; `clear_events` from the same device end the condition."""

    kind: Literal["event"] = "event"
    events: list[str] = Field(min_length=1)
    latched: bool = Field(False, description="stays until a person resets it")
    clear_events: list[str] = Field(default_factory=list)
    clear_resets: bool = Field(
        False, description="a clear event is a reset at the origin (closes even if latched)"
    )


class ThresholdRule(_Rule):
    """Raise when `field` crosses `value` for `for_s` seconds; clear past `clear_value`."""

    kind: Literal["threshold"] = "threshold"
    field: str
    op: Literal["lt", "le", "gt", "ge"]
    value: float
    for_s: float = Field(0, ge=0, le=86400)
    clear_value: float | None = Field(None, description="hysteresis; defaults to value")
    latched: bool = False

    @model_validator(mode="after")
    def _hysteresis_side(self) -> ThresholdRule:
        if self.clear_value is None:
            return self
        below = self.op in ("lt", "le")
        if (below and self.clear_value < self.value) or (
            not below and self.clear_value > self.value
        ):
            raise ValueError("clear_value must lie on the safe side of value")
        return self

    def breached(self, v: float) -> bool:
        if self.op == "lt":
            return v < self.value
        if self.op == "le":
            return v <= self.value
        if self.op == "gt":
            return v > self.value
        return v >= self.value

    def cleared(self, v: float) -> bool:
        limit = self.value if self.clear_value is None else self.clear_value
        if self.op in ("lt", "le"):
            return v >= limit if self.clear_value is not None else not self.breached(v)
        return v <= limit if self.clear_value is not None else not self.breached(v)


class AbsenceRule(_Rule):
    """No message within the device type's supervision interval, or last will offline."""

    kind: Literal["absence"] = "absence"
    fire_safety_severity: Severity = Field(
        Severity.HIGH, description="severity for fire-safety devices"
    )


Rule = Annotated[EventRule | ThresholdRule | AbsenceRule, Field(discriminator="kind")]

ALL_TYPES = ["call_button", "wearable", "smoke_detector", "water_pressure", "electrical_monitor"]


def default_rules() -> list[EventRule | ThresholdRule | AbsenceRule]:
    """The first rules (DOMAIN.md hazard table)."""
    return [
        EventRule(
            name="fall",
            title_zh="老人跌倒",
            title_en="Resident fell",
            device_types=["wearable"],
            events=["fall"],
            severity=Severity.CRITICAL,
            latched=True,
        ),
        EventRule(
            name="call",
            title_zh="紧急呼叫",
            title_en="Call for help",
            device_types=["call_button"],
            events=["press"],
            severity=Severity.HIGH,
            latched=True,
            clear_events=["cancel"],
            clear_resets=True,
        ),
        EventRule(
            name="sos",
            title_zh="手环SOS求救",
            title_en="SOS from wearable",
            device_types=["wearable"],
            events=["sos"],
            severity=Severity.HIGH,
            latched=True,
        ),
        EventRule(
            name="smoke",
            title_zh="烟雾报警",
            title_en="Smoke alarm",
            device_types=["smoke_detector"],
            events=["smoke_alarm"],
            severity=Severity.CRITICAL,
            latched=True,
            clear_events=["smoke_clear"],
        ),
        ThresholdRule(
            name="water_pressure_low",
            title_zh="消防水压过低",
            title_en="Fire-water pressure low",
            device_types=["water_pressure"],
            field="pressure_mpa",
            op="lt",
            value=0.10,
            for_s=30,
            clear_value=0.11,
            severity=Severity.HIGH,
        ),
        ThresholdRule(
            name="residual_current_high",
            title_zh="剩余电流超限",
            title_en="Residual current high",
            device_types=["electrical_monitor"],
            field="residual_current_ma",
            op="ge",
            value=300,
            clear_value=270,
            severity=Severity.HIGH,
        ),
        AbsenceRule(
            name="device_offline",
            title_zh="设备离线",
            title_en="Device offline",
            device_types=ALL_TYPES,
            severity=Severity.MEDIUM,
        ),
    ]


class RuleSet:
    """Rules indexed for the hot path: by (device type, event) and by device type."""

    def __init__(self, rules: list[EventRule | ThresholdRule | AbsenceRule]) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        self.rules = {r.name: r for r in rules}
        self.on_event: dict[tuple[str, str], list[EventRule]] = defaultdict(list)
        self.on_clear_event: dict[tuple[str, str], list[EventRule]] = defaultdict(list)
        self.thresholds: dict[str, list[ThresholdRule]] = defaultdict(list)
        self.absence: dict[str, AbsenceRule] = {}
        for r in rules:
            for t in r.device_types:
                if isinstance(r, EventRule):
                    for e in r.events:
                        self.on_event[(t, e)].append(r)
                    for e in r.clear_events:
                        self.on_clear_event[(t, e)].append(r)
                elif isinstance(r, ThresholdRule):
                    self.thresholds[t].append(r)
                else:
                    self.absence[t] = r
