"""/api/zigbee: each of the caller's sites' Zigbee2MQTT gateway watched as a system: its
state (bridge/state) and its paired devices (bridge/devices) against the devices the site
registered (devices/bridge.py). A registered device missing from the gateway's list is
never heard from again (CareWatch reads it by its friendly name); a paired one not
registered is read by nobody."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from alerting.views import iso
from dashboards.deps import AppRuntime, Sites
from devices.bridge import ZigbeeCheck
from devices.registry import Device


def _device(d: Device) -> dict[str, Any]:
    return {"id": d.id, "friendly_name": d.friendly_name, "model": d.model, "room": d.room}


def site_view(c: ZigbeeCheck) -> dict[str, Any]:
    """One site's check as the API shows it; `gateway` null before the gateway said
    anything (or without Zigbee devices), `paired` null before its list came."""
    g = c.gateway
    return {
        "site": c.site,
        "base_topic": c.base,
        "gateway": None
        if g is None
        else {
            "online": g.online,
            "state_at": iso(g.state_ms),
            "devices_at": iso(g.devices_ms),
            "paired": None if g.devices is None else len(g.devices),
        },
        "registered": len(c.registered),
        "missing": [_device(d) for d in c.missing],
        "unregistered": [
            {
                "friendly_name": b.friendly_name,
                "ieee_address": b.ieee_address,
                "type": b.type,
                "model": b.model,
                "vendor": b.vendor,
            }
            for b in c.unregistered
        ],
        "not_interviewed": [_device(d) for d in c.not_interviewed],
        "unsupported": [_device(d) for d in c.unsupported],
        "disabled": [_device(d) for d in c.disabled],
        "other_model": [{**_device(d), "gateway_model": m} for d, m in c.other_model],
    }


def zigbee_router(runtime: AppRuntime) -> APIRouter:
    """The Zigbee gateway route over `runtime`."""
    router = APIRouter(prefix="/api/zigbee", tags=["devices"])

    @router.get("")
    def zigbee(scope: Sites) -> list[dict[str, Any]]:
        """One entry per site of the caller (`?site=`: that one); a site without Zigbee
        devices has `base_topic` null."""
        return [site_view(runtime.zigbee(site)) for site in scope.ids]

    return router
