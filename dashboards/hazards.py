"""/api/hazards: the hazard register (火灾隐患整改) over HTTP. Reads show the caller's sites;
opening a hazard and every step need the duty role at the hazard's site and act as one
staff member of that site (`actor`): a staff PIN session as herself, a duty token for the
staff id its `by` names, exactly. Closing takes a second person: the one who fixed it
gets a 409 that says so. Photos are raw bodies (image/jpeg, png or webp, at
most 5 MB), stored by checksum before their row commits (alerting/hazard_photos.py)."""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Body, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import Field

from alerting.hazard_alerts import new_from_alert, suggested_categories
from alerting.hazard_desk import CLOSED_PHOTO, AgedAlert, HazardDesk
from alerting.hazard_photos import PhotoError, PhotoStore, media_type
from alerting.hazards import CATEGORIES, STATES, Hazard, HazardError, NewHazard
from alerting.views import iso
from dashboards.deps import AppRuntime, Caller, Duty, Reader, Sites, check_site
from dashboards.schemas import OperatorAction

log = logging.getLogger("carewatch.hazards")


class HazardService(Protocol):
    """What the routes need of the service's register (carewatch/hazarding.py)."""

    desk: HazardDesk
    photos: PhotoStore

    def changed(self, site: str) -> None:
        """A hazard of `site` changed: `hazard_overdue` follows now."""


class HazardNew(OperatorAction):  # `by`: the staff id a token acts for
    site: str = Field(min_length=1, max_length=64)
    category: str = Field(min_length=1, max_length=32, description="a hazard category id")
    description: str | None = Field(
        None, max_length=500, description="what is wrong; default from the alert"
    )
    location: str | None = Field(
        None, max_length=500, description="where, in words; default from floor/room or alert"
    )
    floor: str | None = Field(None, max_length=16)
    room: str | None = Field(None, max_length=32)
    owner: str | None = Field(None, max_length=64, description="who fixes it")
    deadline_ms: int | None = Field(
        None,
        ge=0,
        description="due fixed by (epoch ms), from a day before now up to 366 days ahead;"
        " default: the category's fix time",
    )
    alert_id: int | None = Field(None, ge=1, description="the alert it was found from")
    client_id: str | None = Field(
        None, min_length=8, max_length=64, pattern=r"^[\x21-\x7e]+$",
        description="the screen's id of this form: the same id again answers 200 with the"
        " hazard it opened, never a second one",
    )  # fmt: skip


class HazardStep(OperatorAction):
    owner: str | None = Field(None, min_length=1, max_length=64)
    deadline_ms: int | None = Field(
        None, ge=0, description="from a day before the hazard was opened up to 366 days ahead"
    )


# a step's body may be left out (a PIN session's start, fix or close needs nothing more)
StepBody = Annotated[HazardStep | None, Body()]


def _iso(ms: int | None) -> str | None:
    """iso(), or None for an epoch ms no calendar date has (a deadline saved before
    deadlines were bounded): one such row never fails a listing."""
    try:
        return iso(ms)
    except (ValueError, OverflowError, OSError):
        return None


def hazard_json(h: Hazard, now_ms: int) -> dict[str, Any]:
    """One hazard as the API and the screen show it: times as epoch ms and RFC 3339,
    `overdue` while not fixed past its deadline, `age_ms` since it was opened."""
    return {
        "id": h.id,
        "site": h.site,
        "state": h.state,
        "category": h.category,
        "description": h.description,
        "location": h.location,
        "floor": h.floor,
        "room": h.room,
        "checkpoint": h.checkpoint,
        "source": h.source,
        "source_ref": h.source_ref,
        "opened_by": h.opened_by,
        "opened_ms": h.opened_ms,
        "opened_at": _iso(h.opened_ms),
        "owner": h.owner,
        "deadline_ms": h.deadline_ms,
        "deadline_at": _iso(h.deadline_ms),
        "started_ms": h.started_ms,
        "fixed_by": h.fixed_by,
        "fixed_ms": h.fixed_ms,
        "fixed_at": _iso(h.fixed_ms),
        "closed_by": h.closed_by,
        "closed_ms": h.closed_ms,
        "closed_at": _iso(h.closed_ms),
        "overdue": h.overdue(now_ms),
        "age_ms": (h.closed_ms or now_ms) - h.opened_ms,
    }


