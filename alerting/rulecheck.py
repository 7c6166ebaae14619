"""Checking a rules file before it is used: every problem named by file, line and field
(unknown fields, a wrong unit, an impossible threshold, a rule without a title, an
override naming nothing), for `load_rules` and `carewatch check-config`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from alerting.defaults import default_policies, default_rules
from alerting.rulebook import Rulebook
from alerting.rules import (
    AnyRule,
    CorrelationRule,
    EventRule,
    RateRule,
    RepetitionRule,
    ThresholdRule,
    TimeWindowRule,
)
from alerting.ruleset import DEVICE_KINDS, KINDS, Override, RuleSet, RuleSetFile, merge_rule
from devices.catalog import load_catalog
from devices.profiles import DEVICE_TYPES, DeviceType, FieldKind
from devices.registry import Registry
from devices.yamlconf import ConfigError, Loc, load_yaml, located

Problem = tuple[Loc, str]


def title_problems(r: AnyRule) -> list[Problem]:
    """A rule the catalog does not name must bring its titles (what else would the screen
    show?); a rule the catalog names may override them."""
    named = load_catalog().keys()
    if f"rule.{r.name}" in named:
        return []
    missing = [f for f in ("title_zh", "title_en") if getattr(r, f) is None]
    if not missing:
        return []
    return [
        (
            ("name",),
            f"rule {r.name!r} has no title: the catalog has no rule.{r.name}, "
            f"so give {' and '.join(missing)}",
        )
    ]


def _field(t: DeviceType, name: str) -> Any:
    return t.fields.get(name)


def rule_problems(r: AnyRule, names: Iterable[str], policies: Iterable[str]) -> list[Problem]:
    """What is wrong with one rule against the device-type table; locations are relative."""
    out: list[Problem] = []
    known_names, known_policies = set(names), set(policies)
    if r.escalation is not None and r.escalation not in known_policies:
        out.append((("escalation",), f"unknown escalation policy {r.escalation!r}"))
    if isinstance(r, CorrelationRule | RepetitionRule):
        for k, s in enumerate(r.signals):
            if s not in known_names:
                out.append((("signals", k), f"unknown rule {s!r}"))
        return out
    if not isinstance(r, DEVICE_KINDS):
        return out
    for k, tname in enumerate(r.device_types):
        t = DEVICE_TYPES.get(tname)
        if t is None:
            out.append((("device_types", k), f"unknown device type {tname!r}"))
            continue
        if isinstance(r, EventRule):
            for attr in ("events", "clear_events"):
                for j, e in enumerate(getattr(r, attr)):
                    if e not in t.events:
                        out.append(((attr, j), f"{tname} sends no event {e!r}"))
            # a point must be a text attribute every raising event carries
            if r.point is not None and any(
                r.point not in t.events[e].required for e in r.events if e in t.events
            ):
                out.append(
                    (("point",), f"{tname}'s events {r.events} do not all name a {r.point!r}")
                )
        elif isinstance(r, ThresholdRule | RateRule | TimeWindowRule):
            out += _field_problems(r, t)
    return out


def _field_problems(r: ThresholdRule | RateRule | TimeWindowRule, t: DeviceType) -> list[Problem]:
    spec = _field(t, r.field)
    if spec is None:
        return [(("field",), f"{t.name} has no field {r.field!r}; it has {sorted(t.fields)}")]
    out: list[Problem] = []
    unit = getattr(r, "unit", None)
    if unit is not None and unit != spec.unit:
        out.append((("unit",), f"wrong unit: {t.name}.{r.field} is in {spec.unit!r}, not {unit!r}"))
    if isinstance(r, TimeWindowRule):
        return out
    numeric = isinstance(r, RateRule) or r.op in ("lt", "le", "gt", "ge")
    if numeric and spec.kind is not FieldKind.NUMBER:
        return [*out, (("field",), f"{t.name}.{r.field} is {spec.kind.value}, not a number")]
    rng = f"{spec.min:g}..{spec.max:g} {spec.unit}".rstrip() if numeric else ""
    if isinstance(r, RateRule):
        if r.per_min * r.min_span_s / 60 > spec.max - spec.min:
            out.append((("per_min",), f"impossible rate: more than the whole range {rng}"))
        return out
    if isinstance(r, ThresholdRule):
        if r.inactive_field is not None:
            f2 = _field(t, r.inactive_field)
            if f2 is None or f2.kind is not FieldKind.NUMBER:
                out.append((("inactive_field",), f"{t.name} has no numeric {r.inactive_field!r}"))
        if numeric:
            v = float(r.value)
            if not spec.min < v < spec.max:
                out.append(
                    (("value",), f"impossible threshold {r.field} {r.op} {v:g}: range is {rng}")
                )
            cv = r.clear_value
            if cv is not None and not spec.min <= cv <= spec.max:
                out.append((("clear_value",), f"clear_value {cv:g} outside {rng}"))
        else:
            want = {FieldKind.BOOL: bool, FieldKind.TEXT: str, FieldKind.NUMBER: float}[spec.kind]
            if not isinstance(r.value, want) or (want is float and isinstance(r.value, bool)):
                out.append((("value",), f"{t.name}.{r.field} takes a {spec.kind.value} value"))
    return out


def _clean(loc: tuple[Any, ...]) -> Loc:
    """Drop pydantic's union tag from error locations (rules.0.threshold.value)."""
    return tuple(
        p for i, p in enumerate(loc) if not (p in KINDS and i > 0 and isinstance(loc[i - 1], int))
    )


