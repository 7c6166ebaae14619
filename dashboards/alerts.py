"""/api/alerts: the list, one alert with its history, incidents, the live stream, and
the operators' actions (ack, resolve, confirm/dismiss a fire, shelve). Every read shows
the caller's sites (and the watch's own alerts); an action on another site's alert is 403,
a supervisor's override of a call's bedside reset by anyone else too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Query
from sse_starlette import EventSourceResponse

from alerting.items import Command
from alerting.model import Alert
from alerting.views import AlertView, iso
from dashboards.deps import AppRuntime, Caller, Duty, Reader, Sites, check_site, run, who
from dashboards.schemas import Dismissal, OperatorAction, ResolveAction, ShelveAction
from dashboards.stream import alert_events


def alerts_router(runtime: AppRuntime, alert_json: AlertView) -> APIRouter:
    """The alerts routes over `runtime`; `alert_json` is the one view of an alert."""
    alerts = APIRouter(prefix="/api/alerts", tags=["alerts"])

    @alerts.get("")
    def list_alerts(
        scope: Sites,
        state: Literal[
            "open", "closed", "all", "active_unack", "active_ack", "cleared_unack", "shelved"
        ] = "open",
        limit: int = Query(500, ge=1, le=5000),
    ) -> list[dict[str, Any]]:
        return [alert_json(a) for a in runtime.alerts.find(state, limit, scope.of_alerts())]

    @alerts.get("/stream")
    async def stream(
        scope: Sites,
        last_event_id: Annotated[str | None, Header()] = None,
        since: Annotated[str | None, Query(alias="last_event_id", pattern=r"^\d{1,18}$")] = None,
    ) -> EventSourceResponse:
        """Every alert change of the caller's sites as Server-Sent Events; resumable with
        the Last-Event-ID header (EventSource's own reconnect) or ?last_event_id= (a page
        opening a new stream)."""
        resume = last_event_id or since
        sites = scope.of_alerts()
        events = alert_events(runtime.alerts, runtime.hub, resume, alert_json, iso, sites)
        return EventSourceResponse(events, ping=15)

    @alerts.get("/groups")
    def groups(scope: Sites) -> list[dict[str, Any]]:
        """Open alerts as incidents: one group per room (residents) or floor (fire)."""
        out: dict[str, dict[str, Any]] = {}
        for a in runtime.alerts.find("open", 5000, scope.of_alerts()):  # in screen order
            g = out.setdefault(
                a.group_key,
                {"group": a.group_key, "floor": a.floor, "priority": a.priority, "alerts": []},
            )
            g["alerts"].append(alert_json(a))
        return list(out.values())

    def alert_of(alert_id: int, caller: Caller) -> Alert:
        """The alert, if the caller works on its site: 404 unknown, 403 another site's."""
        a = runtime.alerts.get(alert_id)
        if a is None:
            raise HTTPException(404, "no such alert")
        check_site(caller, a.site)
        return a

    @alerts.get("/{alert_id}")
    def get_alert(alert_id: int, caller: Reader) -> dict[str, Any]:
        a = alert_of(alert_id, caller)
        return {
            **alert_json(a),
            "history": [{**h, "at": iso(h["at"])} for h in runtime.alerts.audit(alert_id)],
        }

    def command(
        action: Literal["ack", "resolve", "shelve", "unshelve", "confirm", "dismiss"],
        alert_id: int,
        body: OperatorAction,
        identity: Caller,
        seconds: float | None = None,
        override: bool = False,
    ) -> Any:
        a = alert_of(alert_id, identity)
        by = supervisor(identity, body, a.site) if override else who(identity, body)
        result = run(runtime, Command(action, alert_id, by, body.note, seconds, override))
        if result.alert is None:
            raise HTTPException(500, "command failed")
        return alert_json(result.alert)

    def supervisor(caller: Caller, body: OperatorAction, site: str) -> str:
        """The supervisor an override is recorded under, or 403: a supervisor's own session,
        or an admin token whose `by` names a supervisor of the alert's site."""
        by = who(caller, body)
        staff = runtime.staff
        if staff.role_of(by) == "supervisor" and (
            caller.staff or (caller.role == "admin" and staff.site_of(by) == site)
        ):
            return by  # a session is for her own site already (alert_of checked it)
        raise HTTPException(
            403,
            "only a supervisor overrides a bedside reset: her session, or an admin token"
            " with `by` naming a supervisor of the alert's site",
        )

    @alerts.post("/{alert_id}/ack")
    def ack(alert_id: int, body: OperatorAction, identity: Duty) -> Any:
        return command("ack", alert_id, body, identity)

    @alerts.post("/{alert_id}/resolve")
    def resolve(alert_id: int, body: ResolveAction, identity: Duty) -> Any:
        """End the alert. A call reset at the bedside (docs/rules.md, `reset: bedside`) is
        refused (409) unless a supervisor overrides: `override: true` with the reason in
        `note`, audited as `override_reset`."""
        return command("resolve", alert_id, body, identity, override=body.override)

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

    return alerts
