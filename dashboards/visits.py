"""Welfare visits (巡访) over HTTP, and the phone page community workers record them on
(GET /visit): a worker's PIN gives a short session (dashboards/workers.py) that lists her
residents due or overdue and records a visit of her own home beds; staff read the month's
visits of their sites, and a duty caller may record a visit for a worker (a paper record
typed in). A visit that cannot be recorded is a 4xx that says why; nothing accepted is
lost (alerting/visits.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from alerting.views import iso
from alerting.visits import OUTCOMES, Due, Visit, VisitDesk, VisitError
from dashboards.access import Worker
from dashboards.auth import RANK, READ_ONLY, LoginError
from dashboards.deps import (
    AUTH,
    AppRuntime,
    Sites,
    caller_of,
    check_site,
    parse_time,
    site_scope,
)
from dashboards.screen import STATIC
from dashboards.workers import WorkerAuth


class VisitService(Protocol):
    """What the routes need of the service's visits (carewatch/visiting.py)."""

    desk: VisitDesk
    workers: WorkerAuth

    def recorded(self, site: str) -> None:
        """A visit of `site` was recorded: check its plan now (clears `visit_missed`)."""


class VisitLogin(BaseModel):
    worker_id: str = Field(min_length=1, max_length=32)
    pin: str = Field(min_length=4, max_length=12, pattern=r"^[0-9]+$")


class VisitRecord(BaseModel):
    site: str = Field(min_length=1, max_length=64)
    resident: str = Field(min_length=1, max_length=32)
    outcome: Literal["visited", "not_home", "refused"] = Field(
        "visited", description="visited; not_home (nobody opened); refused (she said no)"
    )
    at: str | int | None = Field(
        None, description="when (RFC 3339 or epoch ms); default now. Not in the future"
    )
    note: str | None = Field(None, max_length=500)
    worker: str | None = Field(
        None, max_length=32, description="whose visit: required with a staff token"
    )


def _month(value: str | None, now_ms: int, tz: Any) -> tuple[int, int]:
    """[start, end) in ms of the month `YYYY-MM` (default: this one) in the site's zone."""
    now = datetime.fromtimestamp(now_ms / 1000, tz)
    year, month = now.year, now.month
    if value:
        try:
            year, month = (int(p) for p in value.split("-"))
            datetime(year, month, 1)
        except ValueError:
            raise HTTPException(422, f"month: {value!r} is not YYYY-MM") from None
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def visits_router(runtime: AppRuntime, service: VisitService) -> APIRouter:
    """The visits routes and the phone page over `runtime` and its visits."""
    reg = runtime.registry
    desk, workers = service.desk, service.workers
    router = APIRouter(tags=["visits"])

    def worker_of(request: Request, authorization: str | None) -> Worker | None:
        """The worker of a `w.` session token; 401 for one expired or forged; None for
        any other caller."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        if not token.startswith("w."):
            return None
        worker = workers.verify(token)
        if worker is None:
            raise HTTPException(401, "session expired; log in again / 请重新登录", AUTH)
        return worker

    def visit_json(v: Visit) -> dict[str, Any]:
        return {
            "id": v.id,
            "site": v.site,
            "resident": v.resident,
            "worker": v.worker,
            "at": iso(v.at_ms),
            "recorded_at": iso(v.recorded_ms),
            "outcome": v.outcome,
            "note": v.note,
        }

    def due_json(d: Due) -> dict[str, Any]:
        site = reg.sites[d.site]
        resident = reg.resident(d.site, d.resident)
        tz = runtime.rules.tz(d.site)
        return {
            "site": d.site,
            "site_name": site.name,
            "address": site.address,
            "resident": d.resident,
            "name": resident.display_name if resident else d.resident,
            "worker": d.worker,
            "every_days": d.every_days,
            "last_visit_at": iso(d.last_ms),
            "last_visit_date": None
            if d.last_ms is None
            else datetime.fromtimestamp(d.last_ms / 1000, tz).date().isoformat(),
            "due_at": iso(d.due_ms),
            "due_date": datetime.fromtimestamp(d.due_ms / 1000, tz).date().isoformat(),
            "status": d.status,
            "missed": d.missed,
        }

    @router.post("/api/visits/session")
    def login(body: VisitLogin) -> dict[str, Any]:
        """A community worker's id and PIN -> a session token for her round (4 h)."""
        try:
            s = workers.login(body.worker_id, body.pin)
        except LoginError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        return {
            "token": s.token,
            "worker_id": s.worker.id,
            "name": s.worker.name,
            "sites": sorted(s.worker.sites),
            "expires_at": iso(s.expires_ms),
        }

    @router.post("/api/visits", status_code=201)
    def record(
        body: VisitRecord,
        request: Request,
        response: Response,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        """Record a visit: a worker's own (her session), or a worker's by a duty caller of
        the site (`worker` given). 201 new; 200 when the same visit was recorded before
        (a retry); 422 unknown site, resident or outcome, a time in the future; 403 a site
        the worker does not visit."""
        worker = worker_of(request, authorization)
        if worker is not None:
            if body.worker not in (None, worker.id):
                raise HTTPException(403, "a worker records her own visits")
            worker_id = worker.id
        else:
            caller = caller_of(request, authorization)
            if caller is None:
                raise HTTPException(401, "log in with worker id and PIN", AUTH)
            if caller.role in READ_ONLY or RANK[caller.role] < RANK["duty"]:
                raise HTTPException(403, "needs the duty role")
            check_site(caller, body.site)
            if not body.worker:
                raise HTTPException(422, "`worker` (the worker's id) is required with a token")
            worker_id = body.worker
        at_ms = parse_time(None if body.at is None else str(body.at), runtime.clock.now_ms())
        try:
            visit, new = desk.record(body.site, body.resident, worker_id, at_ms,
                                     body.outcome, body.note)  # fmt: skip
        except VisitError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        service.recorded(visit.site)
        if not new:
            response.status_code = 200
        return visit_json(visit)

    @router.get("/api/visits")
    def listing(
        scope: Sites,
        month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
    ) -> list[dict[str, Any]]:
        """The visits of the caller's sites (or `?site=`) in a month (`?month=YYYY-MM`,
        default this one, in each site's time zone), oldest first."""
        now = runtime.clock.now_ms()
        out: list[dict[str, Any]] = []
        for sid in scope.ids:
            start, end = _month(month, now, runtime.rules.tz(sid))
            out += [visit_json(v) for v in desk.visits([sid], start, end)]
        return sorted(out, key=lambda v: (v["at"], v["id"]))

    @router.get("/api/visits/due")
    def due(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
        site: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """The planned residents of a worker's home beds (her session) with each visit's
        status (ok, due, overdue; `missed` once `visit_missed` is raised), most overdue
        first, with address and name for her round. A staff caller reads her sites'."""
        worker = worker_of(request, authorization)
        if worker is not None:
            sites = [s for s in desk.planned_sites() if s in worker.sites]
        else:
            sites = [
                s for s in site_scope(request, authorization, site).ids
                if s in desk.planned_sites()
            ]  # fmt: skip
        return [due_json(d) for d in desk.due(sites)]

    @router.get("/visit", include_in_schema=False)
    def page() -> FileResponse:
        """The workers' phone page: one small file, no framework, no outside resource."""
        return FileResponse(STATIC / "visit.html", headers={"Cache-Control": "no-cache"})

    return router


__all__ = ["OUTCOMES", "VisitService", "visits_router"]
