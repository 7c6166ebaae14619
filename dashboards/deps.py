"""What every router shares: the runtime the app is built on (a protocol, so tests and the
service give their own), who is calling (bearer token or staff session), the role and
the sites that gives (docs/security.md), and running a command through the engine's queue.

Dependencies are `Annotated` aliases here (Reader, Sites, Duty, Admin), one place for
every router: a read is scoped to the caller's sites (`?site=` narrows it), and a write
on an alert or device of another site is refused (`check_site`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from fastapi import Depends, Header, HTTPException, Query, Request
from prometheus_client import CollectorRegistry

from alerting.items import Command, CommandResult, DeviceCommand
from alerting.outcomes import CONTACT_RESULTS, OUTCOMES
from alerting.reports.service import ReportService
from alerting.rulebook import Rulebook
from alerting.store import AlertReader
from dashboards.auth import RANK, READ_ONLY, Role, StaffAuth, TokenBook
from dashboards.schemas import OperatorAction
from dashboards.stream import ChangeHub
from devices.bridge import ZigbeeCheck
from devices.ports import Clock, ReadingsQuery
from devices.registry import Registry
from devices.siteconfig import SITE_PATTERN, SYSTEM_SITE

COMMAND_TIMEOUT_S = 5.0


class AppRuntime(Protocol):
    """What the routers need of the service (carewatch/runtime.py implements it)."""

    clock: Clock  # the service's clock: "now" for ages and periods

    registry: Registry
    alerts: AlertReader
    rules: Rulebook
    metrics: CollectorRegistry
    hub: ChangeHub
    staff: StaffAuth
    reports: ReportService  # the first site's watch report
    site_reports: dict[str, ReportService]  # each site's (dashboards/reports.py)

    def submit(self, command: Command | DeviceCommand) -> Future[CommandResult]: ...
    def readings(self) -> ReadingsQuery: ...
    def dead_letters(
        self, limit: int, reason: str | None, sites: Sequence[str] | None = None
    ) -> list[dict[str, Any]]: ...
    def notifications(
        self,
        target: str | None,
        alert_id: int | None,
        state: str | None,
        limit: int,
        sites: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]: ...
    def unknown_devices(self, sites: Sequence[str] | None = None) -> list[dict[str, Any]]: ...
    def zigbee(self, site: str) -> ZigbeeCheck: ...  # the site's gateway (dashboards/zigbee.py)
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


ERRORS = {
    "not_found": (404, "no such alert"),
    "closed": (409, "alert is already closed"),
    "not_shelvable": (409, "life-safety alerts cannot be shelved"),
    "not_shelved": (409, "alert is not shelved"),
    "unknown_device": (404, "no such device"),
    "not_in_maintenance": (409, "device is not in maintenance"),
    "not_fire": (409, "not a fire alarm"),
    "bedside_reset": (
        409,
        "reset it at the bedside: press cancel on the call button;"
        " a supervisor may override with a reason",
    ),
    "not_bedside": (409, "this alert is not reset at the bedside: resolve it without override"),
    "not_home_call": (
        409,
        "not a home call: the console's outcomes and contacts are for alerts of home-bed sites",
    ),
    "unknown_outcome": (422, f"unknown outcome code; known: {', '.join(OUTCOMES)}"),
    "unknown_contact": (422, "no such contact for this call's resident (see the call's card)"),
    "unknown_result": (422, f"unknown contact result; known: {', '.join(CONTACT_RESULTS)}"),
}


class ApiError(HTTPException):
    """A refusal with a machine-readable `code` beside the human `detail`: the response
    body is `{"detail": ..., "code": ...}` (the app's handler, dashboards/app.py), so a
    client tells an unknown outcome code from an unknown contact without reading prose."""

    def __init__(self, status: int, detail: str, code: str) -> None:
        super().__init__(status, detail)
        self.code = code


@dataclass(frozen=True, slots=True)
class Caller:
    name: str  # staff id (session) or the token's holder
    role: Role  # viewer < duty < admin; operator = duty; district reads (dashboards/auth.py)
    staff: bool  # a staff session: the audit log records this name
    sites: frozenset[str] | None = None  # the sites it works for; None: every site

    def may(self, site: str) -> bool:
        """Whether this caller works on `site`; the watch's own alerts (SYSTEM_SITE) are
        every caller's, whatever their sites."""
        return self.sites is None or site in self.sites or site == SYSTEM_SITE


# anyone who reaches the port, where the service keeps reads open (read_access: open)
ANYONE = Caller("anonymous", "viewer", False, None)
AUTH = {"WWW-Authenticate": "Bearer"}


def _token(request: Request, authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    # EventSource cannot send headers: the screen's stream may carry it in the URL
    return request.query_params.get("access_token") or None


def caller_of(request: Request, authorization: str | None) -> Caller | None:
    """Who is asking; None without a token; 401 for a token nobody issued. A staff
    session works for her own site only; a token for the sites of its grant."""
    runtime: AppRuntime = request.app.state.runtime
    token = _token(request, authorization)
    if token is None:
        return None
    if token.startswith("s."):
        staff_id = runtime.staff.verify(token)
        if staff_id is None:
            raise HTTPException(401, "session expired; log in again", AUTH)
        site = runtime.staff.site_of(staff_id)
        return Caller(staff_id, "duty", True, frozenset({site} if site else ()))
    grant = runtime.tokens.grant_of(token)
    if grant is None:
        raise HTTPException(401, "unknown token", AUTH)
    return Caller(grant.name, grant.role, False, grant.sites)


def needs(role: Role) -> Callable[..., Caller]:
    """A dependency: a caller with at least `role` (401 without a token, 403 below it; a
    read-only role, district, is 403 for every write)."""

    def dependency(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> Caller:
        c = caller_of(request, authorization)
        if c is None:
            raise HTTPException(401, "bearer token required", AUTH)
        if c.role in READ_ONLY and RANK[role] > RANK["viewer"]:
            raise HTTPException(403, f"the {c.role} role reads; it changes nothing")
        if RANK[c.role] < RANK[role]:
            raise HTTPException(403, f"needs the {role} role")
        return c

    return dependency


def read_caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    """Who reads: any token's holder; without one, ANYONE where reads are open (the
    duty-room LAN, read_access: open), else 401."""
    runtime: AppRuntime = request.app.state.runtime
    c = caller_of(request, authorization)
    if c is not None:
        return c
    if runtime.read_open:
        return ANYONE
    raise HTTPException(401, "bearer token required", AUTH)


def reader(request: Request, authorization: Annotated[str | None, Header()] = None) -> None:
    """A read dependency that only checks the caller may read at all (401 otherwise)."""
    read_caller(request, authorization)


def sites_of(registry: Registry, caller: Caller) -> list[str]:
    """The sites `caller` works on, in the registry's order."""
    return [s for s in registry.site_ids() if caller.sites is None or s in caller.sites]


def visible_sites(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> list[str]:
    """The sites the caller may read, in the registry's order (a read dependency: 401
    without a token where reads need one). The district view and every list across sites
    use it."""
    runtime: AppRuntime = request.app.state.runtime
    return sites_of(runtime.registry, read_caller(request, authorization))


@dataclass(frozen=True, slots=True)
class SiteScope:
    """What one read covers: the caller, its sites (narrowed by `?site=`), and whether
    that is the whole service (then rows of no watched site, e.g. a dead letter of an
    unknown topic, are shown too)."""

    caller: Caller
    ids: list[str]
    whole: bool

    def of_alerts(self) -> list[str]:
        """The sites of the alerts it shows: its own and the watch's (SYSTEM_SITE)."""
        return [*self.ids, SYSTEM_SITE]

    def of_rows(self) -> list[str] | None:
        """A filter for rows by site: None (every row) for the whole service."""
        return None if self.whole else self.ids

    def one(self) -> str:
        """The one site a read is about (a report, the screen's meta): `?site=`, or the
        caller's only site; 400 for a caller of several without it."""
        if len(self.ids) != 1:
            raise HTTPException(400, "this caller reads several sites: give ?site=")
        return self.ids[0]


SITE_QUERY = Query(
    None, alias="site", pattern=SITE_PATTERN, description="only this site (one of the caller's)"
)


def site_scope(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    site: str | None = SITE_QUERY,
) -> SiteScope:
    """The caller's sites, or the one `?site=` names: 403 for a site not the caller's
    (404 for one the service does not watch, to a caller of every site)."""
    runtime: AppRuntime = request.app.state.runtime
    caller = read_caller(request, authorization)
    mine = sites_of(runtime.registry, caller)
    if site is None:
        return SiteScope(caller, mine, len(mine) == len(runtime.registry.sites))
    if site in mine:
        return SiteScope(caller, [site], False)
    if caller.sites is None:
        raise HTTPException(404, f"no site {site!r} here")
    raise HTTPException(403, f"site {site!r} is not one of this caller's sites")


def check_site(caller: Caller, site: str) -> None:
    """403 when `caller` does not work on `site` (an alert or device of another site)."""
    if not caller.may(site):
        raise HTTPException(403, f"site {site!r} is not one of this caller's sites")


Reader = Annotated[Caller, Depends(read_caller)]
Sites = Annotated[SiteScope, Depends(site_scope)]
Duty = Annotated[Caller, Depends(needs("duty"))]
Admin = Annotated[Caller, Depends(needs("admin"))]


def who(caller: Caller, body: OperatorAction) -> str:
    """The staff member an action is recorded under: the session's own, or `by` when a
    service token acts for someone."""
    if caller.staff:
        return caller.name
    if not body.by:
        raise HTTPException(422, "`by` (staff id) is required with the API token")
    return body.by


def run(runtime: AppRuntime, cmd: Command | DeviceCommand) -> CommandResult:
    """Submit a command to the engine and wait for its commit; its refusal as HTTP status."""
    fut = runtime.submit(cmd)
    try:
        result = fut.result(COMMAND_TIMEOUT_S)
    except TimeoutError:
        raise HTTPException(503, "engine busy; try again") from None
    if result.error in ERRORS:
        status, detail = ERRORS[result.error]
        raise ApiError(status, detail, result.error)
    if not result.ok:
        raise HTTPException(500, "command failed")
    return result
