"""The district view: every site of the service with its state at a glance, for a
district's civil-affairs officer on a wall display (docs/district.md says how each figure
is counted).

A summary costs three reads, whatever the number of sites: the open alerts, the device
states and the maintenance table; the rest is one pass over the registered devices held
in memory. `GET /api/district` answers it once, `GET /api/district/stream` again after
alert changes (at most one update per THROTTLE_S) and when time alone changes a figure
(an alert passing the 60-second mark), and `GET /district` is the page."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from alerting.model import Alert, AlertState
from alerting.rulebook import Rulebook
from alerting.rules import AbsenceRule, EventRule
from alerting.store import AlertReader
from alerting.views import iso
from dashboards.deps import AppRuntime, visible_sites
from dashboards.screen import STATIC
from dashboards.stream import RETRY_MS, ChangeHub
from devices.ports import Clock
from devices.registry import Registry
from devices.siteconfig import SYSTEM_SITE

UNACK_AFTER_MS = 60_000  # unacknowledged longer than this: someone should have answered
OPEN_LIMIT = 1_000_000  # open alerts read per summary (the store holds far fewer)
THROTTLE_S = 0.5  # the stream sends at most one summary per this
REFRESH_S = 15.0  # and looks again this often without a change (maintenance ending, broker)
SEVERITIES = ("critical", "high", "medium", "low")
# what the page colours a site by, most urgent first
STATUS = ("alarm", "attention", "open", "ok")
Sites = Annotated[list[str], Depends(visible_sites)]  # the sites the caller may read
SORT_ONLY = frozenset({"oldest_unack_ms", "emergency_unack"})  # not sent


@dataclass(frozen=True, slots=True)
class Watched:
    """A registered device as the summary sees it: how long it may be silent (its absence
    rule's interval, else its type's) and whether an absence rule supervises it at all."""

    id: str
    window_ms: int
    supervised: bool


@dataclass(frozen=True, slots=True)
class Summary:
    """The district's figures (`body`, the JSON) and when time alone changes them next
    (epoch ms: an unacknowledged alert passing the 60-second mark), None if never."""

    body: dict[str, Any]
    next_due_ms: int | None


def is_fire_fault(alert: Alert, registry: Registry, rules: Rulebook) -> bool:
    """Fire equipment out of order: an open alert of a fire-safety device (detector, call
    point, fire-water pressure, electrical fire monitor) that is trouble priority (fault,
    offline, tamper, battery), or of an offline or fault rule whatever priority a site's
    rules give it. A fire alarm itself (emergency) is not a fault."""
    dev = registry.get(alert.site, alert.device_id)
    if dev is None or not dev.type.fire_safety:
        return False
    if alert.priority == "trouble":
        return True
    rule = rules.named(alert.site, alert.rule)
    return isinstance(rule, AbsenceRule) or (isinstance(rule, EventRule) and "fault" in rule.events)


def urgency(row: dict[str, Any]) -> tuple[Any, ...]:
    """The sort key, most urgent first: critical alerts nobody acknowledged, then alerts
    unacknowledged past 60 s, then any unacknowledged (more first; at equal counts the site
    with more unacknowledged emergencies, a resident or a fire, then the one waiting
    longest), then sites needing attention (fire equipment out of order, site not heard),
    then open alerts by severity, then offline devices; the registry's order last."""
    oldest = row["oldest_unack_ms"]
    return (
        -row["critical_unack"],
        -row["unack_over_60s"],
        -row["unack"],
        -row["emergency_unack"],
        math.inf if oldest is None else oldest,
        STATUS.index(row["status"]),
        *(-row["alerts"][s] for s in SEVERITIES),
        -row["fire_faults"],
        -row["devices_offline"],
        row["order"],
    )


