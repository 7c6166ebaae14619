"""Frozen messages at the boundary between ingest and everything after it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

Scalar = float | bool | str


class MessageKind(StrEnum):
    """The last level of a CareWatch topic ({prefix}/{site}/{device}/{kind}): which of the three
    messages the payload is (PROTOCOL.md)."""

    TELEMETRY = "telemetry"
    EVENT = "event"
    STATUS = "status"


@dataclass(frozen=True, slots=True)
class Reading:
    """Validated telemetry of one device at one instant."""

    site: str
    device_id: str
    device_type: str
    ts_ms: int
    fields: dict[str, Scalar]
    received_ms: int
    clock_skewed: bool = False
    seq: int | None = None
    # the broker's DUP flag: a QoS 1 redelivery of a message sent before, perhaps long before
    # (held across a broker restart); it says nothing about the device being alive now
    redelivered: bool = False
    # a Zigbee2MQTT device's level keys after this message (devices/zigbee.py): stored
    # with the batch, so a restart does not take a standing `smoke: true` for a new alarm
    zigbee_levels: dict[str, str | bool] | None = None


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """A discrete happening (a press, a fall, a smoke alarm)."""

    site: str
    device_id: str
    device_type: str
    ts_ms: int
    event: str
    key: str  # the device's event id, or a key derived from ts and event
    received_ms: int
    attrs: dict[str, Scalar] = field(default_factory=dict)
    clock_skewed: bool = False
    seq: int | None = None
    zigbee_levels: dict[str, str | bool] | None = None  # as Reading.zigbee_levels
    redelivered: bool = False  # as Reading.redelivered


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Online/offline from the retained status topic or the device's last will."""

    site: str
    device_id: str
    device_type: str
    ts_ms: int
    online: bool
    received_ms: int
    clock_skewed: bool = False
    redelivered: bool = False  # as Reading.redelivered


@dataclass(frozen=True, slots=True)
class BridgeState:
    """A Zigbee2MQTT gateway's own state (`<base>/bridge/state`, retained, its last will):
    for every watched site whose Zigbee devices it carries, all of them are blind while
    it is offline."""

    base: str  # its base topic (a site's zigbee_prefix), e.g. zigbee2mqtt-riverside
    sites: tuple[str, ...]
    online: bool
    received_ms: int


@dataclass(frozen=True, slots=True)
class BridgeDevice:
    """One entry of a gateway's `bridge/devices` list, the fields the check reads."""

    friendly_name: str
    ieee_address: str
    type: str  # Coordinator, Router, EndDevice (or Unknown)
    supported: bool
    interview_completed: bool
    disabled: bool = False
    model: str | None = None  # definition.model; None: no definition (unsupported)
    vendor: str | None = None


@dataclass(frozen=True, slots=True)
class BridgeDevices:
    """A gateway's `<base>/bridge/devices` (retained): every device it has paired, to be
    checked against the devices the sites registered under that base topic."""

    base: str
    sites: tuple[str, ...]
    devices: tuple[BridgeDevice, ...]
    received_ms: int


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that could not be accepted, with the reason it is counted under."""

    reason: str
    detail: str
    topic: str
    payload: bytes
    received_ms: int
    site: str | None = None
    device_id: str | None = None


@dataclass(frozen=True, slots=True)
class AlertTransition:
    """One committed change of one alert (raise, ack, clear...), handed to the batch sinks
    so the time-series store can count alerts. Plain values: no alerting types here."""

    site: str
    device_id: str  # the alert's subject: a device id, or `system:...` / a correlation key
    alert_id: int
    rule: str
    severity: str
    priority: str
    action: str
    state: str  # the alert's state after the change
    floor: str | None
    room: str | None
    occurrences: int
    value: str | None
    at_ms: int


Message = Reading | DeviceEvent | DeviceStatus
Decoded = Reading | DeviceEvent | DeviceStatus | BridgeState | BridgeDevices | Rejection


def as_json_scalar(value: Any) -> Scalar:
    """Unknown extra fields are stored; nested values are kept as compact JSON text."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return orjson.dumps(value).decode()
