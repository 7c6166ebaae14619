"""Fire patrols (防火巡查) over HTTP, and the phone page staff check in on (GET /patrol):
`GET /api/rounds` (each route's round in progress, its checkpoints done / due / late /
missed, the next round), `POST /api/rounds/checkins` (a check-in at a checkpoint's tag,
its checklist answered; a "problem" opens a hazard in the same write) and
`GET /api/rounds/checkins`. A staff PIN session (POST /api/session) checks in as herself
at her own site; a duty token names the staff member (`by`). Refusals are a 4xx that says
why (alerting/checkins.py); nothing accepted is lost."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from alerting.checkins import Checkin, CheckinError, RoundDesk
from alerting.rounds import RoundStatus
from alerting.views import iso
from dashboards.auth import RANK, READ_ONLY
from dashboards.deps import (
    AUTH,
    ApiError,
    AppRuntime,
    Sites,
    caller_of,
    check_site,
    parse_time,
)
from dashboards.screen import STATIC
from devices.rounds import RouteConfig

DAY_MS = 86_400_000


class RoundService(Protocol):
    """What the routes need of the service's patrols (carewatch/patrols.py)."""

    desk: RoundDesk

    def checked_in(self, site: str) -> None:
        """A check-in of `site` was saved: check its rounds now (clears `round_missed`)."""


class CheckinBody(BaseModel):
    site: str = Field(min_length=1, max_length=64)
    tag: str = Field(min_length=1, max_length=128)
    answers: dict[str, Literal["ok", "problem"]] = Field(
        default_factory=dict, description="checklist item -> ok | problem"
    )
    note: str | None = Field(None, max_length=500)
    client_id: str | None = Field(
        None, min_length=8, max_length=64, description="the phone's id of this check-in: a"
        " retry with the same id is refused as a replay (409), never counted twice"
    )  # fmt: skip
    by: str | None = Field(None, max_length=32, description="staff id: required with a token")