class DistrictSummary:
    """Every site's figures over the store's read connections; one instance per service
    (the per-device plan is built once: the registry and the rules do not change while
    the service runs)."""

    def __init__(
        self,
        registry: Registry,
        rules: Rulebook,
        alerts: AlertReader,
        clock: Clock,
        broker_ok: Callable[[], bool],
    ) -> None:
        self._reg = registry
        self._rules = rules
        self._alerts = alerts
        self._clock = clock
        self._broker_ok = broker_ok
        self._plan: dict[str, list[Watched]] | None = None

    def plan(self) -> dict[str, list[Watched]]:
        """Each site's devices with their silence windows, built on first use."""
        if self._plan is None:
            plan: dict[str, list[Watched]] = {s: [] for s in self._reg.sites}
            for d in self._reg.devices():
                absence = self._rules.for_device(d).absence
                seconds = (absence.supervision_s if absence else None) or d.type.supervision_s
                plan[d.site].append(Watched(d.id, seconds * 1000, absence is not None))
            self._plan = plan
        return self._plan

    def __call__(self, sites: Sequence[str]) -> Summary:
        """The summary of `sites` (those the caller may read), most urgent first, and the
        watch's own open alerts once."""
        now = self._clock.now_ms()
        open_alerts = self._alerts.find("open", OPEN_LIMIT)
        states = self._alerts.device_states()
        maintenance = self._alerts.maintenance()
        broker = self._broker_ok()
        by_site: dict[str, list[Alert]] = {}
        for a in open_alerts:
            by_site.setdefault(a.site, []).append(a)
        rows = []
        due: list[int] = []
        plan = self.plan()
        for order, site_id in enumerate(sites):
            site = self._reg.sites.get(site_id)
            if site is None:
                continue
            row: dict[str, Any] = {
                "id": site.id,
                "name": site.name,
                "kind": site.kind,
                "timezone": str(self._rules.tz(site.id)),
                "screen": f"/?site={site.id}",
                "order": order,
                **self._alert_figures(by_site.get(site.id, []), now, due),
                **_device_figures(plan.get(site.id, []), site.id, states, maintenance, now),
            }
            if not broker:
                row["link"] = "broker_down"
            row["status"] = _status(row)
            rows.append(row)
        rows.sort(key=urgency)
        for row in rows:
            del row["order"]
        system = [
            {
                "id": str(a.id),
                "rule": a.rule,
                "title": self._rules.title(a.rule, "zh", SYSTEM_SITE),
                "title_en": self._rules.title(a.rule, "en", SYSTEM_SITE),
                "severity": a.severity.value,
                "state": a.state.value,
                "raised_at": iso(a.raised_at),
            }
            for a in by_site.get(SYSTEM_SITE, [])
        ]
        body = {"as_of": iso(now), "broker": broker, "system": system, "sites": rows}
        return Summary(body, min(due) if due else None)

    def _alert_figures(self, alerts: list[Alert], now: int, due: list[int]) -> dict[str, Any]:
        counts = dict.fromkeys(SEVERITIES, 0)
        unack = critical_unack = emergency_unack = over = fire = 0
        oldest: int | None = None
        for a in alerts:
            counts[a.severity.value] += 1
            if a.state is AlertState.ACTIVE_UNACK:
                unack += 1
                critical_unack += a.severity.value == "critical"
                emergency_unack += a.priority == "emergency"
                if now - a.raised_at > UNACK_AFTER_MS:
                    over += 1
                else:
                    due.append(a.raised_at + UNACK_AFTER_MS + 1)
                oldest = a.raised_at if oldest is None else min(oldest, a.raised_at)
            fire += is_fire_fault(a, self._reg, self._rules)
        return {
            "alerts": counts,
            "open": len(alerts),
            "unack": unack,
            "critical_unack": critical_unack,
            "emergency_unack": emergency_unack,
            "unack_over_60s": over,
            "oldest_unack_at": iso(oldest),
            "oldest_unack_ms": oldest,
            "fire_faults": fire,
        }


