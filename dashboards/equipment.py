"""GET /api/equipment: the site's fire equipment by floor, each device with the state it shows
(alerting/equipment.py says which rule shows what, and which state wins), for the duty
screen's fire-equipment tab and the fire-safety manager's round of the panel.

Three reads of the store per call (the site's open alerts, the maintenance table, the
device links), whatever the number of devices; the screen asks again when an alert of a
fire device changes (its alert stream says so), not on a timer of its own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from alerting.equipment import site_equipment
from dashboards.deps import AppRuntime, Sites

OPEN_LIMIT = 100_000  # open alerts read per call (a site holds far fewer)


def equipment_router(runtime: AppRuntime) -> APIRouter:
    """The fire-equipment route over `runtime`."""
    router = APIRouter(prefix="/api/equipment", tags=["equipment"])

    @router.get("")
    def equipment(scope: Sites) -> dict[str, Any]:
        """One site's fire equipment by floor with the counts per state (docs/protocol.md):
        `?site=` or the caller's only site; another site's is 403."""
        site = scope.one()
        view = site_equipment(
            runtime.registry,
            site,
            runtime.alerts.find("open", OPEN_LIMIT, [site]),
            runtime.alerts.maintenance(),
            runtime.alerts.device_states(),
            runtime.clock.now_ms(),
        )
        return view.as_json()

    return router