def rounds_router(runtime: AppRuntime, service: RoundService) -> APIRouter:
    """The rounds routes and the phone page over `runtime` and its patrols."""
    desk = service.desk
    router = APIRouter(tags=["rounds"])

    def checkin_json(c: Checkin) -> dict[str, Any]:
        return {
            "id": c.id,
            "site": c.site,
            "checkpoint": c.checkpoint,
            "tag": c.tag,
            "by": c.by,
            "via": c.via,
            "at": iso(c.at_ms),
            "at_ms": c.at_ms,
            "recorded_at": iso(c.recorded_ms),
            "result": c.result,
            "answers": c.answers,
            "note": c.note,
        }

    def route_json(
        site: str, route: RouteConfig, st: RoundStatus | None, nxt: int | None
    ) -> dict[str, Any]:
        cps = desk.checkpoints(site)
        current = None
        if st is not None:
            r = st.round
            current = {
                "start_ms": r.start_ms,
                "due_ms": r.due_ms,
                "grace_until_ms": r.grace_until_ms,
                "status": st.status,
                "checkpoints": [
                    {
                        "id": p.checkpoint,
                        "name": cps[p.checkpoint].name,
                        "name_en": cps[p.checkpoint].name_en,
                        "floor": cps[p.checkpoint].floor,
                        "room": cps[p.checkpoint].room,
                        "checklist": list(cps[p.checkpoint].checklist),
                        "status": p.status,
                        "at_ms": p.at_ms,
                        "by": p.by,
                    }
                    for p in st.points
                ],
            }
        return {
            "id": route.id,
            "name": route.name,
            "name_en": route.name_en,
            "every_h": route.every_h,
            "current": current,
            "next_start_ms": nxt,
        }

    @router.get("/api/rounds")
    def rounds(scope: Sites) -> dict[str, Any]:
        """Each route of the site (`?site=`, or the caller's one site) with its round in
        progress (or the next, `upcoming`) and the next round's start."""
        site = scope.one()
        return {
            "site": site,
            "timezone": str(desk.tz(site)),
            "now_ms": runtime.clock.now_ms(),
            "routes": [route_json(site, *x) for x in desk.rounds_now(site)],
        }

    @router.get("/api/rounds/tag")
    def tag(
        scope: Sites, tag: Annotated[str, Query(min_length=1, max_length=128)]
    ) -> dict[str, Any]:
        """The checkpoint of a tag (the phone page shows its checklist after a scan); 404
        for a tag no checkpoint of the site has."""
        site = scope.one()
        cp = desk.by_tag(site, tag)
        if cp is None:
            raise HTTPException(404, f"no checkpoint of site {site!r} has tag {tag!r}")
        return {"site": site, "tag": cp.tag, "id": cp.id, "name": cp.name, "name_en": cp.name_en,
                "floor": cp.floor, "room": cp.room, "checklist": list(cp.checklist)}  # fmt: skip

    @router.get("/api/rounds/checkins")
    def listing(
        scope: Sites,
        since: Annotated[str | None, Query(description="RFC 3339 or epoch ms")] = None,
        until: Annotated[str | None, Query(description="RFC 3339 or epoch ms")] = None,
    ) -> list[dict[str, Any]]:
        """The check-ins of the caller's sites (or `?site=`) in [since, until) (default:
        the last 24 h), oldest first."""
        now = runtime.clock.now_ms()
        end = parse_time(until, now + 1)
        start = parse_time(since, end - DAY_MS)
        if start >= end:
            raise HTTPException(422, "since must be before until")
        out = [checkin_json(c) for sid in scope.ids for c in desk.listing(sid, start, end)]
        return sorted(out, key=lambda c: (c["at_ms"], c["id"]))

    @router.post("/api/rounds/checkins", status_code=201, response_model=None)
    def checkin(
        body: CheckinBody,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any] | JSONResponse:
        """A check-in at a checkpoint's tag: 201 with the routes it counts for, whether it
        was late and the hazards its "problem" answers opened (`repeat` true: the checkpoint
        was checked in this round already, the check-in is kept for its problems and counts
        for no round); 404 unknown tag; 409 a replay (`already_recorded` carries the
        check-in saved before as `saved`); 422 a bad body (an "ok" for an item not on the
        checkpoint's checklist)."""
        caller = caller_of(request, authorization)
        if caller is None:
            raise HTTPException(401, "log in with staff id and PIN", AUTH)
        if caller.role in READ_ONLY or RANK[caller.role] < RANK["duty"]:
            raise HTTPException(403, "needs the duty role or a staff log-in")
        if body.site not in runtime.registry.sites:
            raise HTTPException(422, f"unknown site {body.site!r}")
        check_site(caller, body.site)
        if caller.staff:
            if body.by not in (None, caller.name):
                raise HTTPException(403, "a staff member checks in as herself")
            by = caller.name
        else:
            if not body.by:
                raise HTTPException(422, "`by` (the staff id) is required with a token")
            if runtime.staff.site_of(body.by) != body.site:
                raise HTTPException(422, f"`by`: {body.by!r} is no staff member of {body.site}")
            by = body.by
        try:
            done = desk.record(body.site, body.tag, by, body.answers, body.note, body.client_id)
        except CheckinError as exc:
            if exc.saved is not None:  # the phone says what was kept, not what it sent
                saved = {**checkin_json(exc.saved), "hazards": list(exc.hazards)}
                return JSONResponse(
                    {"detail": exc.detail, "code": exc.code, "saved": saved}, exc.status
                )
            if exc.code:  # the phone page tells a lost answer's retry from a replay
                raise ApiError(exc.status, exc.detail, exc.code) from None
            raise HTTPException(exc.status, exc.detail) from None
        service.checked_in(body.site)
        return {
            **checkin_json(done.checkin),
            "routes": list(done.routes),
            "late": done.late,
            "missed": done.missed,
            "hazards": list(done.hazards),
            "repeat": done.repeat,
        }

    @router.get("/patrol", include_in_schema=False)
    def page() -> FileResponse:
        """The patrol phone page: one small file and its script, no framework."""
        return FileResponse(STATIC / "patrol.html", headers={"Cache-Control": "no-cache"})

    return router
