"""The district's home beds for a month (家庭养老床位, docs/district.md "Home beds"): per
home-bed site and summed over the district, the calls answered within 60 s, the first
human contact, the operator's outcomes, check-in compliance and the monthly visit rate
(月探访率), per site and per community worker. The figures are the watch report's
(alerting/reports/compute/home_beds.py, through each site's ReportService), never
computed again here; the caller sees the sites its grant covers, as on the district page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from alerting.reports.compute.home_beds import district_totals
from alerting.reports.jsonout import call_summary, home_summary, worker_summary
from alerting.reports.service import ReportService, home_months
from alerting.views import iso
from dashboards.district import Sites

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


def home_beds_body(
    reports: dict[str, ReportService], sites: list[str], month: str | None, now_ms: int
) -> dict[str, Any]:
    """The month's figures of every home bed among `sites` (registry order) and their totals;
    `month` "YYYY-MM" (default: this month in the first home bed's zone). ValueError for a
    month that has not begun."""
    services = [reports[s] for s in sites if s in reports]
    homes = [svc for svc in services if svc.home_site() is not None]
    if month is None:
        tz = homes[0].tz if homes else None
        month = datetime.fromtimestamp(now_ms / 1000, tz).strftime("%Y-%m")
    figures = home_months(services, month, now_ms)
    rows = []
    for svc, f in figures:
        site = svc.registry.site
        rows.append(
            {
                "id": site.id,
                "name": site.name,
                "timezone": str(svc.tz.key),
                "start": iso(f.month_start_ms),
                "end": iso(f.month_end_ms),
                **home_summary(f),
                "not_visited": f.visits.not_visited,
            }
        )
    total = district_totals([f for _, f in figures], now_ms)

    return {
        "month": month,
        "as_of": iso(now_ms),
        "sites": rows,
        "district": {
            "sites": total.sites,
            "calls": call_summary(total.calls),
            "emergency": call_summary(total.emergency),
            "outcomes": [{"code": o.code, "calls": o.calls} for o in total.calls.outcomes],
            "without_outcome": total.calls.without_outcome,
            "help_sent": total.calls.help_sent,
            "checkin": {
                "days": total.checkin_days,
                "on_time": total.checkin_on_time,
                "share": total.checkin_share,
            },
            "visits": {
                "planned": total.planned,
                "visited": total.visited,
                "rate": total.visit_rate,
                "by_worker": [worker_summary(w) for w in total.workers],
            },
        },
    }


def home_beds_router() -> APIRouter:
    """GET /api/district/home-beds over the runtime's per-site report services."""
    router = APIRouter(tags=["district"])

    @router.get("/api/district/home-beds")
    async def home_beds(
        request: Request,
        sites: Sites,
        month: str | None = Query(None, pattern=MONTH, description="YYYY-MM; default this month"),
    ) -> dict[str, Any]:
        """The home beds the caller may read, for a month: calls, first human contact,
        outcomes, check-ins, visit rates per site and per worker, and district totals."""
        runtime = request.app.state.runtime
        reports: dict[str, ReportService] = runtime.site_reports
        now = runtime.clock.now_ms()
        try:
            return await run_in_threadpool(home_beds_body, reports, sites, month, now)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None

    return router
