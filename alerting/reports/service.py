"""The report for a running site: reads the store, asks the readings store for the fire
equipment, computes, and writes the daily report. Time comes in as arguments."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import orjson

from alerting.notify.formats import JSON_CONTENT_TYPE
from alerting.notify.sender import DeliveryError
from alerting.notify.webhook import WebhookPoster
from alerting.reports.compute import build_report
from alerting.reports.compute.hazards import hazard_figures
from alerting.reports.compute.home_beds import (
    HomeSite,
    Resident,
    home_bed_figures,
    month_of,
    month_span,
)
from alerting.reports.compute.rounds import rounds_figures
from alerting.reports.jsonout import local_iso, report_dict, summary
from alerting.reports.model import ShiftSpan, WatchReport
from alerting.reports.model_home import HomeBedFigures
from alerting.reports.render_csv import alerts_csv
from alerting.reports.render_html import render_html
from alerting.reports.shifts import (
    ShiftDef,
    local_date,
    local_ms,
    parse_hhmm,
    previous_shift,
    shift_at,
    watch_day,
)
from alerting.reports.source import (
    SeriesStats,
    equipment,
    load_hazards,
    load_raised,
    load_round_checkins,
    load_rows,
    load_visits,
)
from alerting.rules import AbsenceRule
from alerting.ruleset import RuleSet
from devices.catalog import Catalog, load_catalog
from devices.ports import Clock, SystemClock
from devices.registry import Registry

log = logging.getLogger("carewatch.reports")


def site_shifts(registry: Registry, catalog: Catalog | None = None) -> list[ShiftDef]:
    """The site file's shifts; without any, the whole day is one shift from midnight,
    named by the catalog (`report.shifts.all_day`) like every shift: Chinese and English."""
    shifts = [ShiftDef(s.name, parse_hhmm(s.start), s.name_en) for s in registry.site.shifts]
    if shifts:
        return shifts
    cat = catalog or load_catalog()
    name = cat.text(cat.default, "report.shifts.all_day")
    return [ShiftDef(name, time(0, 0), cat.text("en", "report.shifts.all_day"))]


@dataclass(frozen=True, slots=True)
class DailyResult:
    """What the daily report did: the report, the files written (the JSON first), and whether the
    webhook took the summary (None: no webhook)."""

    report: WatchReport
    files: list[Path]
    delivered: bool | None  # None: no webhook configured


@dataclass(frozen=True, slots=True)
class Webhook:
    """Where the daily summary goes: a webhook target's URL, its HMAC key and timeout, resolved from
    the rules file and the environment (daily.webhook_for)."""

    url: str
    secret: bytes
    timeout_s: float = 10.0


class ReportService:
    """Reports of a running site: reads the alert store through its own connections, the readings
    store for the fire equipment, and computes."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        registry: Registry,
        rules: RuleSet,
        stats: SeriesStats | None,
        shifts: Sequence[ShiftDef] | None = None,
        clock: Clock | None = None,
        site: str | None = None,
    ) -> None:
        self._connect = connect
        self.clock: Clock = clock or SystemClock()  # for the API's "now"; methods take time
        self.registry = registry
        self.rules = rules
        self._stats = stats
        # in a service of several sites: this site's alerts (and the watch's own) only;
        # `registry` is then that site's (Registry.only)
        self.site = site
        self.shifts = list(shifts) if shifts else site_shifts(registry)
        self.tz = rules.tz

    # --- reports -------------------------------------------------------------------------

    def report(self, start_ms: int, end_ms: int, as_of_ms: int) -> WatchReport:
        """The report over [start_ms, end_ms) as known at `as_of_ms`. The readings store failing
        costs only the equipment figures and adds a warning."""
        end_ms = min(end_ms, as_of_ms)
        conn = self._connect()
        try:
            rows = load_rows(conn, start_ms, end_ms, as_of_ms, self.site)
        finally:
            conn.close()
        warnings = []
        figures = []
        if self._stats is not None:
            try:
                figures = equipment(self._stats, self.registry, self.rules, start_ms, end_ms)
            except Exception as exc:  # the store down must not cost the whole report
                log.warning("fire equipment readings unavailable", extra={"error": str(exc)})
                warnings.append(f"readings store unavailable: {type(exc).__name__}")
        report = build_report(
            rows, self.registry, self.rules, start_ms, end_ms, as_of_ms, self.shifts, figures
        )
        conn = self._connect()
        try:  # the hazard register (compute/hazards.py)
            hazards, fixes = load_hazards(conn, self.site, as_of_ms)
        finally:
            conn.close()
        report = dataclasses.replace(
            report, hazards=hazard_figures(hazards, fixes, start_ms, end_ms, as_of_ms)
        )
        home = self.home_site()
        if home is not None:  # a home bed's report has its home-bed section
            month = month_of(start_ms, self.tz)
            m_start, m_end = month_span(month, self.tz)
            conn = self._connect()
            try:
                visits = load_visits(conn, [home.id], m_start, m_end)
            finally:
                conn.close()
            figures_home = home_bed_figures(
                home, rows.alerts, rows.audit, visits, start_ms, end_ms, as_of_ms, month
            )
            report = dataclasses.replace(report, home_beds=figures_home)
        routes = self.registry.site.rounds.routes if self.registry.site.rounds else []
        if routes:  # a home with patrol routes: its rounds section (docs/reports.md)
            conn = self._connect()
            try:
                rows_in = load_round_checkins(conn, self.registry.site.id, start_ms, as_of_ms + 1)
            finally:
                conn.close()
            figures_r = rounds_figures(routes, self.tz, rows_in, start_ms, end_ms, as_of_ms)
            report = dataclasses.replace(report, rounds=figures_r)
        return dataclasses.replace(report, warnings=warnings) if warnings else report

    def home_site(self) -> HomeSite | None:
        """The site as the home-bed figures need it (residents, check-in hours, the devices
        their alerts are filed under, the visit plan); None unless a home bed."""
        site = self.registry.site
        if site.kind != "home_bed":
            return None
        residents = []
        for r in site.residents:
            subject = self.registry.resident_subject(site.id, r.id)
            residents.append(Resident(r.id, r.checkin_by, subject.id if subject else None))
        plan = site.visits
        return HomeSite(
            site.id,
            self.tz,
            residents,
            plan.worker if plan else None,
            plan.every_days if plan else None,
        )

    def shift(self, which: str, now_ms: int) -> ShiftSpan | None:
        """The whole shift `now_ms` falls in ("current"), or the one before it (any other `which`):
        for the API's shift reports and the handover panel."""
        if which == "current":
            return shift_at(self.shifts, self.tz, now_ms)
        return previous_shift(self.shifts, self.tz, now_ms)

    def handover(self, now_ms: int) -> dict[str, Any]:
        """The screen's shift handover panel: this shift so far, the last shift, and what
        is still open to hand over."""
        current = self.shift("current", now_ms)
        previous = self.shift("previous", now_ms)
        out: dict[str, Any] = {"now": local_iso(now_ms, self.tz), "timezone": self.tz.key}
        for key, span in (("current", current), ("previous", previous)):
            if span is None or span.start_ms >= now_ms:
                out[key] = None
                continue
            r = self.report(span.start_ms, span.end_ms, now_ms)
            out[key] = {
                **summary(r),  # its start/end: the shift's, not the part reported so far
                "name": span.name,
                "name_en": span.name_en,
                "date": span.date,
                "start": local_iso(span.start_ms, self.tz),
                "end": local_iso(span.end_ms, self.tz),
            }
        out["open"] = self._open_now()
        return out

    def _open_now(self) -> dict[str, Any]:
        absence = [n for n, r in self.rules.rules.items() if isinstance(r, AbsenceRule)]
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT priority, state, rule, device_id, condition_cleared_at FROM alerts"
                " WHERE state != 'closed'"
            ).fetchall()
        finally:
            conn.close()
        offline = sorted(
            {d for _, _, rule, d, cleared in rows if rule in absence and cleared is None}
        )
        return {
            "alerts": len(rows),
            "unacknowledged": sum(1 for _, s, *_ in rows if s in ("active_unack", "cleared_unack")),
            "emergency": sum(1 for p, *_ in rows if p == "emergency"),
            "offline_devices": offline,
        }

    # --- the daily report ----------------------------------------------------------------------

    def daily_period(self, at: time | None, now_ms: int) -> tuple[int, int]:
        """The last whole watch day before `now_ms`: from one daily boundary to the next."""
        end = watch_day(self.shifts, self.tz, at, now_ms)
        day = local_date(end, self.tz) - timedelta(days=1)
        boundary = at or min(s.start for s in self.shifts)
        return local_ms(day, boundary, self.tz), end

    def daily(
        self, out_dir: Path, now_ms: int, at: time | None = None, webhook: Webhook | None = None
    ) -> DailyResult:
        """Write watch-<date>.json, .zh.html, .en.html and .csv for the last watch day to
        `out_dir`; POST the summary to `webhook` if given (one try; the files stay)."""
        start, end = self.daily_period(at, now_ms)
        report = self.report(start, end, now_ms)
        name = f"watch-{local_date(start, self.tz).isoformat()}"
        out_dir.mkdir(parents=True, exist_ok=True)
        files = []
        body = orjson.dumps(report_dict(report), option=orjson.OPT_INDENT_2)
        for suffix, data in (
            (".json", body),
            (".zh.html", render_html(report, self.registry, self.rules, "zh").encode()),
            (".en.html", render_html(report, self.registry, self.rules, "en").encode()),
            (".csv", alerts_csv(report, self.rules).encode("utf-8-sig")),
        ):
            path = out_dir / (name + suffix)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
            files.append(path)
        delivered = None
        if webhook is not None:
            delivered = self._post(webhook, report, name)
        log.info(
            "daily watch report written",
            extra={"file": str(files[0]), "delivered": delivered},
        )
        return DailyResult(report, files, delivered)

    def _post(self, hook: Webhook, report: WatchReport, name: str) -> bool:
        payload = {
            "version": "1",
            "kind": "watch_report",
            "site": self.registry.site.id,
            "report": name,
            "summary": summary(report),
        }
        key = f"report:{self.registry.site.id}:{name}"
        poster = WebhookPoster(hook.url, hook.secret, hook.timeout_s)
        try:
            poster.post(orjson.dumps(payload), JSON_CONTENT_TYPE, key)
        except DeliveryError as exc:
            if exc.status is None:
                error = type(exc.__cause__ or exc).__name__
                log.warning("daily report webhook failed", extra={"error": error})
            else:
                log.warning("daily report webhook refused", extra={"status": exc.status})
            return False
        finally:
            poster.close()
        return True


