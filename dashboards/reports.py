"""The watch report over HTTP (docs/reports.md): JSON, printable HTML, CSV, and the shift
handover summary the screen shows, of one site (`?site=`, or the caller's only one; each
site's report service, runtime.site_reports). Reads only; no names of residents in any."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from alerting.reports.jsonout import report_dict
from alerting.reports.render_csv import table_csv
from alerting.reports.render_html import render_html
from alerting.reports.service import ReportService
from alerting.reports.shifts import local_date, local_ms
from dashboards.deps import Sites

MAX_DAYS = 366
DAY_MS = 86_400_000

router = APIRouter(prefix="/api/reports", tags=["reports"])

Shift = Literal["current", "previous"]
FROM = Query(None, alias="from", description="RFC 3339, epoch ms, or local time (site zone)")
TO = Query(None, description="as `from`; default now")


def site_report(request: Request, scope: Sites) -> ReportService:
    """The report service of the one site asked for (400 for a caller of several sites
    without `?site=`, 403 for a site not the caller's)."""
    reports: dict[str, ReportService] = request.app.state.runtime.site_reports
    return reports[scope.one()]


SiteReport = Annotated[ReportService, Depends(site_report)]


def parse_local(value: str | None, default_ms: int, svc: ReportService) -> int:
    """RFC 3339 with an offset, epoch milliseconds, or a local date/time without offset
    (the site's time zone, as a datetime-local form field sends it)."""
    if value is None or value == "":
        return default_ms
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(422, f"not a time: {value!r} (RFC 3339 or epoch ms)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=svc.tz)
    return int(parsed.timestamp() * 1000)


def period(
    svc: ReportService,
    now: int,
    from_: str | None,
    to: str | None,
    shift: Shift | None,
    days: int | None,
) -> tuple[int, int]:
    if shift is not None:
        span = svc.shift(shift, now)
        if span is None:
            raise HTTPException(404, "no such shift")
        return span.start_ms, span.end_ms
    if days is not None:
        start, end = svc.daily_period(None, now)
        day = local_date(start, svc.tz) - timedelta(days=days - 1)
        first = min(s.start for s in svc.shifts)
        return local_ms(day, first, svc.tz), end
    end = parse_local(to, now, svc)
    start = parse_local(from_, end - DAY_MS, svc)
    if start >= min(end, now):
        raise HTTPException(422, "`from` must be before `to` and before now")
    if end - start > MAX_DAYS * DAY_MS:
        raise HTTPException(422, f"a report covers at most {MAX_DAYS} days")
    return start, end


@router.get("/watch")
def watch_json(
    svc: SiteReport,
    from_: str | None = FROM,
    to: str | None = TO,
    shift: Shift | None = None,
    days: int | None = Query(None, ge=1, le=MAX_DAYS, description="last N whole watch days"),
) -> Response:
    """The watch report over [from, to): response times, alarm load, devices, fire."""
    now = svc.clock.now_ms()
    start, end = period(svc, now, from_, to, shift, days)
    body = orjson.dumps(report_dict(svc.report(start, end, now)))
    return Response(body, media_type="application/json")


@router.get("/watch.csv")
def watch_csv(
    svc: SiteReport,
    from_: str | None = FROM,
    to: str | None = TO,
    shift: Shift | None = None,
    days: int | None = Query(None, ge=1, le=MAX_DAYS),
    table: Literal[
        "alerts", "shifts", "devices", "overrides", "home_calls", "equipment_faults", "rounds"
    ] = "alerts",
) -> Response:
    """CSV (UTF-8 with BOM): alerts = one row per wait for an answer; shifts; devices =
    offline episodes; overrides = supervisors' remote resets of calls; home_calls = a home
    bed's calls (answer, first human contact, outcomes); equipment_faults = each time a fire
    device was out of order, with its time in fault; rounds = patrol rounds (done, late,
    missed)."""
    now = svc.clock.now_ms()
    start, end = period(svc, now, from_, to, shift, days)
    report = svc.report(start, end, now)
    name = f"watch-{local_date(report.start_ms, svc.tz).isoformat()}-{table}.csv"
    return Response(
        table_csv(report, svc.rules, table).encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/watch.html", response_class=HTMLResponse)
def watch_html(
    request: Request,
    svc: SiteReport,
    from_: str | None = FROM,
    to: str | None = TO,
    shift: Shift | None = None,
    days: int | None = Query(None, ge=1, le=MAX_DAYS),
    lang: Literal["zh", "en"] = "zh",
) -> HTMLResponse:
    """The printable report (zh-CN or English) with inline SVG charts."""
    now = svc.clock.now_ms()
    start, end = period(svc, now, from_, to, shift, days)
    report = svc.report(start, end, now)
    exact = {"from": str(report.start_ms), "to": str(report.end_ms)}
    base = "/api/reports/watch"

    token = request.query_params.get("access_token")  # a viewer token in the URL: keep it
    site = request.query_params.get("site")  # and the site asked for

    def url(path: str, **q: str) -> str:
        keep = {"site": site, "access_token": token}
        return f"{path}?{urlencode({**q, **{k: v for k, v in keep.items() if v}})}"

    links = {
        "self": base + ".html",
        "token": token or "",
        "prev_shift": url(base + ".html", shift="previous", lang=lang),
        "this_shift": url(base + ".html", shift="current", lang=lang),
        "last_day": url(base + ".html", days="1", lang=lang),
        "last_7": url(base + ".html", days="7", lang=lang),
        "csv_alerts": url(base + ".csv", **exact, table="alerts"),
        "csv_shifts": url(base + ".csv", **exact, table="shifts"),
        "csv_devices": url(base + ".csv", **exact, table="devices"),
        "csv_overrides": url(base + ".csv", **exact, table="overrides"),
        "csv_equipment_faults": url(base + ".csv", **exact, table="equipment_faults"),
        **(
            {"csv_home_calls": url(base + ".csv", **exact, table="home_calls")}
            if report.home_beds is not None
            else {}
        ),
        "json": url(base, **exact),
        "other_lang": url(base + ".html", **exact, lang="en" if lang == "zh" else "zh"),
    }
    page = render_html(report, svc.registry, svc.rules, lang, links)
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/handover")
def handover(svc: SiteReport) -> Response:
    """The shift handover summary: this shift so far, the last shift, open now."""
    return Response(orjson.dumps(svc.handover(svc.clock.now_ms())), media_type="application/json")
