"""A site's rule set: the defaults, the site's own rules, and overrides per site, floor,
room or device; resolved per device once and checked against the device-type table.

A rules file (YAML) looks like docs/rules.md; alerting/rulecheck.py checks it (file, line
and field of every problem) and loads it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from alerting.defaults import (
    DEFAULT_BY_SEVERITY,
    HOME_BY_SEVERITY,
    HOME_INSTEAD,
    default_policies,
    default_rules,
)
from alerting.gatewaytemplate import GATEWAY_FIELDS, template_fields
from alerting.model import Severity
from alerting.rules import (
    AbsenceRule,
    AnyRule,
    CorrelationRule,
    DeviceRuleT,
    EscalationPolicy,
    EventRule,
    ObservedRule,
    RateRule,
    RepetitionRule,
    Rule,
    SystemRule,
    ThresholdRule,
    TimeWindowRule,
)
from devices.catalog import load_catalog
from devices.registry import Device
from devices.yamlconf import StrictModel

KINDS = frozenset(
    {
        "event",
        "threshold",
        "rate",
        "absence",
        "time_window",
        "correlation",
        "repetition",
        "system",
        "observed",
    }
)
_FIXED = frozenset({"name", "kind"})


class Override(StrictModel):
    """Change fields of one rule for every site, one site, a floor, a room or one device."""

    rule: str = Field(description="name of the rule to change")
    site: str | None = Field(
        None, description="only in this site (a service watching several); default every site"
    )
    floor: str | None = None
    room: str | None = None
    device: str | None = None
    set: dict[str, Any] = Field(min_length=1, description="fields to change, e.g. value: 0.07")

    @model_validator(mode="after")
    def _one_selector(self) -> Override:
        if sum(x is not None for x in (self.floor, self.room, self.device)) > 1:
            raise ValueError("give at most one of floor, room, device")
        fixed = _FIXED & self.set.keys()
        if fixed:
            raise ValueError(f"cannot change {sorted(fixed)} in an override")
        return self

    @property
    def specificity(self) -> int:
        """How narrow the override is (site 0, floor 1, room 2, device 3): narrower ones are applied
        later and win."""
        return 3 if self.device else 2 if self.room else 1 if self.floor else 0

    @property
    def everywhere(self) -> bool:
        """Changes the rule itself: no site, floor, room or device named."""
        return self.specificity == 0 and self.site is None

    def matches(self, dev: Device) -> bool:
        """True if the device is in the override's site (when named) and in its floor or
        room, or is its device; a site-wide override matches every device of the site."""
        if self.site is not None and dev.site != self.site:
            return False
        if self.device is not None:
            return dev.id == self.device
        if self.room is not None:
            return dev.room == self.room
        if self.floor is not None:
            return dev.floor == self.floor
        return True


class EscalationConfig(StrictModel):
    """The rules file's `escalation` section: policies added to or replacing the defaults, and which
    policy each severity gets."""

    policies: dict[str, EscalationPolicy] = Field(
        default_factory=dict, description="added to / replacing the default policies"
    )
    by_severity: dict[Severity, str | None] = Field(
        default_factory=dict, description="policy per severity (null = none)"
    )
    home_by_severity: dict[Severity, str | None] = Field(
        default_factory=dict,
        description="home beds (kind home_bed): policy per severity of a rule without its own",
    )
    home_instead: dict[str, str] = Field(
        default_factory=dict,
        description="home beds: the policy used instead of one a rule names (fire -> ...)",
    )


class FirePolicy(StrictModel):
    """Forwarding smoke alarms to the fire brigade (NFPA 72 positive alarm sequence;
    GB 50440 asks for forwarding within 3 s of confirmation)."""

    enabled: bool = True
    ack_within_s: float = Field(15, ge=5, le=300, description="unacknowledged this long: forward")
    investigate_s: float = Field(180, ge=30, le=600, description="acknowledged: time to check")
    target: str = Field("fire_brigade", description="notifier target of forwarded alarms")


class Target(StrictModel):
    """Where notifications for a target go."""

    kind: Literal["webhook", "log", "gateway"] = "webhook"
    url: str | None = Field(None, pattern=r"^https?://", description="webhook or gateway URL")
    format: Literal["json", "cap"] = Field("json", description="versioned JSON or CAP 1.2 XML")
    secret_env: str | None = Field(
        None, pattern=r"^[A-Z_][A-Z0-9_]*$", description="env variable holding the HMAC key"
    )
    horizon_s: float = Field(86400, ge=60, le=7 * 86400, description="retry for this long")
    signing: Literal["both", "standard", "legacy"] = Field(
        "both",
        description="both: Standard Webhooks headers and X-CareWatch-Signature; standard: the"
        " former only (replay-proof); legacy: X-CareWatch-Signature only",
    )
    timeout_s: float = Field(5, gt=0, le=60)
    auth: Literal["hmac", "bearer"] = Field(
        "hmac",
        description="gateway: hmac = signed like a webhook (`signing`); bearer = the secret"
        " as `Authorization: Bearer`",
    )
    body: dict[str, Any] | None = Field(
        None, description="gateway: the JSON body, `{field}` placeholders (GATEWAY_FIELDS)"
    )
    message: str | None = Field(
        None, min_length=1, max_length=500, description="gateway: the text template"
    )

    @model_validator(mode="after")
    def _webhook(self) -> Target:
        if self.kind in ("webhook", "gateway") and (self.url is None or self.secret_env is None):
            raise ValueError(f"a {self.kind} target needs url and secret_env")
        if self.kind != "gateway" and (self.body is not None or self.message is not None):
            raise ValueError("body and message are for gateway targets (kind: gateway)")
        try:
            unknown = template_fields([self.body, self.message]) - GATEWAY_FIELDS
        except ValueError as exc:
            raise ValueError(f"body/message: not a template: {exc}") from None
        if self.message is not None and "message" in template_fields(self.message):
            raise ValueError("message: cannot name {message} (it is the message)")
        if unknown:
            raise ValueError(
                f"body/message: unknown fields {sorted(unknown)}; known: {sorted(GATEWAY_FIELDS)}"
            )
        return self


class Notify(StrictModel):
    """The rules file's `notify` section: the notification targets by name and whether alert changes
    go to the MQTT alert topic."""

    targets: dict[str, Target] = Field(
        default_factory=dict, description="by name, as used in escalation steps"
    )
    mqtt_alerts: bool = Field(True, description="alert state on {prefix}/{site}/alerts/{id}")
    contacts: dict[Literal["sms", "voice"], str] = Field(
        default_factory=dict,
        description="the gateway target of each channel a resident's contact is reached by",
    )

    @model_validator(mode="after")
    def _channels(self) -> Notify:
        for channel, name in self.contacts.items():
            t = self.targets.get(name)
            if t is None or t.kind not in ("gateway", "log"):  # log: a trial without one
                raise ValueError(f"contacts.{channel}: {name!r} is not a gateway target")
        return self


class RuleSetFile(StrictModel):
    """A site's rules file (YAML) as parsed; `check_file` checks it against the device types,
    `RuleSet.from_file` builds the rule set."""

    timezone: str = Field("Asia/Shanghai", description="for time-window rules")
    builtin: bool = Field(True, description="start from the default rules")
    rules: list[Rule] = Field(default_factory=list, description="new rules or replacements")
    overrides: list[Override] = Field(default_factory=list)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    fire_policy: FirePolicy = Field(default_factory=FirePolicy)
    notify: Notify = Field(default_factory=Notify)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _unique(self) -> RuleSetFile:
        names = [r.name for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"rule names used twice: {dup}")
        return self


@dataclass(slots=True)
class DeviceRules:
    """The effective rules of one device, indexed for the hot path."""

    by_name: dict[str, DeviceRuleT] = field(default_factory=dict)
    on_event: dict[str, list[EventRule]] = field(default_factory=lambda: defaultdict(list))
    on_clear: dict[str, list[EventRule]] = field(default_factory=lambda: defaultdict(list))
    levels: list[ThresholdRule | RateRule | TimeWindowRule] = field(default_factory=list)
    absence: AbsenceRule | None = None

    def add(self, r: DeviceRuleT) -> None:
        """Index one enabled rule by its kind: events and clear events, level rules, or the
        absence rule (the last one added wins)."""
        self.by_name[r.name] = r
        if isinstance(r, EventRule):
            for e in r.events:
                self.on_event[e].append(r)
            for e in r.clear_events:
                self.on_clear[e].append(r)
        elif isinstance(r, AbsenceRule):
            self.absence = r
        else:
            self.levels.append(r)


DEVICE_KINDS = (EventRule, ThresholdRule, RateRule, AbsenceRule, TimeWindowRule)


def merge_rule(base: AnyRule, changes: dict[str, Any]) -> AnyRule:
    """`base` with the fields of an override or a rules-file entry changed, validated again
    (a change may not make the rule invalid)."""
    return type(base).model_validate({**base.model_dump(), **changes})


class RuleSet:
    """Rules by name, resolved per device (overrides applied), with escalation policies."""

    def __init__(
        self,
        rules: Sequence[AnyRule],
        overrides: Sequence[Override] = (),
        policies: dict[str, EscalationPolicy] | None = None,
        by_severity: dict[str, str | None] | None = None,
        timezone: str = "Asia/Shanghai",
        fire_policy: FirePolicy | None = None,
        notify: Notify | None = None,
        home_by_severity: dict[str, str | None] | None = None,
        home_instead: dict[str, str] | None = None,
    ) -> None:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        base = {r.name: r for r in rules}
        for o in overrides:  # overrides for everywhere change the rule itself
            if o.everywhere and o.rule in base:
                base[o.rule] = merge_rule(base[o.rule], o.set)
        self.rules: dict[str, AnyRule] = base
        self._overrides = sorted(
            (o for o in overrides if not o.everywhere and o.rule in base),
            key=lambda o: o.specificity,
        )
        self.policies = default_policies() if policies is None else policies
        self.by_severity = dict(DEFAULT_BY_SEVERITY if by_severity is None else by_severity)
        self.home_by_severity = dict(
            HOME_BY_SEVERITY if home_by_severity is None else home_by_severity
        )
        self.home_instead = dict(HOME_INSTEAD if home_instead is None else home_instead)
        self.tz = ZoneInfo(timezone)
        self.fire_policy = fire_policy or FirePolicy()
        self.notify = notify or Notify()
        enabled = [r for r in base.values() if r.enabled]
        self.system: dict[str, SystemRule] = {
            r.component: r for r in enabled if isinstance(r, SystemRule)
        }
        self.consumers: dict[str, list[CorrelationRule | RepetitionRule]] = defaultdict(list)
        for r in enabled:
            if isinstance(r, CorrelationRule | RepetitionRule):
                for s in r.signals:
                    self.consumers[s].append(r)
        windows = [r.within_s for r in enabled if isinstance(r, CorrelationRule | RepetitionRule)]
        self.signal_window_ms = int(max(windows, default=0) * 1000)
        self._by_type: dict[str, list[DeviceRuleT]] = defaultdict(list)
        for r in base.values():
            if isinstance(r, DEVICE_KINDS):
                for t in r.device_types:
                    self._by_type[t].append(r)
        self._shared: dict[tuple[str, tuple[int, ...]], DeviceRules] = {}
        self._cache: dict[tuple[str, str], DeviceRules] = {}

    @classmethod
    def from_file(cls, f: RuleSetFile) -> RuleSet:
        """The rule set of a parsed rules file: defaults (unless `builtin` is off) with the file's
        rules replacing theirs by name, policies merged likewise."""
        rules = {r.name: r for r in default_rules()} if f.builtin else {}
        rules.update({r.name: r for r in f.rules})
        policies = {**default_policies(), **f.escalation.policies}
        by_severity = {
            **DEFAULT_BY_SEVERITY,
            **{k.value: v for k, v in f.escalation.by_severity.items()},
        }
        home_by_severity = {
            **HOME_BY_SEVERITY,
            **{k.value: v for k, v in f.escalation.home_by_severity.items()},
        }
        return cls(
            list(rules.values()),
            f.overrides,
            policies,
            by_severity,
            f.timezone,
            f.fire_policy,
            f.notify,
            home_by_severity,
            {**HOME_INSTEAD, **f.escalation.home_instead},
        )

    @classmethod
    def defaults(cls) -> RuleSet:
        """The default rules and policies (no rules file)."""
        return cls(default_rules())

    def for_device(self, dev: Device) -> DeviceRules:
        """The device's effective rules, overrides applied and disabled rules left out. Cached per
        device and shared by devices of one type and the same overrides."""
        key = (dev.site, dev.id)
        found = self._cache.get(key)
        if found is not None:
            return found
        applied = tuple(i for i, o in enumerate(self._overrides) if o.matches(dev))
        shared_key = (dev.type.name, applied)
        dr = self._shared.get(shared_key)
        if dr is None:
            dr = DeviceRules()
            for r in self._by_type.get(dev.type.name, ()):
                for i in applied:
                    o = self._overrides[i]
                    if o.rule == r.name:
                        r = merge_rule(r, o.set)  # type: ignore[assignment]
                if r.enabled:
                    dr.add(r)
            self._shared[shared_key] = dr
        self._cache[key] = dr
        return dr

    def rule(self, name: str, dev: Device | None) -> AnyRule | None:
        """The rule as it applies to `dev` (None: site-level rules); None if disabled."""
        if dev is not None:
            found = self.for_device(dev).by_name.get(name)
            if found is not None or not isinstance(self.rules.get(name), ObservedRule):
                return found  # an observed rule is site-wide, whatever device it is filed under
        r = self.rules.get(name)
        return r if r is not None and r.enabled else None

    def policy(
        self, rule: AnyRule, severity: Severity, home: bool = False
    ) -> EscalationPolicy | None:
        """The rule's escalation policy (its own, else its severity's), or None: then the alert is
        never escalated. At a home bed (`home`) a rule without its own gets `home_by_severity`'s,
        and a nursing home's policy it names is swapped by `home_instead` (a home has no duty
        room to chase)."""
        if home:
            if rule.escalation is None:
                name = self.home_by_severity.get(severity.value)
            else:
                name = self.home_instead.get(rule.escalation, rule.escalation)
        else:
            name = rule.escalation or self.by_severity.get(severity.value)
        return self.policies.get(name) if name else None

    def title(self, name: str, lang: str = "zh") -> str:
        """What a reader sees for a rule: the rules file's own title in `lang` (a site's
        words win), else the catalog's `rule.<name>` (every default rule is there), else
        the file's title in the other language, else the name (an alert of a rule no longer
        in the set still shows something)."""
        return rule_title(self.rules.get(name), name, lang)


def rule_title(rule: AnyRule | None, name: str, lang: str) -> str:
    """RuleSet.title for one rule (None: not in the set)."""
    catalog = load_catalog()
    zh_en = (None, None) if rule is None else (rule.title_zh, rule.title_en)
    own = zh_en[1] if catalog.lang(lang) == "en" else zh_en[0]
    return own or catalog.get(lang, f"rule.{name}") or zh_en[0] or zh_en[1] or name
