"""create_app(runtime): the PROTOCOL.md HTTP API and the screen, one router per domain
(alerts, the call-centre console, devices, operations, screen, reports, i18n), each in its
own module. Every read route takes its caller's sites from dashboards.deps
(tests/test_site_roles.py walks them)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from alerting.views import AlertView
from dashboards import reports
from dashboards.alerts import alerts_router
from dashboards.console import console_router
from dashboards.deps import ApiError, AppRuntime
from dashboards.devices import devices_router
from dashboards.district import district_router
from dashboards.district_homes import home_beds_router
from dashboards.equipment import equipment_router
from dashboards.exports import router as exports_router
from dashboards.hazards import hazards_router
from dashboards.i18n import catalog_router
from dashboards.ops import ops_router
from dashboards.rounds import rounds_router
from dashboards.screen import STATIC, ScreenFiles, screen_router
from dashboards.visits import visits_router
from dashboards.zigbee import zigbee_router
from devices.catalog import load_catalog


def create_app(runtime: AppRuntime) -> FastAPI:
    """The app over one runtime; no global state (the runtime hangs on app.state)."""
    app = FastAPI(
        title="CareWatch", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    app.state.runtime = runtime
    app.add_exception_handler(ApiError, _coded)
    app.mount("/static", ScreenFiles(directory=STATIC), name="static")
    app.include_router(catalog_router(load_catalog()))
    alert_json = AlertView(runtime.registry, runtime.rules)
    app.include_router(alerts_router(runtime, alert_json))
    app.include_router(console_router(runtime, alert_json))
    app.include_router(devices_router(runtime))
    app.include_router(equipment_router(runtime))
    app.include_router(zigbee_router(runtime))
    app.include_router(ops_router(runtime))
    app.include_router(screen_router(runtime))
    app.include_router(district_router(runtime))
    app.include_router(home_beds_router())
    app.include_router(reports.router)
    app.include_router(exports_router)
    visiting = getattr(runtime, "visiting", None)  # a service's; a test's runtime may lack it
    if visiting is not None:
        app.include_router(visits_router(runtime, visiting))
    hazarding = getattr(runtime, "hazarding", None)  # likewise: the hazard register
    if hazarding is not None:
        app.include_router(hazards_router(runtime, hazarding))
    patrols = getattr(runtime, "patrols", None)  # fire patrols (carewatch/patrols.py)
    if patrols is not None:
        app.include_router(rounds_router(runtime, patrols))
    return app


async def _coded(_request: Request, exc: Exception) -> JSONResponse:
    """An ApiError's body: the human `detail` and the machine `code` (dashboards/deps.py)."""
    assert isinstance(exc, ApiError)
    return JSONResponse(
        {"detail": exc.detail, "code": exc.code}, exc.status_code, headers=exc.headers
    )