def home_months(
    services: Sequence[ReportService], month: str, now_ms: int
) -> list[tuple[ReportService, HomeBedFigures]]:
    """The home beds among `services` (one service's sites: one store) with their figures
    over the calendar month "YYYY-MM" (each in its own zone), as known at `now_ms` (a month
    under way: so far): the district's panel. Two reads of the store whatever the number of
    home beds. ValueError for a month that is no month or has not begun."""
    homes = [(svc, home) for svc in services if (home := svc.home_site()) is not None]
    if not homes:
        return []
    spans = {home.id: month_span(month, home.tz) for _, home in homes}
    if max(a for a, _ in spans.values()) >= now_ms:
        raise ValueError(f"{month} has not begun")
    start = min(a for a, _ in spans.values())
    end = max(b for _, b in spans.values())
    ids = [home.id for _, home in homes]
    conn = homes[0][0]._connect()
    try:
        rows = load_raised(conn, ids, start, min(end, now_ms), now_ms)
        visits = load_visits(conn, ids, start, end)
    finally:
        conn.close()
    out = []
    for svc, home in homes:
        m_start, m_end = spans[home.id]
        figures = home_bed_figures(
            home, rows.alerts, rows.audit, visits, m_start, m_end, now_ms, month
        )
        out.append((svc, figures))
    return out
