"""What every router shares: the runtime the app is built on (a protocol, so tests and the
service give their own), who is calling (bearer token or staff session) and what role
that gives, and running a command through the engine's queue.

Dependencies are `Annotated` aliases here (Duty, Admin), one place for every router."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

from fastapi import Depends, Header, HTTPException, Request
from prometheus_client import CollectorRegistry

from alerting.items import Command, CommandResult, DeviceCommand
from alerting.reports.service import ReportService
from alerting.rulebook import Rulebook
from alerting.store import AlertReader
from dashboards.auth import RANK, StaffAuth, TokenBook
from dashboards.schemas import OperatorAction
from dashboards.stream import ChangeHub
from devices.ports import ReadingsQuery
from devices.registry import Registry

COMMAND_TIMEOUT_S = 5.0


class AppRuntime(Protocol):
    """What the routers need of the service (carewatch/runtime.py implements it)."""

    registry: Registry
    alerts: AlertReader
    rules: Rulebook
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


def visible_sites(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> list[str]:
    """The sites the caller may read, in the registry's order (a read dependency: 401/403
    as for every read). The district view and every list across sites use it."""
    reader(request, authorization)
    runtime: AppRuntime = request.app.state.runtime
    return runtime.registry.site_ids()


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
        raise HTTPException(status, detail)
    if not result.ok:
        raise HTTPException(500, "command failed")
    return result
