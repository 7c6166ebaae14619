"""The call-centre console (一键通 call network): the queue of open home calls across the
caller's sites, one call's card (the home, the resident, the contacts with what was tried,
the home's last 24 hours, the call's audit trail), the operator's contact attempts and
outcomes, and the page `/console` (docs/home-beds.md, "Console").

A home call is any open alert of a home-bed site. The card holds personal data (names,
phone numbers, care notes): it is for the operator's screen only, never logged; the
commands write contact ids and outcome codes, not names, to the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from alerting.homecalls import call_resident, is_home_call
from alerting.items import Command
from alerting.model import SEVERITY_RANK, Alert
from alerting.outcomes import (
    CONTACT_ACTION,
    OUTCOME_ACTION,
    OUTCOMES,
    parse_contact_note,
    parse_outcome_note,
)
from alerting.views import iso
from dashboards.deps import (
    ERRORS,
    ApiError,
    AppRuntime,
    Caller,
    Duty,
    Reader,
    Sites,
    check_site,
    run,
    who,
)
from dashboards.schemas import ContactAction, OutcomeAction
from dashboards.screen import STATIC
from devices.siteconfig import ResidentConfig

RECENT_MS = 24 * 3600 * 1000  # the card's "recent events" of the home
QUEUE_LIMIT = 5000
PRIORITY_RANK = {"emergency": 0, "routine": 1, "trouble": 2}
TARGETED = ("escalate", "renotify")  # their audit note is the step's target


def queue_order(a: Alert) -> tuple[int, int, int, int, int]:
    """Waiting calls (nobody answered) first; among them the most urgent (severity, then
    priority), then the one waiting longest; calls in hand after, in the same order."""
    return (
        0 if a.acknowledged_at is None else 1,
        SEVERITY_RANK[a.severity],
        PRIORITY_RANK.get(a.priority, len(PRIORITY_RANK)),
        a.raised_at,
        a.id,
    )


def contact_label(resident: ResidentConfig | None, contact_id: str) -> str:
    """How the console names a contact in a trail: relation and name ('女儿 李敏')."""
    for c in resident.contacts if resident else ():
        if c.id == contact_id:
            return f"{c.relation} {c.name}" if c.relation else c.name
    return contact_id


def trail_row(row: dict[str, Any], resident: ResidentConfig | None) -> dict[str, Any]:
    """An audit row as the console shows it: the time as RFC 3339, and what it means for a
    home call (the contact and result, the outcome code, the escalation step's target)."""
    out: dict[str, Any] = {**row, "at": iso(row["at"])}
    if row["action"] == CONTACT_ACTION:
        parsed = parse_contact_note(row["note"])
        if parsed:
            out["contact"], out["result"] = parsed
            out["contact_label"] = contact_label(resident, parsed[0])
    elif row["action"] == OUTCOME_ACTION:
        out["outcome"] = parse_outcome_note(row["note"])
    elif row["action"] in TARGETED:
        out["target"] = row["note"]
    return out


def console_router(runtime: AppRuntime, alert_json: Callable[[Alert], dict[str, Any]]) -> APIRouter:
    """The console's routes over `runtime`; `alert_json` is the one view of an alert."""
    reg = runtime.registry
    router = APIRouter(tags=["console"])

    def site_fields(site_id: str) -> dict[str, Any]:
        site = reg.sites[site_id]
        return {
            "site_name": site.name,
            "address": site.address,
            "timezone": str(runtime.rules.tz(site_id)),
        }

    def label_of(site: str, device_id: str) -> str | None:
        """A device as the site file labels it ('厨房 (kitchen)'); None without a label."""
        dev = reg.get(site, device_id)
        return dev.label if dev else None

    def type_of(site: str, device_id: str) -> str | None:
        dev = reg.get(site, device_id)
        return dev.type.name if dev else None

    @router.get("/api/console/queue")
    def queue(scope: Sites) -> list[dict[str, Any]]:
        """The open home calls of the caller's home-bed sites: waiting first (most urgent,
        then longest waiting), then those in hand; each with what has been tried."""
        homes = [s for s in scope.ids if reg.sites[s].kind == "home_bed"]
        if not homes:
            return []
        calls = sorted(runtime.alerts.find("open", QUEUE_LIMIT, homes), key=queue_order)
        trails = runtime.alerts.audits([a.id for a in calls])
        out = []
        for a in calls:
            resident = call_resident(reg, a)
            rows = [trail_row(r, resident) for r in trails.get(a.id, [])]
            out.append(
                {
                    **alert_json(a),
                    **site_fields(a.site),
                    "waiting": a.acknowledged_at is None,
                    "resident_name": resident.display_name if resident else None,
                    "tried": [r for r in rows if r["action"] == CONTACT_ACTION and "result" in r],
                    "outcome": next(
                        (r["outcome"] for r in reversed(rows) if r.get("outcome")), None
                    ),
                }
            )
        return out

    def home_call(alert_id: int, caller: Caller) -> Alert:
        """The alert, if the caller works on its site and it is a home call: 404, 403, 409."""
        a = runtime.alerts.get(alert_id)
        if a is None:
            raise ApiError(404, "no such alert", "not_found")
        check_site(caller, a.site)
        if not is_home_call(reg, a):
            raise ApiError(*ERRORS["not_home_call"], "not_home_call")
        return a

    @router.get("/api/console/calls/{alert_id}")
    def card(alert_id: int, caller: Reader) -> dict[str, Any]:
        """One call's card: the home, the resident (name, care notes), the contacts (each
        with its last attempt), the home's alerts and device events of the last 24 h
        (newest first) and the call's audit trail (oldest first)."""
        a = home_call(alert_id, caller)
        resident = call_resident(reg, a)
        trail = [trail_row(r, resident) for r in runtime.alerts.audit(a.id)]
        last: dict[str, dict[str, Any]] = {}
        for r in trail:
            if "result" in r:
                last[r["contact"]] = {"result": r["result"], "at": r["at"], "by": r["by"]}
        since = runtime.clock.now_ms() - RECENT_MS
        events = [
            {
                "kind": "alert",
                "at": j["raised_at"],
                "alert_id": j["id"],
                "rule": j["rule"],
                "title": j["title"],
                "title_en": j["title_en"],
                "state": j["state"],
                "device_id": j["device_id"],
                "device_label": label_of(a.site, j["device_id"]),
                "device_type": j["device_type"],
            }
            for j in map(alert_json, runtime.alerts.raised_since(a.site, since))
        ] + [
            {
                "kind": "device",
                "at": iso(e["at"]),
                "event": e["event"],
                "device_id": e["device_id"],
                "device_label": label_of(a.site, e["device_id"]),
                "device_type": type_of(a.site, e["device_id"]),
            }
            for e in runtime.alerts.device_events(a.site, since)
        ]
        events.sort(key=lambda e: str(e["at"]), reverse=True)
        return {
            "alert": alert_json(a),
            "site": {"id": a.site, "name": reg.sites[a.site].name, **site_fields(a.site)},
            "resident": None
            if resident is None
            else {
                "id": resident.id,
                "name": resident.display_name,
                "care_notes": resident.care_notes,
            },
            "contacts": [
                {
                    "id": c.id,
                    "role": c.role,
                    "relation": c.relation,
                    "name": c.name,
                    "phone": c.e164,
                    "channels": list(c.channels),
                    "quiet_hours": c.quiet_hours.model_dump() if c.quiet_hours else None,
                    "last": last.get(c.id),
                }
                for c in (resident.contacts if resident else [])
            ],
            "outcomes": [
                {"code": o.code, "closes": o.closes, "help_sent": o.help_sent}
                for o in OUTCOMES.values()
            ],
            "events": events,
            "history": trail,
        }

    @router.post("/api/alerts/{alert_id}/contact")
    def contact(alert_id: int, body: ContactAction, identity: Duty) -> dict[str, Any]:
        """A call to one of the resident's contacts and its result (reached / no_answer),
        audited as `contact` with who and when; the alert as it stands."""
        a = home_call(alert_id, identity)
        cmd = Command(
            "contact", a.id, who(identity, body), body.note, code=body.result, contact=body.contact
        )
        result = run(runtime, cmd)
        assert result.alert is not None
        return alert_json(result.alert)

    @router.post("/api/alerts/{alert_id}/outcome")
    def outcome(alert_id: int, body: OutcomeAction, identity: Duty) -> dict[str, Any]:
        """What became of the call, audited as `outcome` with who and when: acknowledges the
        call if nobody had (escalation stops); false_alarm and solved_by_phone resolve it."""
        a = home_call(alert_id, identity)
        result = run(
            runtime, Command("outcome", a.id, who(identity, body), body.note, code=body.code)
        )
        assert result.alert is not None
        return alert_json(result.alert)

    @router.get("/console", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "console.html", headers={"Cache-Control": "no-cache"})

    return router
