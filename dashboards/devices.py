"""/api/devices: registered devices with their health, maintenance (out of service),
devices publishing without being registered, and one field's stored readings; of the
caller's sites only (another site's device is 403)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query

from alerting.items import DeviceCommand
from alerting.views import iso
from dashboards.deps import (
    Admin,
    AppRuntime,
    Caller,
    Reader,
    Sites,
    check_site,
    parse_time,
    run,
    who,
)
from dashboards.schemas import MaintenanceAction, OperatorAction
from devices.ports import Series
from devices.registry import Device


def devices_router(runtime: AppRuntime) -> APIRouter:
    """The device routes over `runtime`."""
    reg = runtime.registry
    devices = APIRouter(prefix="/api/devices", tags=["devices"])

    def device_of(device_id: str, caller: Caller) -> Device:
        """The device, if the caller works on its site: 404 unknown, 403 another site's."""
        dev = reg.by_id(device_id)
        if dev is None:
            raise HTTPException(404, "no such device")
        check_site(caller, dev.site)
        return dev

    @devices.get("")
    def list_devices(scope: Sites) -> list[dict[str, Any]]:
        states = runtime.alerts.device_states()
        maintenance = runtime.alerts.maintenance()
        out = []
        for d in (d for site in scope.ids for d in reg.devices(site)):
            seen, online = states.get((d.site, d.id), (None, None))
            m = maintenance.get((d.site, d.id))
            out.append(
                {
                    "id": d.id,
                    "site": d.site,
                    "type": d.type.name,
                    "room": d.room,
                    "floor": d.floor,
                    "bed": d.bed,
                    "label": d.label,
                    "resident_name": reg.resident_name(d.site, d.resident),
                    "online": None if online is None else bool(online),
                    "last_seen": iso(seen),
                    "maintenance_until": iso(m["until"]) if m else None,
                }
            )
        return out

    @devices.post("/{device_id}/maintenance")
    def start_maintenance(
        device_id: str, body: MaintenanceAction, identity: Admin
    ) -> dict[str, Any]:
        """Out of service: its messages are kept but raise nothing, supervision pauses."""
        device_of(device_id, identity)
        by = who(identity, body)
        run(
            runtime, DeviceCommand("maintenance_start", device_id, by, body.note, body.minutes * 60)
        )
        return {"device_id": device_id, "maintenance": True}

    @devices.post("/{device_id}/maintenance/end")
    def end_maintenance(device_id: str, body: OperatorAction, identity: Admin) -> dict[str, Any]:
        device_of(device_id, identity)
        run(runtime, DeviceCommand("maintenance_end", device_id, who(identity, body), body.note))
        return {"device_id": device_id, "maintenance": False}

    @devices.get("/unregistered")
    def unregistered(scope: Sites) -> list[dict[str, Any]]:
        """Devices that publish without being registered, under the caller's sites' topics
        (under a site this service does not watch: for callers of the whole service)."""
        return [
            {
                **u,
                "first_seen": iso(u.pop("first_seen_ms")),
                "last_seen": iso(u.pop("last_seen_ms")),
            }
            for u in runtime.unknown_devices(scope.of_rows())
        ]

    @devices.get("/{device_id}/readings")
    def readings(
        device_id: str,
        caller: Reader,
        field: str = Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
        since: str | None = None,
        until: str | None = None,
        limit: int = Query(10_000, ge=1, le=100_000),
    ) -> dict[str, Any]:
        dev = device_of(device_id, caller)
        now = int(datetime.now(UTC).timestamp() * 1000)
        until_ms = parse_time(until, now)
        since_ms = parse_time(since, until_ms - 3_600_000)
        points = runtime.readings().readings(
            Series(dev.site, dev.id, dev.type.name, field, since_ms, until_ms, limit)
        )
        spec = dev.type.fields.get(field)
        return {
            "device_id": dev.id,
            "field": field,
            "unit": spec.unit if spec else None,
            "points": [{"ts": iso(p.ts_ms), "value": p.value} for p in points],
        }

    return devices
