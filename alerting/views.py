"""How an alert looks to the outside (API, screen stream, webhooks, MQTT): one place.

The screen sees the whole view; whatever leaves the house (outbox rows, webhooks, the MQTT
alert topic) sees `public_alert` of it: a resident's name stays on the duty screen."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from alerting.bedside import resets_at_bedside
from alerting.model import Alert
from alerting.rulebook import Rulebook
from alerting.ruleset import RuleSet
from devices.registry import Registry

PRIVATE_FIELDS = frozenset({"resident_name"})


def public_alert(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The alert JSON without the fields kept to the duty screen (PRIVATE_FIELDS)."""
    return {k: v for k, v in alert.items() if k not in PRIVATE_FIELDS}


def iso(ms: int | None) -> str | None:
    """Epoch ms as UTC ISO 8601 with milliseconds and `Z` (None stays None): the time format of
    every alert JSON."""
    if ms is None:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


class AlertView:
    """Builds the alert JSON of API, screen, outbox and MQTT from an alert, its device (bed, type,
    resident) and its rule (titles, fire). Includes the resident's name: use `public_alert` on what
    leaves the house."""

    def __init__(self, registry: Registry, rules: RuleSet | Rulebook) -> None:
        self._reg = registry
        self._rules = Rulebook.of_one(rules)

    def _home_bed(self, a: Alert) -> bool:
        """The alert's site is a home bed (its calls are resolved remotely)."""
        site = self._reg.sites.get(a.site)
        return site is not None and site.kind == "home_bed"

    def __call__(self, a: Alert) -> dict[str, Any]:
        """The full alert JSON; device fields are None once the device left the registry, titles
        fall back to the rule name once the rule left the set."""
        dev = self._reg.get(a.site, a.device_id)  # a panel's point: the panel
        rule = self._rules.named(a.site, a.rule)
        return {
            "id": str(a.id),
            "site": a.site,
            "device_id": a.device_id,
            "rule": a.rule,
            "title": self._rules.title(a.rule, "zh", a.site) if rule else a.rule,
            "title_en": self._rules.title(a.rule, "en", a.site) if rule else a.rule,
            "severity": a.severity.value,
            "state": a.state.value,
            "latched": a.latched,
            "raised_at": iso(a.raised_at),
            "last_at": iso(a.last_at),
            "acknowledged_at": iso(a.acknowledged_at),
            "acknowledged_by": a.acknowledged_by,
            "cleared_at": iso(a.cleared_at),
            "condition_cleared_at": iso(a.condition_cleared_at),
            "closed_by": a.closed_by,
            "occurrences": a.occurrences,
            "value": a.value,
            "note": a.note,
            "room": a.room,
            "floor": a.floor,
            "bed": dev.bed if dev else None,
            "device_type": dev.type.name if dev else None,
            "priority": a.priority,
            "group": a.group_key,
            "chattering": a.chattering,
            "shelved_until": iso(a.shelved_until),
            "escalation_level": a.escalation_level,
            "forwarded_at": iso(a.forwarded_at),
            "fire": rule.fire if rule else None,
            # bedside: closed by the reset at its origin, remotely only by a supervisor
            "reset": "bedside"
            if resets_at_bedside(self._rules, a, dev, self._home_bed(a))
            else "remote",
            "resident_name": self._reg.resident_name(dev.site, dev.resident) if dev else None,
        }
