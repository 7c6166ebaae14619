"""The duty screen: its page and static modules, the caller's sites (/api/sites: the
screen of a caller of several offers a choice), what it loads once for one site
(/api/meta: site, floors, device types, rule titles, staff) and the staff PIN login."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import FileResponse as StarletteFile
from starlette.staticfiles import NotModifiedResponse, PathLike
from starlette.types import Scope

from alerting.views import iso
from dashboards.auth import LoginError
from dashboards.deps import AppRuntime, Sites, sites_of
from dashboards.schemas import Login

STATIC = Path(__file__).parent / "static"


class ScreenFiles(StaticFiles):
    """The screen's files. JavaScript modules always go out as text/javascript: browsers
    refuse a module of any other type, and the platform's MIME table may say otherwise.
    Every file is revalidated on load (ETag), so an upgrade never mixes old and new modules."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        js = str(full_path).endswith((".js", ".mjs"))
        response = StarletteFile(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type="text/javascript" if js else None,
            headers={"Cache-Control": "no-cache"},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def screen_router(runtime: AppRuntime) -> APIRouter:
    """The screen's routes over `runtime`."""
    reg = runtime.registry
    router = APIRouter(tags=["screen"])

    @router.get("/api/sites")
    def sites(scope: Sites) -> list[dict[str, Any]]:
        """The sites this caller may read, in the service's order: one, or the screen's
        choice of several."""
        return site_list(scope.ids)

    def site_list(ids: list[str]) -> list[dict[str, Any]]:
        return [{"id": s.id, "name": s.name, "kind": s.kind} for s in (reg.sites[i] for i in ids)]

    @router.get("/api/meta")
    def meta(scope: Sites) -> dict[str, Any]:
        """What the screen needs once: its site (`?site=`, or the caller's only one; the
        caller's sites are listed under `sites`), floors and rooms, device types, rule
        titles, that site's staff (ids and names, never PINs)."""
        site = reg.sites[scope.one()]
        rules = runtime.rules.of(site.id)
        return {
            "site": {
                "id": site.id,
                "kind": site.kind,
                "name": site.name,
                "address": site.address,
                "timezone": str(runtime.rules.tz(site.id)),
            },
            "sites": site_list(sites_of(reg, scope.caller)),
            "floors": [f.model_dump() for f in site.floors],
            "device_types": {
                t.name: {
                    "label_zh": t.label("zh"),
                    "label_en": t.label("en"),
                    "fields": {
                        n: {"kind": f.kind.value, "unit": f.unit, "description": f.description}
                        for n, f in t.fields.items()
                    },
                }
                for t in {d.type.name: d.type for d in reg.devices(site.id)}.values()
            },
            "rules": {
                r.name: {
                    "title_zh": rules.title(r.name, "zh"),
                    "title_en": rules.title(r.name, "en"),
                    "priority": r.priority,
                    "severity": r.severity.value,
                    "fire": r.fire,
                }
                for r in rules.rules.values()
            },
            "staff": runtime.staff.staff(site.id),
        }

    @router.post("/api/session")
    def login(body: Login) -> dict[str, Any]:
        """A staff member's PIN -> a session token for the shift (12 h), for her own site."""
        try:
            s = runtime.staff.login(body.staff_id, body.pin)
        except LoginError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        return {
            "token": s.token,
            "staff_id": s.staff_id,
            "name": s.name,
            "site": s.site,
            "role": s.role,  # the screen offers a supervisor the override of a call's reset
            "expires_at": iso(s.expires_ms),
        }

    @router.get("/", include_in_schema=False)
    def page(_request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return router
