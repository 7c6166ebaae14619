"""A site's export to the regulator's platform over HTTP (docs/export.md): read it without
sending (JSON or CSV), queue it for sending to the site's export target, and its JSON
Schema. The figures are the watch report's; no resident's name is in any of it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal, Protocol

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from alerting.reports.export import SCHEMA_FILE, Exporter, ExportError
from alerting.reports.export_csv import export_csv
from dashboards.deps import Admin, check_site, reader, visible_sites
from devices.siteconfig import SITE_PATTERN

router = APIRouter(prefix="/api/exports", tags=["exports"])

Site = Annotated[str | None, Query(pattern=SITE_PATTERN, description="default: the only site")]
Day = Annotated[
    str | None, Query(alias="date", description="YYYY-MM-DD: the watch day starting that date")
]
Revision = Annotated[int, Query(ge=1, description="a new revision is a new export (new key)")]
Sites = Annotated[list[str], Depends(visible_sites)]


class ExportRuntime(Protocol):
    """What this router needs of the service (carewatch/runtime.py has it)."""

    exporters: Mapping[str, Exporter]


def _exporter(request: Request, site: str | None, sites: list[str]) -> Exporter:
    runtime: ExportRuntime = request.app.state.runtime
    if site is None and len(sites) == 1:
        site = sites[0]
    if site is None:
        raise HTTPException(400, "this service watches several sites: give ?site=")
    if site not in sites:
        if site in runtime.exporters:  # a site of this service, but not the caller's
            raise HTTPException(403, f"site {site!r} is not one of this caller's sites")
        raise HTTPException(404, "no such site")
    return runtime.exporters[site]


def _day(value: str | None) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"not a date: {value!r} (YYYY-MM-DD)") from None


def _failed(exc: ExportError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


@router.get("")
def read_export(
    request: Request,
    sites: Sites,
    site: Site = None,
    day: Day = None,
    format: Literal["json", "csv"] = "json",
    revision: Revision = 1,
) -> Response:
    """The export of a watch day (default: the last whole one) as it would be sent now; a
    day not over yet reads `period.complete: false`. Nothing is sent."""
    exporter = _exporter(request, site, sites)
    try:
        doc = exporter.document(_day(day), exporter.reports.clock.now_ms(), revision)
    except ExportError as exc:
        raise _failed(exc) from None
    if format == "csv":
        name = f"export-{doc['site']['id']}-{doc['period']['date']}.csv"
        return Response(
            ("\ufeff" + export_csv(doc)).encode(),  # a BOM: spreadsheets keep the Chinese
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return Response(orjson.dumps(doc), media_type="application/json")


@router.post("", status_code=202)
def send_export(
    request: Request,
    caller: Admin,
    sites: Sites,
    site: Site = None,
    day: Day = None,
    revision: Revision = 1,
) -> dict[str, Any]:
    """Queue the export of a whole watch day (default: the last) for the site's export
    target; its Idempotency-Key. Asked again for the same day and revision, it is the same
    key and nothing new is queued (`queued: false`): the receiver sees one export."""
    exporter = _exporter(request, site, sites)
    check_site(caller, exporter.site.id)
    try:
        q = exporter.queue(_day(day), exporter.reports.clock.now_ms(), revision)
    except ExportError as exc:
        raise _failed(exc) from None
    return {
        "site": exporter.site.id,
        "target": exporter.target,
        "key": q.key,
        "queued": q.queued,
        "state": q.state,
    }


@router.get("/schema", dependencies=[Depends(reader)])
def export_schema() -> Response:
    """The JSON Schema of the export document (version 1)."""
    return Response(SCHEMA_FILE.read_bytes(), media_type="application/schema+json")
