"""create_app(runtime): the PROTOCOL.md HTTP API and the screen, one router per domain."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field
from sse_starlette import EventSourceResponse
from starlette.datastructures import Headers
from starlette.responses import FileResponse as StarletteFile
from starlette.staticfiles import NotModifiedResponse, PathLike
from starlette.types import Scope

from alerting.items import Command, CommandResult, DeviceCommand
from alerting.reports.service import ReportService
from alerting.ruleset import RuleSet
from alerting.store import AlertReader
from alerting.views import AlertView, iso
from dashboards import reports
from dashboards.auth import RANK, LoginError, StaffAuth, TokenBook
from dashboards.stream import ChangeHub, alert_events
from devices.catalog import Catalog, load_catalog
from devices.ports import ReadingsQuery, Series
from devices.registry import Registry

STATIC = Path(__file__).parent / "static"
COMMAND_TIMEOUT_S = 5.0


class AppRuntime(Protocol):
    registry: Registry
    alerts: AlertReader
    rules: RuleSet
    metrics: CollectorRegistry
    hub: ChangeHub
    staff: StaffAuth
    reports: ReportService  # the watch report (dashboards/reports.py)

    def submit(self, command: Command | DeviceCommand) -> Future[CommandResult]: ...
    def readings(self) -> ReadingsQuery: ...
    def dead_letters(self, limit: int, reason: str | None) -> list[dict[str, Any]]: ...
    def notifications(
        self, target: str | None, alert_id: int | None, state: str | None, limit: int
    ) -> list[dict[str, Any]]: ...
    def unknown_devices(self) -> list[dict[str, Any]]: ...
    def health(self) -> dict[str, bool]: ...

    tokens: TokenBook
    read_open: bool


def parse_time(value: str | None, default_ms: int) -> int:
    """RFC 3339 text or epoch milliseconds; a clear 422 otherwise."""
    if value is None or value == "":
        return default_ms
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"not a time: {value!r} (RFC 3339 or epoch ms)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class OperatorAction(BaseModel):
    by: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="staff member id; required with the API token, taken from a session",
    )
    note: str | None = Field(None, max_length=500)


class Dismissal(OperatorAction):
    note: str = Field(min_length=2, max_length=500, description="why it was a false alarm")


class Login(BaseModel):
    staff_id: str = Field(min_length=1, max_length=32)
    pin: str = Field(min_length=4, max_length=12, pattern=r"^[0-9]+$")


class TimedAction(OperatorAction):
    minutes: float = Field(60, ge=1, description="how long")


class ShelveAction(TimedAction):
    minutes: float = Field(60, ge=1, le=24 * 60, description="shelved for (at most 24 h)")


class MaintenanceAction(TimedAction):
    minutes: float = Field(60, ge=1, le=30 * 24 * 60, description="out of service for")


ERRORS = {
    "not_found": (404, "no such alert"),
    "closed": (409, "alert is already closed"),
    "not_shelvable": (409, "life-safety alerts cannot be shelved"),
    "not_shelved": (409, "alert is not shelved"),
    "unknown_device": (404, "no such device"),
    "not_in_maintenance": (409, "device is not in maintenance"),
    "not_fire": (409, "not a fire alarm"),
}


@dataclass(frozen=True, slots=True)
class Caller:
    name: str  # staff id (session) or the token's holder
    role: str  # viewer < duty < admin
    staff: bool  # a staff session: the audit log records this name


def _token(request: Request, authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # EventSource cannot send headers: the screen's stream may carry it in the URL
    return request.query_params.get("access_token") or None


def caller_of(request: Request, authorization: str | None) -> Caller | None:
    """Who is asking; None without a token; 401 for a token nobody issued."""
    runtime: AppRuntime = request.app.state.runtime
    token = _token(request, authorization)
    if token is None:
        return None
    if token.startswith("s."):
        staff_id = runtime.staff.verify(token)
        if staff_id is None:
            raise HTTPException(401, "session expired; log in again", AUTH)
        return Caller(staff_id, "duty", True)
    found = runtime.tokens.role_of(token)
    if found is None:
        raise HTTPException(401, "unknown token", AUTH)
    return Caller(found[0], found[1], False)


AUTH = {"WWW-Authenticate": "Bearer"}


def needs(role: str) -> Callable[..., Caller]:
    """A dependency: a caller with at least `role` (401 without a token, 403 below it)."""

    def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Caller:
        c = caller_of(request, authorization)
        if c is None:
            raise HTTPException(401, "bearer token required", AUTH)
        if RANK[c.role] < RANK[role]:
            raise HTTPException(403, f"needs the {role} role")
        return c

    return dependency


def reader(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """Reads are open on the duty-room network unless CAREWATCH_READ_ACCESS=token."""
    runtime: AppRuntime = request.app.state.runtime
    if runtime.read_open:
        return
    needs("viewer")(request, authorization)


Duty = Annotated[Caller, Depends(needs("duty"))]
Admin = Annotated[Caller, Depends(needs("admin"))]


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


def _with_fallback(default: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """`own` over `default`, table by table: a half-translated language shows the default
    language's text, never a bare key (as Catalog.text does on the server)."""
    out = dict(default)
    for key, value in own.items():
        base = out.get(key)
        if isinstance(value, Mapping) and isinstance(base, Mapping):
            value = _with_fallback(base, value)
        out[key] = value
    return out