def hazards_router(runtime: AppRuntime, service: HazardService) -> APIRouter:
    """The hazard routes over `runtime` and its register."""
    desk, photos = service.desk, service.photos
    router = APIRouter(prefix="/api/hazards", tags=["hazards"])

    def refused(exc: HazardError | PhotoError) -> HTTPException:
        return HTTPException(exc.status, exc.detail)

    def actor(caller: Caller, site: str, by: str | None) -> str:
        """The staff member of `site` a write is recorded under (as dashboards/rounds.py):
        a PIN session is herself (403 naming another); a token names her in `by`, which
        must be a staff id of `site` exactly as the site file spells it (422 otherwise),
        so the second person of a sign-off is a real, other person."""
        if caller.staff:
            if by is not None and by.strip() != caller.name:
                raise HTTPException(403, "a staff member acts as herself: leave `by` out")
            return caller.name
        name = (by or "").strip()
        if not name:
            raise HTTPException(422, "`by` (the staff id) is required with a token")
        if runtime.staff.site_of(name) != site:
            raise HTTPException(422, f"`by`: {name!r} is no staff member of {site}")
        return name

    def hazard_of(hazard_id: int, caller: Caller) -> Hazard:
        """The hazard, if the caller works on its site: 404 unknown, 403 another site's."""
        h = desk.get(hazard_id)
        if h is None:
            raise HTTPException(404, "no such hazard")
        check_site(caller, h.site)
        return h

    @router.get("")
    def listing(
        scope: Sites,
        state: Annotated[
            list[Literal["open", "in_progress", "fixed", "closed"]] | None, Query()
        ] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    ) -> list[dict[str, Any]]:
        """The hazards of the caller's sites (or `?site=`), newest first; `?state=` (given
        more than once for several) narrows them."""
        now = runtime.clock.now_ms()
        found = desk.find(scope.ids, state, limit)
        photos = desk.photo_counts(h.id for h in found)
        out = []
        for h in found:
            try:
                out.append({**hazard_json(h, now), "photo_count": photos.get(h.id, 0)})
            except Exception:  # one bad row never takes the tab down; the log says which
                log.exception("hazard row not shown", extra={"hazard": h.id, "site": h.site})
        return out

    @router.get("/categories")
    def categories(_caller: Reader) -> list[dict[str, Any]]:
        """The categories, their default fix times (hours) and the alert rules whose
        hazards are filed under each (`rules`): the screen's form suggests the category
        of an alert's rule as the watch itself files it (alerting/hazard_alerts.py)."""
        rules = suggested_categories()
        return [
            {
                "id": c.id,
                "fix_within_h": c.fix_within_h,
                "rules": sorted(r for r, cat in rules.items() if cat == c.id),
            }
            for c in CATEGORIES.values()
        ]

    @router.get("/{hazard_id}")
    def one(hazard_id: int, caller: Reader) -> dict[str, Any]:
        """One hazard with its steps (`log`) and photos."""
        h = hazard_of(hazard_id, caller)
        pictures = desk.photos(h.id)
        return {
            **hazard_json(h, runtime.clock.now_ms()),
            "photo_count": len(pictures),
            "log": [
                {
                    "at": iso(r.at_ms),
                    "at_ms": r.at_ms,
                    "action": r.action,
                    "from_state": r.from_state,
                    "to_state": r.to_state,
                    "by": r.by,
                    "note": r.note,
                }
                for r in desk.log(h.id)
            ],
            "photos": [
                {
                    "sha256": p.sha256,
                    "content_type": p.content_type,
                    "bytes": p.bytes,
                    "by": p.by,
                    "at": iso(p.at_ms),
                    "url": f"/api/hazards/{h.id}/photos/{p.sha256}",
                }
                for p in pictures
            ],
        }

    @router.post("", status_code=201)
    def open_one(body: HazardNew, caller: Duty, response: Response) -> dict[str, Any]:
        """Open a hazard (source `screen`), or one found from an alert (`alert_id`: source
        `alert`, placed at the alert's device; a second time answers the first, 200). The
        same `client_id` again (a form sent twice) answers 200 with the hazard it opened.
        422 unknown site, category, floor or room; 403 another site's."""
        check_site(caller, body.site)
        by = actor(caller, body.site, body.by)
        try:
            if body.alert_id is not None:
                h, new = _from_alert(body, by)
            else:
                where = desk.location_of(body.site, body.floor, body.room)
                location = body.location or (where if body.floor or body.room else None)
                if not body.description or not location:
                    raise HTTPException(422, "give `description` and `location` (or floor/room)")
                h, new = desk.open(
                    NewHazard(
                        site=body.site, category=body.category, description=body.description,
                        location=location, opened_by=by, source="screen", floor=body.floor,
                        room=body.room, owner=body.owner, deadline_ms=body.deadline_ms,
                        client_id=body.client_id,
                    )
                )  # fmt: skip
        except HazardError as exc:
            raise refused(exc) from None
        if not new:
            response.status_code = 200
        service.changed(h.site)
        return hazard_json(h, runtime.clock.now_ms())

    def _from_alert(body: HazardNew, by: str) -> tuple[Hazard, bool]:
        a = runtime.alerts.get(body.alert_id or 0)
        if a is None or a.site != body.site:  # another site's is not even named
            raise HTTPException(404, "no such alert")
        aged = AgedAlert(a.id, a.site, a.device_id, a.rule, a.value, a.floor, a.room)
        new = new_from_alert(desk, aged, body.category, by, body.description, body.owner,
                             body.deadline_ms)  # fmt: skip
        given = {"location": body.location} if body.location else {}
        return desk.open(NewHazard(**{**_fields(new), **given, "client_id": body.client_id}))

    def step(
        action: str, hazard_id: int, body: HazardStep | None, caller: Caller
    ) -> dict[str, Any]:
        h = hazard_of(hazard_id, caller)
        body = body or HazardStep()
        by = actor(caller, h.site, body.by)
        try:
            new = desk.act(h.id, action, by, body.note, body.owner, body.deadline_ms)
        except HazardError as exc:
            raise refused(exc) from None
        service.changed(new.site)
        return hazard_json(new, runtime.clock.now_ms())

    @router.post("/{hazard_id}/start")
    def start(hazard_id: int, caller: Duty, body: StepBody = None) -> dict[str, Any]:
        """open -> in_progress (someone is on it)."""
        return step("start", hazard_id, body, caller)

    @router.post("/{hazard_id}/fix")
    def fix(hazard_id: int, caller: Duty, body: StepBody = None) -> dict[str, Any]:
        """open or in_progress -> fixed; `by` is recorded as the fixer."""
        return step("fix", hazard_id, body, caller)

    @router.post("/{hazard_id}/close")
    def close(hazard_id: int, caller: Duty, body: StepBody = None) -> dict[str, Any]:
        """fixed -> closed (验收销号): by a second person, never the fixer (409)."""
        return step("close", hazard_id, body, caller)

    @router.post("/{hazard_id}/reopen")
    def reopen(hazard_id: int, caller: Duty, body: StepBody = None) -> dict[str, Any]:
        """fixed -> in_progress: the verification failed (say why in `note`)."""
        return step("reopen", hazard_id, body, caller)

    @router.post("/{hazard_id}/assign")
    def assign(hazard_id: int, caller: Duty, body: StepBody = None) -> dict[str, Any]:
        """Set the owner and/or the deadline of a hazard not closed."""
        return step("assign", hazard_id, body, caller)

    @router.post("/{hazard_id}/photos", status_code=201)
    async def add_photo(
        hazard_id: int,
        request: Request,
        response: Response,
        caller: Duty,
        content_type: Annotated[str | None, Header()] = None,
        content_length: Annotated[str | None, Header()] = None,
        by: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    ) -> dict[str, Any]:
        """A photo as the raw body: 415 not image/jpeg, png or webp (or its bytes not the
        type it says, or under 16 bytes), 413 over 5 MB (refused before it is read), 409
        the hazard closed. 201 new; 200 the same photo again."""
        h = await run_in_threadpool(hazard_of, hazard_id, caller)
        who_by = actor(caller, h.site, by)
        if h.state == "closed":
            raise HTTPException(409, CLOSED_PHOTO.format(id=h.id))
        try:
            media_type(content_type)
            if photos.too_large(content_length):
                raise PhotoError(413, f"a photo is at most {photos.max_bytes} bytes")
            stored = await photos.save(content_type or "", request.stream())
            new = await run_in_threadpool(
                desk.add_photo, h.id, stored.sha256, stored.content_type, stored.bytes, who_by
            )
        except (PhotoError, HazardError) as exc:
            raise refused(exc) from None
        if not new:
            response.status_code = 200
        return {
            "sha256": stored.sha256,
            "content_type": stored.content_type,
            "bytes": stored.bytes,
            "url": f"/api/hazards/{h.id}/photos/{stored.sha256}",
        }

    @router.get("/{hazard_id}/photos/{sha256}")
    def photo(hazard_id: int, sha256: str, caller: Reader) -> FileResponse:
        """A photo of the hazard, with its type (never sniffed by the browser)."""
        h = hazard_of(hazard_id, caller)
        row = next((p for p in desk.photos(h.id) if p.sha256 == sha256), None)
        path = photos.path_of(sha256) if row else None
        if row is None or path is None:
            raise HTTPException(404, "no such photo of this hazard")
        return FileResponse(
            path,
            media_type=row.content_type,
            headers={
                "X-Content-Type-Options": "nosniff",
                "Cache-Control": "private, max-age=86400",
            },
        )

    return router


def _fields(h: NewHazard) -> dict[str, Any]:
    return {f: getattr(h, f) for f in NewHazard.__dataclass_fields__}


__all__ = ["STATES", "HazardService", "hazard_json", "hazards_router"]
