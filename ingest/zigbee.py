"""What Zigbee2MQTT said, kept in the engine's transaction (a BatchSink): each Zigbee
device's last level values, and each gateway's state and list of paired devices.

Levels (`zigbee_levels` of a Reading or DeviceEvent): the decoder turns a level's change
(`smoke` false -> true) into an event and remembers the level. Kept here with the batch
that carried it, they seed the decoder at the next start (carewatch/runtime.py), so a
`smoke: true` still standing after a restart (the retained or the next state message) is
no new alarm. They commit with the alert they raised: a message whose batch did not
commit is redelivered to a decoder that has not seen it either.

Gateways (`BridgeState`, `BridgeDevices`, devices/bridge.py): the last state and device
list of each base topic, for GET /api/zigbee. A list is checked against the registered
devices as it arrives and what does not match is logged: device ids and IEEE addresses
only (a friendly name may carry a resident's name).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import orjson

from devices.bridge import Gateway, ZigbeeCheck, site_check
from devices.model import BridgeDevice, BridgeDevices, BridgeState, DeviceEvent, Reading
from devices.ports import BatchItem
from devices.registry import Registry

log = logging.getLogger("carewatch.ingest.zigbee")


class ZigbeeBook:
    """BatchSink for Zigbee devices' levels and gateways' state and device lists."""

    def __init__(self, registry: Registry, default_prefix: str) -> None:
        self._registry = registry
        self._prefix = default_prefix  # the base topic of a site without its own

    def create_schema(self, conn: sqlite3.Connection) -> None:
        """The levels and gateways tables, if missing (BatchSink)."""
        conn.execute(
            "CREATE TABLE IF NOT EXISTS zigbee_levels ("
            " device_id TEXT PRIMARY KEY, site TEXT NOT NULL, levels TEXT NOT NULL,"
            " updated_ms INTEGER NOT NULL) WITHOUT ROWID"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS zigbee_gateways ("
            " base TEXT PRIMARY KEY, online INTEGER, state_ms INTEGER, devices TEXT,"
            " devices_ms INTEGER) WITHOUT ROWID"
        )

    def write(self, conn: sqlite3.Connection, items: Sequence[BatchItem]) -> None:
        """Store the batch's levels (every Zigbee state message carries them: a level
        whose commit was lost is written again by the next message) and gateway news."""
        levels = [
            (m.device_id, m.site, orjson.dumps(m.zigbee_levels).decode(), m.received_ms)
            for m in items
            if isinstance(m, Reading | DeviceEvent) and m.zigbee_levels
        ]
        if levels:
            conn.executemany(
                "INSERT INTO zigbee_levels(device_id, site, levels, updated_ms) VALUES (?,?,?,?)"
                " ON CONFLICT(device_id) DO UPDATE SET site = excluded.site,"
                " levels = excluded.levels, updated_ms = excluded.updated_ms",
                levels,
            )
        for m in items:
            if isinstance(m, BridgeState):
                self._state(conn, m)
            elif isinstance(m, BridgeDevices):
                self._devices(conn, m)

    def _state(self, conn: sqlite3.Connection, m: BridgeState) -> None:
        row = conn.execute(
            "SELECT online FROM zigbee_gateways WHERE base = ?", (m.base,)
        ).fetchone()
        if row is None or row[0] is None or bool(row[0]) != m.online:
            say = log.info if m.online else log.warning
            say(
                "zigbee gateway online" if m.online else "zigbee gateway offline",
                extra={"base": m.base, "sites": list(m.sites)},
            )
        conn.execute(
            "INSERT INTO zigbee_gateways(base, online, state_ms) VALUES (?,?,?)"
            " ON CONFLICT(base) DO UPDATE SET online = excluded.online,"
            " state_ms = excluded.state_ms",
            (m.base, int(m.online), m.received_ms),
        )

    def _devices(self, conn: sqlite3.Connection, m: BridgeDevices) -> None:
        data = orjson.dumps([asdict(d) for d in m.devices]).decode()
        conn.execute(
            "INSERT INTO zigbee_gateways(base, devices, devices_ms) VALUES (?,?,?)"
            " ON CONFLICT(base) DO UPDATE SET devices = excluded.devices,"
            " devices_ms = excluded.devices_ms",
            (m.base, data, m.received_ms),
        )
        gateway = {m.base: Gateway(m.base, devices=m.devices, devices_ms=m.received_ms)}
        for site in m.sites:
            c = site_check(self._registry, self._prefix, site, gateway)
            if not c.problems():
                log.info(
                    "zigbee gateway's devices match the site file",
                    extra={"site": site, "base": m.base, "devices": len(c.registered)},
                )
                continue
            log.warning(
                "zigbee gateway's devices do not match the site file",
                extra={
                    "site": site,
                    "base": m.base,
                    "missing": [d.id for d in c.missing],
                    "unregistered_ieee": [b.ieee_address for b in c.unregistered],
                    "not_interviewed": [d.id for d in c.not_interviewed],
                    "unsupported": [d.id for d in c.unsupported],
                    "disabled": [d.id for d in c.disabled],
                    "other_model": [d.id for d, _ in c.other_model],
                },
            )

    # --- reads --------------------------------------------------------------------------

    @staticmethod
    def levels(conn: sqlite3.Connection) -> dict[str, dict[str, str | bool]]:
        """Each Zigbee device's last level values by device id, to seed the decoder."""
        out: dict[str, dict[str, str | bool]] = {}
        for device_id, text in conn.execute("SELECT device_id, levels FROM zigbee_levels"):
            data = orjson.loads(text)
            out[device_id] = {k: v for k, v in data.items() if isinstance(v, str | bool)}
        return out

    def check(self, connect: Callable[[], sqlite3.Connection], site: str) -> ZigbeeCheck:
        """The site's Zigbee devices against what its gateway last said (a read
        connection from `connect`, closed after)."""
        conn = connect()
        try:
            gateways = self.gateways(conn)
        finally:
            conn.close()
        return site_check(self._registry, self._prefix, site, gateways)

    @staticmethod
    def gateways(conn: sqlite3.Connection) -> dict[str, Gateway]:
        """What each gateway last said, by base topic (none before the table exists)."""
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'zigbee_gateways'"
        ).fetchone()
        if found is None:
            return {}
        out = {}
        rows = conn.execute(
            "SELECT base, online, state_ms, devices, devices_ms FROM zigbee_gateways"
        )
        for base, online, state_ms, devices, devices_ms in rows:
            listed = None if devices is None else tuple(_device(d) for d in orjson.loads(devices))
            out[base] = Gateway(
                base, None if online is None else bool(online), state_ms, listed, devices_ms
            )
        return out


def _device(d: dict[str, Any]) -> BridgeDevice:
    return BridgeDevice(
        friendly_name=str(d["friendly_name"]),
        ieee_address=str(d["ieee_address"]),
        type=str(d.get("type", "Unknown")),
        supported=bool(d.get("supported")),
        interview_completed=bool(d.get("interview_completed", True)),
        disabled=bool(d.get("disabled")),
        model=d.get("model"),
        vendor=d.get("vendor"),
    )
