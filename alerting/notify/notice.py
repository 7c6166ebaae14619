"""From an outbox row to the `Notice` the formats write: its thread reference and its CAP
category. The category is read from the device-type table (`DeviceType.concern`), so a
new device type is sorted by its table entry, not by a list of names here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from alerting.notify.formats import Category, MsgType, Notice
from alerting.outbox import OutboxRow
from devices.profiles import DEVICE_TYPES, DeviceType

_BY_CONCERN: Mapping[str, Category] = {"fire": "Fire", "health": "Health", "safety": "Safety"}


def category(alert: Mapping[str, Any], types: Mapping[str, DeviceType] = DEVICE_TYPES) -> Category:
    """Fire for a fire rule's alert or a fire device's (its trouble too: a silent smoke
    detector is a fire-safety matter); else Infra for trouble (devices, the service
    itself); else what the device type is about (Health, Safety)."""
    t = types.get(str(alert.get("device_type")))
    concern = t.concern if t is not None else "safety"
    if alert.get("fire") or concern == "fire":
        return "Fire"
    if alert.get("priority") == "trouble":
        return "Infra"
    return _BY_CONCERN[concern]


def reference(key: str) -> str:
    """The same for every message about one alert: the key without target and seq."""
    return "carewatch:" + key.rsplit(":", 2)[0]


def notice(row: OutboxRow, site: Mapping[str, Any]) -> Notice:
    """The outbox row as a Notice for the formats: its thread reference, the CAP category from the
    device-type table, and the site's details for the location."""
    return Notice(
        key=row.key,
        reference=reference(row.key),
        seq=row.seq,
        msg_type=cast(MsgType, row.msg_type),  # the outbox writes only these three
        action=row.action,
        target=row.target,
        sent_ms=row.created_ms,
        first_sent_ms=row.first_ms,
        alert=row.alert,
        site=site,
        note=row.note,
        category=category(row.alert),
    )
