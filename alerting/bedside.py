"""Which alerts are reset at the bedside only (nurse-call practice, DIN VDE 0834): a call is
reset by presence in the room (the call button's `cancel`), so a screen or the API cannot
end it; a remote resolve is a supervisor's override with a reason, audited as its own
action (OVERRIDE_RESET) and counted in the watch report.

A rule says so as data (`reset: bedside`, alerting/rules.py); it holds for a device only
when that device can send the rule's reset: a Zigbee SOS button maps only `press`, so its
calls are resolved as any other alert rather than left to an override. And only in a
nursing home: at a home bed nobody of the watch is at the bedside, the call centre closes
a call once someone answered (by phone, family, a community worker), so its calls are
resolved remotely (`home_bed`)."""

from __future__ import annotations

from alerting.model import Alert
from alerting.rulebook import Rulebook
from alerting.rules import EventRule
from devices.registry import Device
from devices.zigbee import profile_for

OVERRIDE_RESET = "override_reset"  # the audit action of a supervisor's remote reset


def sends(dev: Device, event: str) -> bool:
    """Whether `dev` can send `event`: its type's events, or for a Zigbee2MQTT device the
    events its model's entry maps (devices/zigbee.py; an empty name maps the value itself)."""
    if dev.source != "zigbee2mqtt":
        return event in dev.type.events
    profile = profile_for(dev.type.name, dev.model)
    if profile is None:
        return False
    return any(em.event == event or (not em.event and event in em.values) for em in profile.events)


def resets_at_bedside(
    rules: Rulebook, alert: Alert, dev: Device | None, home_bed: bool = False
) -> bool:
    """True when `alert` closes only at its origin: its rule, as it applies to the device,
    says `reset: bedside`, the device can send one of the rule's clear events, and the
    site is a nursing home (`home_bed` False)."""
    if dev is None or home_bed:
        return False
    rule = rules.rule(alert.rule, dev, alert.site) or rules.named(alert.site, alert.rule)
    if not isinstance(rule, EventRule) or rule.reset != "bedside":
        return False
    return any(sends(dev, e) for e in rule.clear_events)
