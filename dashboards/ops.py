"""Operations: the notification delivery log, dead letters, liveness and readiness, and
Prometheus metrics: what IT and integrators look at, not the carers."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alerting.views import iso
from dashboards.deps import AppRuntime, reader


def ops_router(runtime: AppRuntime) -> APIRouter:
    """The operations routes over `runtime`."""
    ops = APIRouter(tags=["operations"])

    @ops.get("/api/notifications", dependencies=[Depends(reader)])
    def notifications(
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
            for n in runtime.notifications(target, alert_id, state, limit)
        ]

    @ops.get("/api/dead-letters", dependencies=[Depends(reader)])
    def dead_letters(reason: str | None = None, limit: int = Query(100, ge=1, le=1000)) -> Any:
        return [
            {**d, "received_at": iso(d.pop("received_ms"))}
            for d in runtime.dead_letters(limit, reason)
        ]

    @ops.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @ops.get("/readyz")
    def readyz() -> JSONResponse:
        checks = runtime.health()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @ops.get("/metrics", dependencies=[Depends(reader)])
    def metrics() -> Response:
        return Response(generate_latest(runtime.metrics), media_type=CONTENT_TYPE_LATEST)

    return ops
