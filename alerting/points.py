"""Event rules over the points of one device (a fire alarm control panel's loop-addresses;
devices/points.py): which alert a panel's event raises or clears, and where it stands.

A panel in the control room reports a fire on the second floor: the alert is the point's
(`<panel>/<point>`), on the floor the panel names, so the floor's smoke detectors confirm it
through the same correlation as two detectors (fire_confirmed) and the screen groups it
with that floor's incident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from alerting.deadlines import ON, Deadlines
from alerting.lifecycle import Lifecycle, Where
from alerting.rules import EventRule
from alerting.ruleset import DeviceRules
from devices.model import DeviceEvent
from devices.points import SEP, point_subject
from devices.registry import Device
from devices.siteconfig import SiteConfig


def _text(e: DeviceEvent, name: str) -> str | None:
    v = e.attrs.get(name)
    return v if isinstance(v, str) and v.strip() else None


def raised(
    rule: EventRule, dev: Device, e: DeviceEvent, sites: Mapping[str, SiteConfig]
) -> tuple[str, Where | None, str]:
    """The subject an event raises, where it stands (None: the device's own place) and the
    value the alert shows. A point stands in the room or on the floor the event names when
    the site file has it (a room gives its floor); a place the site does not know leaves
    the alert at the panel, the place named in its value, so a gateway's wrong floor map
    never hides an alarm in a floor nobody looks at."""
    point = _text(e, rule.point) if rule.point else None
    if point is None:
        return dev.id, None, e.event
    subject = point_subject(dev.id, point)
    floor, room = _text(e, "floor"), _text(e, "room")
    value = " ".join(x for x in (point, _text(e, "zone"), _text(e, "text")) if x)
    site = sites.get(dev.site)
    if site is None or (floor is None and room is None):
        return subject, None, value[:200]
    room_floor = {r.id: f.id for f in site.floors for r in f.rooms}
    if room is not None and room in room_floor:
        floor = room_floor[room]
    elif floor is not None and any(f.id == floor for f in site.floors):
        room = None
    else:
        unknown = ", ".join(f"{k} {v}" for k, v in (("floor", floor), ("room", room)) if v)
        return subject, None, f"{value} ({unknown}?)"[:200]
    group = rule.group or ("floor" if dev.type.fire_safety else "room")
    key = f"floor:{floor}" if group == "floor" or room is None else f"room:{room}"
    return subject, Where(floor, room, key), value[:200]


def cleared(
    rule: EventRule, dev: Device, e: DeviceEvent, open_keys: Iterable[tuple[str, str, str]]
) -> list[str]:
    """The subjects a clear event ends: the device; a point rule's named point, for an
    event that must name one (`fault_clear`, `enable`); or, for one that need not (a panel's
    reset, which resets the whole panel whatever point it mentions), every point of the
    device the rule has open."""
    if rule.point is None:
        return [dev.id]
    spec = dev.type.events.get(e.event)
    point = _text(e, rule.point) if spec is not None and rule.point in spec.required else None
    if point is not None:
        return [point_subject(dev.id, point)]
    prefix = dev.id + SEP
    return sorted(
        subject
        for name, site, subject in open_keys
        if name == rule.name and site == dev.site and subject.startswith(prefix)
    )


def clear_by_event(
    rs: DeviceRules, dev: Device, e: DeviceEvent, life: Lifecycle, deadlines: Deadlines, now: int
) -> None:
    """End the alerts an event clears (a panel's fault_clear, enable or reset; a call's
    cancel at the bedside): their pending on-delays too."""
    for rule in rs.on_clear.get(e.event, ()):
        for subject in cleared(rule, dev, e, life.open):
            deadlines.cancel((ON, rule.name, dev.site, subject))
            if rule.clear_resets:
                life.reset_at_origin(rule.name, dev.site, subject, now)
            else:
                life.condition_gone(rule.name, dev.site, subject, now)