def _device_figures(
    devices: list[Watched],
    site: str,
    states: dict[tuple[str, str], tuple[int | None, int | None]],
    maintenance: dict[tuple[str, str], dict[str, Any]],
    now: int,
) -> dict[str, Any]:
    """Offline devices (last will, or silent past their supervision interval), devices never
    heard, devices in maintenance, and the link: `ok` when any device of the site was heard
    within its own window, `silent` when none was, `never` when none ever was."""
    offline = never = held = 0
    last: int | None = None
    on_time = False
    for d in devices:
        seen, online = states.get((site, d.id), (None, None))
        if seen is not None:
            last = seen if last is None else max(last, seen)
            on_time = on_time or now - seen <= d.window_ms
        if (site, d.id) in maintenance:
            held += 1
        elif online == 0 or (seen is not None and d.supervised and now - seen > d.window_ms):
            offline += 1
        elif seen is None:
            never += 1
    link = "ok" if on_time else "never" if last is None else "silent"
    return {
        "devices": len(devices),
        "devices_offline": offline,
        "devices_never_heard": never,
        "devices_maintenance": held,
        "link": link if devices else "no_devices",
        "last_heard": iso(last),
    }


def _status(row: dict[str, Any]) -> str:
    """alarm: a critical alert nobody acknowledged; attention: any unacknowledged alert, fire
    equipment out of order, or the site not heard; open: alerts or offline devices; ok."""
    if row["critical_unack"]:
        return "alarm"
    if row["unack"] or row["fire_faults"] or row["link"] not in ("ok", "no_devices"):
        return "attention"
    if row["open"] or row["devices_offline"]:
        return "open"
    return "ok"


def public(body: dict[str, Any]) -> dict[str, Any]:
    """The summary as sent: without the figures only the sort uses."""
    return {
        **body,
        "sites": [{k: v for k, v in r.items() if k not in SORT_ONLY} for r in body["sites"]],
    }


def _same(a: dict[str, Any] | None, b: dict[str, Any]) -> bool:
    """Whether two summaries show the same, their time stamps aside."""
    return a is not None and {**a, "as_of": None} == {**b, "as_of": None}


async def district_events(
    summary: Callable[[], Summary],
    hub: ChangeHub,
    now_ms: Callable[[], int],
    throttle_s: float = THROTTLE_S,
    refresh_s: float = REFRESH_S,
) -> AsyncIterator[ServerSentEvent]:
    """The summary at once, then again whenever it changed: after alert changes (woken by
    the engine's commits, at most once per `throttle_s`), when an alert passes the 60-second
    mark, and every `refresh_s` otherwise; an unchanged summary is not sent again."""
    wake = hub.subscribe()  # before the first read: nothing committed in between is missed
    sent: dict[str, Any] | None = None
    last = -math.inf
    try:
        while True:
            wake.clear()
            last = time.monotonic()
            got = await run_in_threadpool(summary)
            body = public(got.body)
            if not _same(sent, body):
                sent = body
                yield ServerSentEvent(orjson.dumps(body).decode(), event="summary", retry=RETRY_MS)
            wait_s = refresh_s
            if got.next_due_ms is not None:
                wait_s = min(wait_s, max(0.0, (got.next_due_ms - now_ms()) / 1000))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), wait_s)
            await asyncio.sleep(max(0.0, last + throttle_s - time.monotonic()))
    finally:
        hub.unsubscribe(wake)


def district_router(runtime: AppRuntime) -> APIRouter:
    """The district view's routes over `runtime`."""
    clock: Clock = runtime.clock
    summary = DistrictSummary(
        runtime.registry,
        runtime.rules,
        runtime.alerts,
        clock,
        lambda: runtime.health().get("broker", False),
    )
    router = APIRouter(tags=["district"])

    @router.get("/api/district")
    def district(sites: Sites) -> dict[str, Any]:
        """Every site the caller may read with its state, most urgent first, and the watch's
        own open alerts once (docs/district.md)."""
        return public(summary(sites).body)

    @router.get("/api/district/stream")
    async def stream(sites: Sites) -> EventSourceResponse:
        """The district summary as Server-Sent Events (`summary`), again after each change."""
        events = district_events(lambda: summary(sites), runtime.hub, clock.now_ms)
        return EventSourceResponse(events, ping=15)

    @router.get("/district", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "district.html", headers={"Cache-Control": "no-cache"})

    return router
