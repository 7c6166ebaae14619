"""The alerts of a report with their audit rows, and what every figure shares: the
priorities in screen order, the site's place names. One alert's history is the ground
truth every other module of the report reads."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from alerting.reports.rows import AlertRow, AuditRow, StoreRows
from alerting.ruleset import RuleSet
from devices.registry import Device, Registry

UNACK = frozenset({"active_unack", "cleared_unack"})
ANNUNCIATE = frozenset({"raise", "repeat"})
PRIORITIES = ("emergency", "routine", "trouble")

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def share(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to share (no division by zero in a report)."""
    return part / whole if whole > 0 else None


@dataclass(slots=True)
class Alert:
    """An alert with its audit rows and what follows from them."""

    row: AlertRow
    audit: list[AuditRow]
    device: Device | None
    closed_ms: int | None

    def state_at(self, at: int) -> str:
        """The alert's state at `at` (epoch ms) as its audit rows say; before its first row it is
        active and unacknowledged."""
        state = "active_unack"
        for r in self.audit:
            if r.at > at:
                break
            state = r.to_state
        return state


class Context:
    """The rule set and the site's place names, for the figures that label what they count."""

    def __init__(self, registry: Registry, rules: RuleSet) -> None:
        self.registry = registry
        self.rules = rules
        site = registry.site
        self.floor_names = {f.id: f.name or f.id for f in site.floors}
        self.room_names = {r.id: r.name for f in site.floors for r in f.rooms}

    def title(self, rule: str, lang: str) -> str:
        """The rule's title in `lang`, as the screen shows it (RuleSet.title)."""
        return self.rules.title(rule, lang)

    def room_label(self, room: str | None) -> str:
        """A room as the per-room table labels it: its id and name ("204 East"), "-" for none."""
        if room is None:
            return "-"
        name = self.room_names.get(room)
        return f"{room} {name}" if name else room

    def floor_label(self, floor: str | None) -> str:
        """A floor as the per-floor table labels it: its name, else its id; "-" for none."""
        return "-" if floor is None else self.floor_names.get(floor, floor)


def read_alerts(rows: StoreRows, registry: Registry, as_of_ms: int) -> dict[int, Alert]:
    """The store rows as alerts with their audit rows, as known at `as_of_ms` (later rows
    are left out, so a report made again for the same moment says the same)."""
    by_alert: dict[int, list[AuditRow]] = defaultdict(list)
    for r in rows.audit:
        if r.at <= as_of_ms:
            by_alert[r.alert_id].append(r)
    out: dict[int, Alert] = {}
    for a in rows.alerts:
        if a.raised_at > as_of_ms:
            continue
        audit = by_alert.get(a.id, [])
        closed = next((r.at for r in audit if r.to_state == "closed"), None)
        out[a.id] = Alert(a, audit, registry.get(a.site, a.device_id), closed)
    return out


def condition_spans(a: Alert) -> list[tuple[int, int | None]]:
    """When an alert's condition held, from its audit rows: from each raise or repeat until
    the condition cleared (a latched alert records it and stays open), a reset, or the
    alert was closed; None: still holding when the rows end. Offline episodes and the fire
    equipment's time in fault are these spans."""
    spans: list[tuple[int, int | None]] = []
    since: int | None = None
    for r in a.audit:
        if r.action in ANNUNCIATE:
            if since is None:
                since = r.at
        elif since is not None and (
            r.action in ("clear", "condition_cleared", "reset") or r.to_state == "closed"
        ):
            spans.append((since, r.at))
            since = None
    if since is not None:
        spans.append((since, None))
    return spans


def prank(priority: str) -> int:
    """The screen order of a priority (unknown ones last)."""
    return PRIORITIES.index(priority) if priority in PRIORITIES else len(PRIORITIES)
