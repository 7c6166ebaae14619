"""Zigbee2MQTT watched as a system: its gateway's own topics, not only its devices'.

Every Zigbee device of a site reaches CareWatch through one Zigbee2MQTT gateway (the
site's `zigbee_prefix`, its base topic). Two of the gateway's retained topics say whether
that path works at all:

- `<base>/bridge/state`: `{"state": "online"}` / `{"state": "offline"}` (plain `online` /
  `offline` where Zigbee2MQTT still sends its legacy availability payloads); `offline` is
  also its last will, so the broker says it when the gateway dies or loses the broker.
  While it is offline every Zigbee device of the site is blind: an alert, at once.
- `<base>/bridge/devices`: a JSON list of every device the gateway has paired
  (`friendly_name`, `ieee_address`, `type` Coordinator/Router/EndDevice, `supported`,
  `definition` {model, vendor, ...} or null, `interview_completed`, `disabled`...).
  CareWatch reads a device by its friendly name: one renamed or removed in Zigbee2MQTT
  is never heard again. `check` compares the list with the registered devices.

Pure: parsing and the check; the decoder routes the topics, a batch sink stores what
they said (ingest/zigbee.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from devices.model import BridgeDevice, BridgeDevices, BridgeState, Decoded, Rejection
from devices.registry import Device, Registry
from devices.zigbee import parse_availability

MAX_STATE_PAYLOAD = 8 * 1024  # as every CareWatch payload
MAX_DEVICES_PAYLOAD = 4 * 1024 * 1024  # a list with every device's full definition is large
MAX_DEVICES = 10_000
STATE = "bridge/state"
DEVICES = "bridge/devices"
COORDINATOR = "Coordinator"


class BridgeError(Exception):
    """A bridge payload that cannot be read: a rejection with `reason` (decode.REASONS)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def zigbee_bases(registry: Registry, default_prefix: str) -> dict[str, tuple[str, ...]]:
    """Each distinct base topic (no trailing `/`) of the sites that registered Zigbee
    devices, with those sites in the registry's order; a site without any reads none of
    its gateway's topics."""
    bases: dict[str, list[str]] = {}
    with_zigbee = {d.site for d in registry.zigbee_devices()}
    for sid, site in registry.sites.items():
        if sid in with_zigbee:
            base = (site.zigbee_prefix or default_prefix).rstrip("/")
            bases.setdefault(base, []).append(sid)
    return {base: tuple(sites) for base, sites in bases.items()}


def parse_state(payload: bytes) -> bool:
    """`bridge/state`: True online, False offline; BridgeError otherwise."""
    online = parse_availability(payload)
    if online is None:
        raise BridgeError(
            "wrong_type", 'bridge/state is {"state": "online"|"offline"} or plain text'
        )
    return online


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def _entry(e: object, i: int) -> BridgeDevice:
    if not isinstance(e, dict):
        raise BridgeError("wrong_type", f"bridge/devices entry {i} is not an object")
    name, ieee = e.get("friendly_name"), e.get("ieee_address")
    if not isinstance(name, str) or not isinstance(ieee, str):
        raise BridgeError("missing_field", f"entry {i} needs friendly_name and ieee_address")
    definition = e.get("definition")
    d: Mapping[str, Any] = definition if isinstance(definition, dict) else {}
    supported = e.get("supported", bool(d))
    return BridgeDevice(
        friendly_name=name[:256],
        ieee_address=ieee[:32],
        type=_text(e.get("type"), 32) or "Unknown",
        supported=supported is True,
        # not said: not reported as a problem
        interview_completed=e.get("interview_completed", True) is not False,
        disabled=e.get("disabled") is True,
        model=_text(d.get("model"), 64),
        vendor=_text(d.get("vendor"), 64),
    )


def parse_devices(payload: bytes) -> tuple[BridgeDevice, ...]:
    """`bridge/devices`: the gateway's paired devices; BridgeError for another shape."""
    if len(payload) > MAX_DEVICES_PAYLOAD:
        raise BridgeError("too_large", f"{len(payload)} bytes, limit {MAX_DEVICES_PAYLOAD}")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BridgeError("bad_json", str(exc)[:120]) from None
    if not isinstance(body, list):
        raise BridgeError("wrong_type", "bridge/devices must be a JSON list")
    if len(body) > MAX_DEVICES:
        raise BridgeError("out_of_range", f"{len(body)} devices, limit {MAX_DEVICES}")
    return tuple(_entry(e, i) for i, e in enumerate(body))


