"""create_app(runtime): the PROTOCOL.md HTTP API and the screen, one router per domain
(alerts, devices, operations, screen, reports, i18n), each in its own module. Every read
route takes its caller's sites from dashboards.deps (tests/test_site_roles.py walks them)."""

from __future__ import annotations

from fastapi import FastAPI

from alerting.views import AlertView
from dashboards import reports
from dashboards.alerts import alerts_router
from dashboards.deps import AppRuntime
from dashboards.devices import devices_router
from dashboards.district import district_router
from dashboards.district_homes import home_beds_router
from dashboards.exports import router as exports_router
from dashboards.i18n import catalog_router
from dashboards.ops import ops_router
from dashboards.screen import STATIC, ScreenFiles, screen_router
from dashboards.zigbee import zigbee_router
from devices.catalog import load_catalog


def create_app(runtime: AppRuntime) -> FastAPI:
    """The app over one runtime; no global state (the runtime hangs on app.state)."""
    app = FastAPI(
        title="CareWatch", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    app.state.runtime = runtime
    app.mount("/static", ScreenFiles(directory=STATIC), name="static")
    app.include_router(catalog_router(load_catalog()))
    app.include_router(alerts_router(runtime, AlertView(runtime.registry, runtime.rules)))
    app.include_router(devices_router(runtime))
    app.include_router(zigbee_router(runtime))
    app.include_router(ops_router(runtime))
    app.include_router(screen_router(runtime))
    app.include_router(district_router(runtime))
    app.include_router(home_beds_router())
    app.include_router(reports.router)
    app.include_router(exports_router)
    return app
