"""Hazards opened by the watch itself from alerts left open too long (issue 17: a fire
door held open for N minutes, a fault not fixed within N hours): the rules and minutes
(defaults here, the site file's `hazards: {from_alerts: ...}` over them), the category
each rule's hazard is filed under, and the check-config problem of a rule name the
site's rules do not have (file:line).

An alert opens ONE hazard (source `alert`, source_ref its id): the check looks for the
hazard in the same transaction it would insert it in, so never twice, across restarts
too."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from alerting.equipment import EQUIPMENT_STATES, FAULT_STATES
from alerting.hazard_desk import SYSTEM_BY, AgedAlert, HazardDesk
from alerting.hazards import HazardError, NewHazard
from alerting.rulebook import Rulebook
from devices.registry import Registry, site_files
from devices.yamlconf import load_yaml, located

log = logging.getLogger("carewatch.hazards")

DAY_MIN = 24 * 60
# the category a hazard from an equipment alert is filed under, by rule; a rule not
# named here is the fire-alarm system's (a detector, a point, a monitor)
CATEGORY_OF_RULE: Mapping[str, str] = MappingProxyType(
    {
        "fire_door_open": "fire_door",
        "pump_fault": "hydrant",
        "pump_manual": "hydrant",
        "valve_closed": "hydrant",
        "tank_low": "hydrant",
        "water_pressure_low": "hydrant",
        "water_pressure_falling": "hydrant",
        "fan_fault": "other",
        "emergency_light_fault": "emergency_light",
    }
)
# rule -> (minutes an alert stays open before it is a hazard, the hazard's category):
# every rule the equipment table shows as out of order (alerting/equipment.py, one list
# for the screen, the report and this) a day, a fire door held open 30 min
FROM_ALERTS: Mapping[str, tuple[int, str]] = MappingProxyType(
    {
        rule: (
            30 if rule == "fire_door_open" else DAY_MIN,
            CATEGORY_OF_RULE.get(rule, "alarm_system"),
        )
        for rule, state in EQUIPMENT_STATES.items()
        if state in FAULT_STATES
    }
)


def minutes_of(registry: Registry) -> dict[str, dict[str, int]]:
    """site -> rule -> minutes: the defaults with the site file's section over them (0
    leaves a rule out)."""
    out: dict[str, dict[str, int]] = {}
    for sid, conf in registry.sites.items():
        merged = {r: m for r, (m, _) in FROM_ALERTS.items()}
        merged.update(conf.hazards.from_alerts)
        out[sid] = {r: m for r, m in merged.items() if m > 0}
    return out


def category_of(rule: str) -> str:
    """The category a hazard from an alert of `rule` is filed under: the table's, else
    the fire-alarm system's for an equipment rule, else `other`."""
    if rule in CATEGORY_OF_RULE:
        return CATEGORY_OF_RULE[rule]
    return "alarm_system" if rule in EQUIPMENT_STATES else "other"


def suggested_categories() -> dict[str, str]:
    """rule -> category for every rule a hazard may be found from: what the screen's
    "record as hazard" form suggests, the same the watch files its own under."""
    return {rule: category_of(rule) for rule in (*EQUIPMENT_STATES, *CATEGORY_OF_RULE)}


def open_from_alerts(desk: HazardDesk, registry: Registry) -> list[int]:
    """Open a hazard for each alert open longer than its rule's minutes; the ids opened
    (`desk.open` never opens a second for one alert)."""
    opened: list[int] = []
    for a in desk.aged_alerts(minutes_of(registry)):
        if not _counts(registry, a):
            continue
        try:
            h, new = desk.open(new_from_alert(desk, a, category_of(a.rule), SYSTEM_BY))
        except HazardError as exc:  # e.g. its room since removed from the site file
            log.warning("no hazard from an alert", extra={"alert_id": a.id, "why": exc.detail})
            continue
        if new:
            opened.append(h.id)
    return opened


def _counts(registry: Registry, a: AgedAlert) -> bool:
    """The equipment rules count for fire-safety devices only (a resident's pendant
    offline or tampered with is no fire hazard); a rule a site file adds counts anywhere."""
    if a.rule not in FROM_ALERTS:
        return True
    dev = registry.get(a.site, a.device_id)
    return dev is not None and dev.type.fire_safety


def new_from_alert(
    desk: HazardDesk,
    a: AgedAlert,
    category: str,
    by: str,
    description: str | None = None,
    owner: str | None = None,
    deadline_ms: int | None = None,
) -> NewHazard:
    """A hazard of alert `a`: placed at its device's floor and room, its words the rule,
    the device and the alert's value (ids and readings, never a name)."""
    return NewHazard(
        site=a.site,
        category=category,
        description=description or f"{a.rule} {a.device_id}: {a.value or ''}".strip(" :"),
        location=desk.location_of(a.site, a.floor, a.room),
        opened_by=by,
        source="alert",
        floor=a.floor,
        room=a.room,
        source_ref=str(a.id),
        owner=owner,
        deadline_ms=deadline_ms,
    )


def from_alerts_problems(path: Path, registry: Registry, rules: Rulebook) -> list[str]:
    """check-config: each rule named in a site file's `hazards.from_alerts` that the
    site's rules do not have, as file:line."""
    problems: list[str] = []
    for f in site_files(path):
        data, lines = load_yaml(f)
        sid = data.get("id") if isinstance(data, dict) else None
        conf = registry.sites.get(sid) if isinstance(sid, str) else None
        if conf is None:
            continue
        known = rules.of(sid).rules if isinstance(sid, str) else {}
        for rule in conf.hazards.from_alerts:
            if rule not in known:
                msg = f"unknown rule {rule!r}: not a rule of site {sid}'s rules"
                problems.append(located(f, lines, ("hazards", "from_alerts", rule), msg))
    return problems