def catalog_router(catalog: Catalog) -> APIRouter:
    """The catalog for the browser: GET /api/i18n lists the languages (the default first),
    GET /api/i18n/{lang} is one language's texts. Open without a token (texts only, no
    personal data) and cacheable: an ETag lets the browser revalidate with a 304."""
    router = APIRouter(prefix="/api/i18n", tags=["screen"])
    bodies: dict[str, tuple[bytes, str]] = {}
    default = catalog.table(catalog.default)
    for code in catalog.languages():
        merged = _with_fallback(default, catalog.table(code))
        body = json.dumps(merged, ensure_ascii=False, separators=(",", ":")).encode()
        bodies[code] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    index = {
        "default": catalog.default,
        "languages": [
            {
                "code": code,
                "name": catalog.get(code, "_meta.name") or code,
                "lang": catalog.get(code, "_meta.lang") or code,
            }
            for code in catalog.languages()
        ],
    }

    @router.get("")
    def languages() -> dict[str, Any]:
        return index

    @router.get("/{lang}")
    def texts(
        lang: str,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Response:
        code = catalog.lang(lang)
        if code != lang.split("-")[0].split("_")[0].lower():
            raise HTTPException(404, f"no texts in {lang!r}; see /api/i18n")
        body, etag = bodies[code]
        headers = {"ETag": etag, "Cache-Control": "public, no-cache"}
        if if_none_match == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    return router


def create_app(runtime: AppRuntime) -> FastAPI:
    app = FastAPI(
        title="CareWatch", version="1", docs_url="/api/docs", openapi_url="/api/openapi.json"
    )
    app.state.runtime = runtime
    rules = runtime.rules.rules
    reg = runtime.registry

    alert_json = AlertView(reg, runtime.rules)

    def who(caller: Caller, body: OperatorAction) -> str:
        if caller.staff:
            return caller.name
        if not body.by:
            raise HTTPException(422, "`by` (staff id) is required with the API token")
        return body.by

    # --- alerts --------------------------------------------------------------------------
    read = [Depends(reader)]
    alerts = APIRouter(prefix="/api/alerts", tags=["alerts"], dependencies=read)

    @alerts.get("")
    def list_alerts(
        state: Literal[
            "open", "closed", "all", "active_unack", "active_ack", "cleared_unack", "shelved"
        ] = "open",
        limit: int = Query(500, ge=1, le=5000),
    ) -> list[dict[str, Any]]:
        return [alert_json(a) for a in runtime.alerts.find(state, limit)]

    @alerts.get("/stream")
    async def stream(
        last_event_id: Annotated[str | None, Header()] = None,
        since: Annotated[str | None, Query(alias="last_event_id", pattern=r"^\d{1,18}$")] = None,
    ) -> EventSourceResponse:
        """Every alert change as Server-Sent Events; resumable with the Last-Event-ID header
        (EventSource's own reconnect) or ?last_event_id= (a page opening a new stream)."""
        resume = last_event_id or since
        events = alert_events(runtime.alerts, runtime.hub, resume, alert_json, iso)
        return EventSourceResponse(events, ping=15)

    @alerts.get("/groups")
    def groups() -> list[dict[str, Any]]:
        """Open alerts as incidents: one group per room (residents) or floor (fire)."""
        out: dict[str, dict[str, Any]] = {}
        for a in runtime.alerts.find("open", 5000):  # already in screen order
            g = out.setdefault(
                a.group_key,
                {"group": a.group_key, "floor": a.floor, "priority": a.priority, "alerts": []},
            )
            g["alerts"].append(alert_json(a))
        return list(out.values())

    @alerts.get("/{alert_id}")
    def get_alert(alert_id: int) -> dict[str, Any]:
        a = runtime.alerts.get(alert_id)
        if a is None:
            raise HTTPException(404, "no such alert")
        return {
            **alert_json(a),
            "history": [{**h, "at": iso(h["at"])} for h in runtime.alerts.audit(alert_id)],
        }

    def run(cmd: Command | DeviceCommand) -> CommandResult:
        fut = runtime.submit(cmd)
        try:
            result = fut.result(COMMAND_TIMEOUT_S)
        except TimeoutError:
            raise HTTPException(503, "engine busy; try again") from None
        if result.error in ERRORS:
            status, detail = ERRORS[result.error]
            raise HTTPException(status, detail)
        if not result.ok:
            raise HTTPException(500, "command failed")
        return result

    def command(
        action: Literal["ack", "resolve", "shelve", "unshelve", "confirm", "dismiss"],
        alert_id: int,
        body: OperatorAction,
        identity: Caller,
        seconds: float | None = None,
    ) -> Any:
        result = run(Command(action, alert_id, who(identity, body), body.note, seconds))
        if result.alert is None:
            raise HTTPException(500, "command failed")
        return alert_json(result.alert)

    @alerts.post("/{alert_id}/ack")
    def ack(alert_id: int, body: OperatorAction, identity: Duty) -> Any:
        return command("ack", alert_id, body, identity)

    @alerts.post("/{alert_id}/resolve")
    def resolve(alert_id: int, body: OperatorAction, identity: Duty) -> Any:
        return command("resolve", alert_id, body, identity)

    @alerts.post("/{alert_id}/confirm")
    def confirm(alert_id: int, body: OperatorAction, identity: Duty) -> Any:
        """A fire alarm staff have confirmed: forward it to the fire brigade now."""
        return command("confirm", alert_id, body, identity)

    @alerts.post("/{alert_id}/dismiss")
    def dismiss(alert_id: int, body: Dismissal, identity: Duty) -> Any:
        """A fire alarm that was false: close it with the reason (and cancel a forward)."""
        return command("dismiss", alert_id, body, identity)

    @alerts.post("/{alert_id}/shelve")
    def shelve(alert_id: int, body: ShelveAction, identity: Duty) -> Any:
        return command("shelve", alert_id, body, identity, body.minutes * 60)

    @alerts.post("/{alert_id}/unshelve")
    def unshelve(alert_id: int, body: OperatorAction, identity: Duty) -> Any:
        return command("unshelve", alert_id, body, identity)

    # --- devices -------------------------------------------------------------------------
    devices = APIRouter(prefix="/api/devices", tags=["devices"], dependencies=read)

    @devices.get("")
    def list_devices() -> list[dict[str, Any]]:
        states = runtime.alerts.device_states()
        maintenance = runtime.alerts.maintenance()
        out = []
        for d in reg.devices():
            seen, online = states.get((d.site, d.id), (None, None))
            m = maintenance.get((d.site, d.id))
            out.append(
                {
                    "id": d.id,
                    "site": d.site,
                    "type": d.type.name,
                    "room": d.room,
                    "floor": d.floor,
                    "bed": d.bed,
                    "label": d.label,
                    "resident_name": reg.resident_name(d.resident),
                    "online": None if online is None else bool(online),
                    "last_seen": iso(seen),
                    "maintenance_until": iso(m["until"]) if m else None,
                }
            )
        return out

    @devices.post("/{device_id}/maintenance")
    def start_maintenance(
        device_id: str, body: MaintenanceAction, identity: Admin
    ) -> dict[str, Any]:
        """Out of service: its messages are kept but raise nothing, supervision pauses."""
        by = who(identity, body)
        run(DeviceCommand("maintenance_start", device_id, by, body.note, body.minutes * 60))
        return {"device_id": device_id, "maintenance": True}

    @devices.post("/{device_id}/maintenance/end")
    def end_maintenance(device_id: str, body: OperatorAction, identity: Admin) -> dict[str, Any]:
        run(DeviceCommand("maintenance_end", device_id, who(identity, body), body.note))
        return {"device_id": device_id, "maintenance": False}

    @devices.get("/unregistered")
    def unregistered() -> list[dict[str, Any]]:
        return [
            {
                **u,
                "first_seen": iso(u.pop("first_seen_ms")),
                "last_seen": iso(u.pop("last_seen_ms")),
            }
            for u in runtime.unknown_devices()
        ]

    @devices.get("/{device_id}/readings")
    def readings(
        device_id: str,
        field: str = Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$"),
        since: str | None = None,
        until: str | None = None,
        limit: int = Query(10_000, ge=1, le=100_000),
    ) -> dict[str, Any]:
        dev = reg.by_id(device_id)
        if dev is None:
            raise HTTPException(404, "no such device")
        now = int(datetime.now(UTC).timestamp() * 1000)
        until_ms = parse_time(until, now)
        since_ms = parse_time(since, until_ms - 3_600_000)
        points = runtime.readings().readings(
            Series(dev.site, dev.id, dev.type.name, field, since_ms, until_ms, limit)
        )
        spec = dev.type.fields.get(field)
        return {
            "device_id": dev.id,
            "field": field,
            "unit": spec.unit if spec else None,
            "points": [{"ts": iso(p.ts_ms), "value": p.value} for p in points],
        }

    # --- operations ---------------------------------------------------------------------
    ops = APIRouter(tags=["operations"])

    @ops.get("/api/notifications", dependencies=read)
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

    @ops.get("/api/dead-letters", dependencies=read)
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

    @ops.get("/metrics", dependencies=read)
    def metrics() -> Response:
        return Response(generate_latest(runtime.metrics), media_type=CONTENT_TYPE_LATEST)

    @ops.get("/api/meta", dependencies=read)
    def meta() -> dict[str, Any]:
        """What the screen needs once: site, floors and rooms, device types, rule titles,
        staff (ids and names, never PINs)."""
        site = reg.site
        return {
            "site": {"id": site.id, "name": site.name, "address": site.address},
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
                for t in {d.type.name: d.type for d in reg.devices()}.values()
            },
            "rules": {
                r.name: {
                    "title_zh": runtime.rules.title(r.name, "zh"),
                    "title_en": runtime.rules.title(r.name, "en"),
                    "priority": r.priority,
                    "severity": r.severity.value,
                    "fire": r.fire,
                }
                for r in rules.values()
            },
            "staff": runtime.staff.staff(),
        }

    @ops.post("/api/session")
    def login(body: Login) -> dict[str, Any]:
        """A staff member's PIN -> a session token for the shift (12 h)."""
        try:
            s = runtime.staff.login(body.staff_id, body.pin)
        except LoginError as exc:
            raise HTTPException(exc.status, exc.detail) from None
        return {
            "token": s.token,
            "staff_id": s.staff_id,
            "name": s.name,
            "expires_at": iso(s.expires_ms),
        }

    @ops.get("/", include_in_schema=False)
    def screen(_request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", ScreenFiles(directory=STATIC), name="static")

    app.include_router(catalog_router(load_catalog()))
    app.include_router(alerts)
    app.include_router(devices)
    app.include_router(ops)
    app.include_router(reports.router, dependencies=read)
    return app
