"""Operations: the notification delivery log, dead letters, liveness and readiness, and
Prometheus metrics: what IT and integrators look at, not the carers. The log and the dead
letters show the caller's sites; the metrics count the whole service, so they are for a
caller of every site; the probes are open."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alerting.views import iso
from dashboards.deps import AppRuntime, Reader, Sites, sites_of


def ops_router(runtime: AppRuntime) -> APIRouter:
    """The operations routes over `runtime`."""
    ops = APIRouter(tags=["operations"])

    @ops.get("/api/notifications")
    def notifications(
        scope: Sites,
        target: str | None = None,
        alert_id: int | None = None,
        state: Literal["pending", "delivered", "failed"] | None = None,
        limit: int = Query(100, ge=1, le=1000),
    ) -> Any:
        """The delivery log of webhooks and the MQTT alert topic, newest first."""
        return [
            {
                **n,
                "alert_id": str(n["alert_id"]),  # as in /api/alerts
                "created_at": iso(n.pop("created_ms")),
                "next_at": iso(n.pop("next_ms")),
                "delivered_at": iso(n.pop("delivered_ms")),
            }
            for n in runtime.notifications(
                target, alert_id, state, limit, None if scope.whole else scope.of_alerts()
            )
        ]

    @ops.get("/api/dead-letters")
    def dead_letters(
        scope: Sites, reason: str | None = None, limit: int = Query(100, ge=1, le=1000)
    ) -> Any:
        """The newest rejected messages under the caller's sites' topics (those of no
        watched site: for callers of the whole service)."""
        return [
            {**d, "received_at": iso(d.pop("received_ms"))}
            for d in runtime.dead_letters(limit, reason, scope.of_rows())
        ]

    @ops.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @ops.get("/readyz")
    def readyz() -> JSONResponse:
        checks = runtime.health()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @ops.get("/metrics")
    def metrics(caller: Reader) -> Response:
        """The whole service's counters: for a caller of every site (403 otherwise)."""
        if len(sites_of(runtime.registry, caller)) != len(runtime.registry.sites):
            raise HTTPException(403, "the metrics cover every site: a token of every site")
        return Response(generate_latest(runtime.metrics), media_type=CONTENT_TYPE_LATEST)

    return ops