def decode_bridge(
    topic: str, base: str, sites: tuple[str, ...], state: bool, payload: bytes, received_ms: int
) -> Decoded:
    """A gateway's bridge/state (`state`) or bridge/devices for its sites, or a Rejection
    (of its site when the gateway is one site's)."""
    try:
        if not state:
            return BridgeDevices(base, sites, parse_devices(payload), received_ms)
        if len(payload) > MAX_STATE_PAYLOAD:
            raise BridgeError("too_large", f"{len(payload)} bytes, limit {MAX_STATE_PAYLOAD}")
        return BridgeState(base, sites, parse_state(payload), received_ms)
    except BridgeError as bad:
        site = sites[0] if len(sites) == 1 else None
        return Rejection(bad.reason, bad.detail, topic, payload, received_ms, site)


# --- the check ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gateway:
    """What the service last heard from one gateway (ingest/zigbee.py keeps it)."""

    base: str
    online: bool | None = None  # None: no bridge/state yet
    state_ms: int | None = None
    devices: tuple[BridgeDevice, ...] | None = None  # None: no bridge/devices yet
    devices_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ZigbeeCheck:
    """A site's registered Zigbee devices against its gateway's list of paired ones."""

    site: str
    base: str | None  # None: the site registered no Zigbee device
    registered: tuple[Device, ...]
    gateway: Gateway | None
    missing: tuple[Device, ...] = ()  # registered, not in the list: never heard from again
    unregistered: tuple[BridgeDevice, ...] = ()  # paired, not registered (Coordinator aside)
    not_interviewed: tuple[Device, ...] = ()  # Zigbee2MQTT does not know what it is yet
    unsupported: tuple[Device, ...] = ()  # no definition: Zigbee2MQTT publishes no state
    disabled: tuple[Device, ...] = ()  # disabled in Zigbee2MQTT: publishes nothing
    other_model: tuple[tuple[Device, str], ...] = ()  # registered model vs the gateway's

    def problems(self) -> bool:
        """Anything to look at."""
        return bool(
            self.missing
            or self.unregistered
            or self.not_interviewed
            or self.unsupported
            or self.disabled
            or self.other_model
        )


def check(
    site: str, base: str | None, under_base: Sequence[Device], gateway: Gateway | None
) -> ZigbeeCheck:
    """`under_base`: every Zigbee device registered under the base topic, by every site
    sharing the gateway (another site's device is not unregistered); the result is about
    `site`'s. Without the gateway's list only what is registered is said."""
    mine = tuple(d for d in under_base if d.site == site)
    if gateway is None or gateway.devices is None:
        return ZigbeeCheck(site, base, mine, gateway)
    paired = {b.friendly_name: b for b in gateway.devices}
    names = {d.friendly_name for d in under_base}
    found = [(d, paired[d.friendly_name]) for d in mine if d.friendly_name in paired]
    return ZigbeeCheck(
        site,
        base,
        mine,
        gateway,
        missing=tuple(d for d in mine if d.friendly_name not in paired),
        unregistered=tuple(
            b for b in gateway.devices if b.type != COORDINATOR and b.friendly_name not in names
        ),
        not_interviewed=tuple(d for d, b in found if not b.interview_completed),
        unsupported=tuple(d for d, b in found if b.interview_completed and not b.supported),
        disabled=tuple(d for d, b in found if b.disabled),
        other_model=tuple(
            (d, b.model)
            for d, b in found
            if d.model is not None and b.model is not None and b.model != d.model
        ),
    )


def site_check(
    registry: Registry, default_prefix: str, site: str, gateways: Mapping[str, Gateway]
) -> ZigbeeCheck:
    """`check` for one site, from the registry and the stored gateways by base topic."""
    bases = zigbee_bases(registry, default_prefix)
    base = next((b for b, sites in bases.items() if site in sites), None)
    if base is None:
        return ZigbeeCheck(site, None, (), None)
    sites = set(bases[base])
    under = [d for d in registry.zigbee_devices() if d.site in sites]
    return check(site, base, under, gateways.get(base))
