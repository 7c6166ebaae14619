"""Decode the CareWatch MQTT contract (PROTOCOL.md) into validated messages or a Rejection.

Pure: no I/O, the receive time is passed in. Every bad input becomes a Rejection with a
stable reason (counted in /metrics, kept in the dead-letter log); nothing raises.

Also read: Zigbee2MQTT topics of registered devices (devices/zigbee.py maps them) and of
their gateways (devices/bridge.py), and raw acceleration in wearables' telemetry
(devices/falls.py finds falls in it). Both keep a little memory per device (the last level
values, the last seconds of acceleration); it is only ever touched from the one thread
that decodes. The level values go out with each message (`zigbee_levels`), are stored
with its batch and seed the next decoder (`levels`), so a restart remembers them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from devices.bridge import DEVICES, STATE, decode_bridge, zigbee_bases
from devices.falls import AccelError, FallSettings, FallWatch, parse_accel
from devices.model import (
    Decoded,
    DeviceEvent,
    DeviceStatus,
    MessageKind,
    Reading,
    Rejection,
    Scalar,
)
from devices.payload import (
    MAX_EVENT_ID,
    MAX_PAYLOAD,
    Bad,
    event_attrs,
    fields_of,
    load_body,
    parse_ts,
    seq_of,
)
from devices.registry import Device, Registry
from devices.siteconfig import DEVICE_PATTERN, SITE_PATTERN
from devices.zigbee import Z2MValue, map_state, parse_availability, profile_for

# Stable reason names: /metrics labels and the dead-letter log use them.
REASONS = (
    "too_large",
    "bad_encoding",
    "bad_json",
    "not_object",
    "bad_topic",
    "unregistered_device",
    "wrong_site",  # a device registered in one site publishing under another's topic
    "missing_field",
    "wrong_type",
    "not_finite",
    "out_of_range",
    "unknown_event",
)

_SITE = re.compile(SITE_PATTERN)
_DEVICE = re.compile(DEVICE_PATTERN)
Lane = Literal["all", "events", "telemetry"]
_KINDS = frozenset(k.value for k in MessageKind)


class Decoder:
    """Topic + payload -> Reading | DeviceEvent | DeviceStatus | Rejection."""

    def __init__(
        self,
        registry: Registry,
        prefix: str = "carewatch/v1",
        zigbee_prefix: str = "zigbee2mqtt",
        falls: FallSettings | None = None,
        levels: Mapping[str, Mapping[str, Z2MValue]] | None = None,
    ) -> None:
        """`levels`: each Zigbee device's last level values by device id, as stored
        (ingest/zigbee.py), so a level still standing after a restart is no new event."""
        self._registry = registry
        self._prefix = prefix.rstrip("/") + "/"
        # each site's Zigbee2MQTT base topic (its own gateway) or the service's
        self._zprefixes = {
            sid: (site.zigbee_prefix or zigbee_prefix).rstrip("/") + "/"
            for sid, site in registry.sites.items()
        }
        # each base topic -> its site when only one site uses it (for rejections)
        self._zbases: dict[str, str | None] = {}
        for sid, base in self._zprefixes.items():
            self._zbases[base] = sid if base not in self._zbases else None
        # the full Zigbee2MQTT topic of each registered device -> (device, availability?)
        self._zigbee: dict[str, tuple[Device, bool]] = {}
        for d in registry.zigbee_devices():
            if d.friendly_name:
                base = self._zprefixes[d.site] + d.friendly_name
                self._zigbee[base] = (d, False)
                self._zigbee[base + "/availability"] = (d, True)
        known = levels or {}
        self._zstate: dict[str, dict[str, Z2MValue]] = {
            d.id: dict(known[d.id]) for d in registry.zigbee_devices() if d.id in known
        }
        # each gateway's own topics -> (base topic, the sites it carries, bridge/state?)
        self._bridges: dict[str, tuple[str, tuple[str, ...], bool]] = {}
        for base, zsites in zigbee_bases(registry, zigbee_prefix).items():
            self._bridges[f"{base}/{STATE}"] = (base, zsites, True)
            self._bridges[f"{base}/{DEVICES}"] = (base, zsites, False)
        self._falls = FallWatch(falls)
        self._routes: dict[str, tuple[str, str, str, Device]] = {}

    def subscriptions(self, lane: Lane = "all") -> list[str]:
        """The topics to subscribe to. Lanes split them over two MQTT sessions so that
        alarms never queue behind telemetry at the broker: "events" has device events,
        Zigbee2MQTT state (where a smoke alarm arrives) and the gateways' bridge/state and
        bridge/devices (retained: never a shared subscription), "telemetry" readings,
        status and Zigbee2MQTT availability."""
        # the watched sites only: a service never takes another deployment's messages
        sites = self._registry.site_ids()
        events = [f"{self._prefix}{site}/+/{MessageKind.EVENT.value}" for site in sites]
        telemetry = [
            f"{self._prefix}{site}/+/{kind.value}"
            for site in sites
            for kind in (MessageKind.TELEMETRY, MessageKind.STATUS)
        ]
        for topic, (_, availability) in sorted(self._zigbee.items()):
            # only registered ones: not the home's light bulbs
            (telemetry if availability else events).append(topic)
        events += sorted(self._bridges)
        if lane == "events":
            return events
        if lane == "telemetry":
            return telemetry
        return [*events, *telemetry]

    def is_own(self, topic: str) -> bool:
        """The watch's own status topic of a watched site (`<prefix>/<site>/service/status`,
        ingest/status.py): it matches the device status subscription, and is no device's."""
        if not topic.endswith("/service/status") or not topic.startswith(self._prefix):
            return False
        site = topic[len(self._prefix) : -len("/service/status")]
        return site in self._registry.sites

    def _route(self, topic: str) -> tuple[str, str, str, Device]:
        """A topic's site, device, kind and registered device; remembered (a registered
        device's topics only, so at most three per device)."""
        if not topic.startswith(self._prefix):
            raise Bad("bad_topic", "topic outside the CareWatch prefix")
        parts = topic[len(self._prefix) :].split("/")
        if len(parts) != 3:
            raise Bad("bad_topic", "expected {site}/{device}/{kind}")
        site, device_id, kind = parts
        if not _SITE.fullmatch(site) or not _DEVICE.fullmatch(device_id):
            raise Bad("bad_topic", "site or device id has characters not allowed", site, device_id)
        if kind not in _KINDS:
            raise Bad("bad_topic", f"unknown message kind {kind[:32]!r}", site, device_id)
        device = self._registry.get(site, device_id)
        if device is None:
            elsewhere = self._registry.by_id(device_id)
            if elsewhere is not None:  # a device of one site publishing under another's
                raise Bad(
                    "wrong_site",
                    f"device is registered in site {elsewhere.site}, not {site}",
                    site,
                    device_id,
                )
            raise Bad("unregistered_device", "device is not in the site registry", site, device_id)
        route = (site, device_id, kind, device)
        self._routes[topic] = route
        return route

    def decode(self, topic: str, payload: bytes, received_ms: int) -> Decoded:
        """One MQTT message as a Reading, DeviceEvent or DeviceStatus, or a Rejection with a stable
        reason; never raises. One thread only: it keeps per-device memory."""
        zigbee = self._zigbee.get(topic) if self._zigbee else None
        if zigbee is not None:
            return self._decode_zigbee(topic, zigbee[0], zigbee[1], payload, received_ms)
        if self._zigbee and not topic.startswith(self._prefix):
            bridge = self._bridges.get(topic)
            if bridge is not None:
                return decode_bridge(topic, *bridge, payload, received_ms)
            for base, zsite in self._zbases.items():
                if topic.startswith(base):
                    name = topic[len(base) :].removesuffix("/availability")[:64]
                    detail = "no zigbee2mqtt device of that friendly name"
                    return Rejection(
                        "unregistered_device", detail, topic, payload, received_ms, zsite, name
                    )
        site: str | None = None
        device_id: str | None = None
        try:
            route = self._routes.get(topic)
            if route is None:
                site, device_id, kind, device = self._route(topic)
            else:
                site, device_id, kind, device = route
            body = load_body(payload)
            dtype = device.type
            ts, skewed = parse_ts(body.get("ts"), received_ms)
            if kind == MessageKind.TELEMETRY:
                accel = body.pop("accel", None) if dtype.raw_accel else None
                fields = fields_of(dtype, body)
                if accel is not None:
                    fall = self._accel(device, accel, body, ts, fields, received_ms, skewed)
                    if fall is not None:
                        return fall
                return Reading(
                    site,
                    device_id,
                    dtype.name,
                    ts,
                    fields,
                    received_ms,
                    skewed,
                    seq_of(body.get("seq")),
                )
            if kind == MessageKind.STATUS:
                online = body.get("online")
                if online is None:
                    raise Bad("missing_field", "status needs 'online'")
                if not isinstance(online, bool):
                    raise Bad("wrong_type", "online must be true or false")
                return DeviceStatus(site, device_id, dtype.name, ts, online, received_ms, skewed)
            event = body.get("event")
            if event is None:
                raise Bad("missing_field", "event needs 'event'")
            if not isinstance(event, str):
                raise Bad("wrong_type", "event must be text")
            if event not in dtype.events:
                raise Bad("unknown_event", f"{dtype.name} has no event {event[:32]!r}")
            event_id = body.get("id")
            if event_id is not None and (not isinstance(event_id, str) or not event_id):
                raise Bad("wrong_type", "id must be non-empty text")
            if event_id is not None and len(event_id) > MAX_EVENT_ID:
                raise Bad("out_of_range", f"id longer than {MAX_EVENT_ID} characters")
            attrs = event_attrs(dtype, event, body)
            # without an id, an event is known by its time, name and what it must name (a
            # panel's point, a reader's tag): two detectors' fires in one second are two
            where = "".join(f":{attrs[n]}" for n in dtype.events[event].required)
            key = f"id:{event_id}" if event_id else f"ts:{ts}:{event}{where}"
            return DeviceEvent(
                site,
                device_id,
                dtype.name,
                ts,
                event,
                key,
                received_ms,
                attrs,
                skewed,
                seq_of(body.get("seq")),
            )
        except Bad as bad:
            site, device_id = site or bad.site, device_id or bad.device_id
            return Rejection(bad.reason, bad.detail, topic, payload, received_ms, site, device_id)

    # --- raw acceleration (docs/protocol.md, "Raw acceleration") -------------------------

    def _accel(
        self,
        device: Device,
        accel: Any,
        body: dict[str, Any],
        ts: int,
        fields: dict[str, Scalar],
        received_ms: int,
        skewed: bool,
    ) -> DeviceEvent | None:
        """A fall found in this window (joined to the device's previous ones), or None."""
        key = (device.site, device.id)
        t0 = ts
        if isinstance(accel, dict) and accel.get("t0") is not None:
            t0, t0_skewed = parse_ts(accel["t0"], received_ms)
            if t0_skewed:
                t0 = ts
        try:
            window = parse_accel(accel, t0)
        except AccelError as exc:
            raise Bad(exc.reason, exc.detail) from None
        if fields.get("worn") is False:
            self._falls.forget(key)  # a pendant dropped on the floor is not a fall
            return None
        found = self._falls.feed(key, window)
        if not found:
            return None
        f = found[0]
        attrs: dict[str, Scalar] = {
            **fields,
            "detector": "server",
            "impact_g": f.impact_g,
            "free_fall_g": f.free_fall_g,
            "still_std_g": f.still_std_g,
        }
        if f.posture_change_deg is not None:
            attrs["posture_change_deg"] = round(f.posture_change_deg, 1)
        return DeviceEvent(
            device.site,
            device.id,
            device.type.name,
            f.ts_ms,
            "fall",
            f"accel:{f.ts_ms}",  # the impact's time: the same for a redelivered window
            received_ms,
            attrs,
            skewed,
            seq_of(body.get("seq")),
        )

    # --- Zigbee2MQTT (docs/protocol.md, "Zigbee2MQTT") -----------------------------------

    def _decode_zigbee(
        self, topic: str, device: Device, availability: bool, payload: bytes, received_ms: int
    ) -> Decoded:
        site = device.site
        try:
            if len(payload) > MAX_PAYLOAD:
                raise Bad("too_large", f"{len(payload)} bytes, limit {MAX_PAYLOAD}")
            dtype = device.type
            if availability:
                online = parse_availability(payload)
                if online is None:
                    raise Bad("wrong_type", 'availability is "online"/"offline" or {"state": ...}')
                return DeviceStatus(site, device.id, dtype.name, received_ms, online, received_ms)
            body = load_body(payload)
            # `last_seen` (Zigbee2MQTT's advanced.last_seen) is the device's time; without
            # it the receive time is the message's time, as Zigbee2MQTT means it
            ts, skewed = received_ms, False
            if body.get("last_seen") is not None:
                try:
                    ts, skewed = parse_ts(body["last_seen"], received_ms)
                except Bad:
                    ts, skewed = received_ms, True  # e.g. ISO_8601_local: no time zone
            profile = profile_for(dtype.name, device.model)
            assert profile is not None, "the registry checked it at load"
            mapped = map_state(profile, dtype, body, self._zstate.get(device.id, {}))
            self._zstate[device.id] = mapped.state
            levels = mapped.state or None  # every message: a commit lost on the way heals
            if mapped.event is None:
                return Reading(
                    site, device.id, dtype.name, ts, mapped.fields, received_ms, skewed,
                    zigbee_levels=levels,
                )  # fmt: skip
            return DeviceEvent(
                site,
                device.id,
                dtype.name,
                ts,
                mapped.event,
                f"ts:{ts}:{mapped.event}",
                received_ms,
                {**mapped.fields, **mapped.attrs},
                skewed,
                zigbee_levels=levels,
            )
        except Bad as bad:
            return Rejection(bad.reason, bad.detail, topic, payload, received_ms, site, device.id)