def check_file(
    path: Path, registry: Registry | None = None
) -> tuple[RuleSetFile | None, list[str]]:
    """Parse and check a rules file; returns the model (if it parsed) and every problem."""
    data, lines = load_yaml(path)
    try:
        f = RuleSetFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        return None, [located(path, lines, _clean(e["loc"]), e["msg"]) for e in exc.errors()]
    probs: list[Problem] = []
    names = {r.name for r in default_rules()} if f.builtin else set()
    names |= {r.name for r in f.rules}
    policies = {**default_policies(), **f.escalation.policies}.keys()
    for j, r in enumerate(f.rules):
        probs += [(("rules", j, *loc), m) for loc, m in title_problems(r)]
        probs += [(("rules", j, *loc), m) for loc, m in rule_problems(r, names, policies)]
    for key in ("by_severity", "home_by_severity"):
        for sev, pol in getattr(f.escalation, key).items():
            if pol is not None and pol not in policies:
                probs.append((("escalation", key, sev.value), f"unknown policy {pol!r}"))
    for pname, policy in f.escalation.policies.items():  # a gateway dials a contact
        for k, step in enumerate(policy.steps):
            t = f.notify.targets.get(step.notify)
            if t is not None and t.kind == "gateway":
                probs.append(
                    (
                        ("escalation", "policies", pname, "steps", k, "notify"),
                        f"{step.notify} is a gateway: a step names the person (family_1,"
                        " community, doctor) and notify.contacts the gateway",
                    )
                )
    for was, pol in f.escalation.home_instead.items():
        if pol not in policies:
            probs.append((("escalation", "home_instead", was), f"unknown policy {pol!r}"))
    base = {r.name: r for r in default_rules()} if f.builtin else {}
    base.update({r.name: r for r in f.rules})
    for i, o in enumerate(f.overrides):
        probs += [(("overrides", i, *loc), m) for loc, m in _override_problems(o, base, registry)]
    for i, o in enumerate(f.overrides):  # the merged rule must still make sense
        r0 = base.get(o.rule)
        if r0 is None:
            continue
        try:
            merged = merge_rule(r0, o.set)
        except ValidationError as exc:
            for e in exc.errors():
                probs.append((("overrides", i, "set", *e["loc"]), e["msg"]))
            continue
        for loc, m in rule_problems(merged, names, policies):
            where = loc if loc and loc[0] in o.set else ("rule",)
            probs.append(
                (
                    (
                        ("overrides", i, "set", *where)
                        if where != ("rule",)
                        else ("overrides", i, "rule")
                    ),
                    m,
                )
            )
    return f, [located(path, lines, loc, m) for loc, m in probs]


def _override_problems(
    o: Override, base: dict[str, AnyRule], registry: Registry | None
) -> list[Problem]:
    r = base.get(o.rule)
    if r is None:
        return [(("rule",), f"unknown rule {o.rule!r}")]
    out: list[Problem] = []
    if not o.everywhere and not isinstance(r, DEVICE_KINDS):
        out.append(
            (("rule",), f"{o.rule} is not a device rule: override it everywhere (no selector)")
        )
    if registry is None:
        return out
    if o.site is not None and o.site not in registry.sites:
        return [*out, (("site",), f"unknown site {o.site!r}")]
    sites = [registry.sites[o.site]] if o.site else list(registry.sites.values())
    floors = {f.id for site in sites for f in site.floors}
    rooms = {rm.id for site in sites for f in site.floors for rm in f.rooms}
    if o.floor is not None and o.floor not in floors:
        out.append((("floor",), f"unknown floor {o.floor!r}"))
    if o.room is not None and o.room not in rooms:
        out.append((("room",), f"unknown room {o.room!r}"))
    if o.device is not None:
        dev = registry.by_id(o.device)
        if dev is None:
            out.append((("device",), f"unknown device {o.device!r}"))
        elif isinstance(r, DEVICE_KINDS) and dev.type.name not in r.device_types:
            out.append(
                (("device",), f"{o.device} is a {dev.type.name}; {o.rule} does not watch it")
            )
    return out


def load_rules(path: Path | None, registry: Registry | None = None) -> RuleSet:
    """The site's rule set (defaults when `path` is None); ConfigError names every problem."""
    if path is None:
        return RuleSet.defaults()
    f, problems = check_file(path, registry)
    if problems or f is None:
        raise ConfigError(problems)
    return RuleSet.from_file(f)


def load_rulebook(default_file: Path | None, registry: Registry) -> Rulebook:
    """The service's rules for every site, and each site's own rules file (read once per
    file, shared by the sites naming it); every problem of every file at once."""
    default = load_rules(default_file, registry)
    own: dict[str, RuleSet] = {}
    by_file: dict[Path, RuleSet] = {}
    problems: list[str] = []
    for sid, site in registry.sites.items():
        if site.rules_file is None:
            continue
        if site.rules_file not in by_file:
            try:
                by_file[site.rules_file] = load_rules(site.rules_file, registry.only(sid))
            except ConfigError as exc:
                problems += exc.problems
                continue
        own[sid] = by_file[site.rules_file]
    if problems:
        raise ConfigError(problems)
    zones = {sid: s.timezone for sid, s in registry.sites.items() if s.timezone}
    homes = frozenset(sid for sid, s in registry.sites.items() if s.kind == "home_bed")
    return Rulebook(default, own, zones, homes)
