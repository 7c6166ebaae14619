"""A site's safety figures for one watch day, for the regulator's platform (the district's
civil-affairs office funds many homes and wants one platform that sees them all;
docs/export.md): alarms by rule and priority, answer times, fire equipment and its
faults, device availability and open hazards (and a home bed's calls, check-ins and
visits), with the site, the period (site zone and
UTC), the service, the schema version and when it was made.

The figures are the watch report's (`ReportService.report`, alerting/reports/compute),
picked and named here, never computed again. The document's shape is
schemas/site-export-v1.schema.json; `EXPORT_VERSION` changes only with a new schema file.

No resident's name or contact is ever in it: the report has none, no free text (notes,
device labels) is taken over, and `scrub` replaces a resident's display name wherever it
would still appear (a home bed named after its resident).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from alerting import outbox
from alerting.reports.compute.hazards import HazardItem
from alerting.reports.jsonout import hazard_summary, home_summary, local_iso, summary
from alerting.reports.model import WatchReport
from alerting.reports.service import ReportService
from alerting.reports.shifts import local_date, local_ms, parse_hhmm
from devices.ports import Writer
from devices.profiles import DEVICE_TYPES

SCHEMA_ID = "carewatch.site-export"
EXPORT_VERSION = "1"
SCHEMA_FILE = Path(__file__).parent / "schemas" / f"site-export-v{EXPORT_VERSION}.schema.json"
HAZARDS_NOTE = (
    "The fire-hazard register (隐患): `items` are the hazards not closed at the day's end or"
    " found, fixed or closed during it; `open` those not closed at the end. Ids, category,"
    " place and times only (no description, no person)."
)
PRIORITIES = ("emergency", "routine", "trouble")
REDACTED = "***"
WRITE_TIMEOUT_S = 10.0  # queueing waits this long for the engine's commit

# (site, device id) -> (last seen in epoch ms, online): AlertReader.device_states
DeviceStates = Callable[[], Mapping[tuple[str, str], tuple[int | None, int | None]]]


class ExportError(ValueError):
    """An export that cannot be made or sent as asked: `status` is the HTTP answer."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Period:
    """One watch day of a site: from its daily boundary on `day` to the next (epoch ms)."""

    day: date
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Queued:
    """An export in the outbox: its Idempotency-Key, whether this call queued it (False: the
    same key was queued before) and its delivery state."""

    key: str
    queued: bool
    state: str


def utc_iso(ms: int) -> str:
    """Epoch ms as RFC 3339 UTC to the second, `Z` suffix."""
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def _hazards(report: WatchReport, tz: ZoneInfo) -> dict[str, Any]:
    """The day's hazards (compute/hazards.py): the figures, every hazard open at the end
    or changed in the day, and the open ones (`open`, as in the first release's field)."""

    def item(x: HazardItem) -> dict[str, Any]:
        return {
            "id": x.id,
            "category": x.category,
            "state": x.state,
            "source": x.source,
            "floor": x.floor,
            "room": x.room,
            "opened": local_iso(x.opened_ms, tz),
            "deadline": local_iso(x.deadline_ms, tz),
            "fixed": local_iso(x.fixed_ms, tz),
            "closed": local_iso(x.closed_ms, tz),
            "overdue": x.overdue,
        }

    z = report.hazards
    items = [item(x) for x in z.items] if z else []
    return {
        **(hazard_summary(z) if z else {}),
        "items": items,
        "open": [i for i in items if i["state"] != "closed"],
        "note": HAZARDS_NOTE,
    }


def _fire(report: WatchReport) -> dict[str, Any]:
    fire = report.fire
    equipment = [
        {
            "device_id": s.device_id,
            "device_type": s.device_type,
            "floor": s.floor,
            "room": s.room,
            "field": s.field,
            "unit": s.unit,
            "watch": s.watch,
            "rule": s.rule,
            "limit": s.limit,
            "readings": s.count,
            "min": s.min,
            "max": s.max,
            "ok": s.ok,
        }
        for s in fire.equipment
    ]
    # faults: trouble alerts (offline, low battery, tamper, fault) of fire equipment,
    # answered or not, that staff had to deal with in the period
    fire_devices = {s.device_id for s in fire.equipment}
    fire_types = {n for n, t in DEVICE_TYPES.items() if t.concern == "fire"}
    fire_devices |= {w.device_id for w in report.waits if w.device_type in fire_types}
    faults = {w.alert_id: w for w in report.waits if w.priority == "trouble"}
    faults = {i: w for i, w in faults.items() if w.device_id in fire_devices}
    by_rule: dict[str, int] = {}
    for w in faults.values():
        by_rule[w.rule] = by_rule.get(w.rule, 0) + 1
    return {
        "alarms": fire.alarms,
        "acked_within_15s": fire.acked_within_15s,
        "forwarded": fire.forwarded,
        "forwarded_auto": fire.forwarded_auto,
        "dismissed": fire.dismissed,
        "equipment": equipment,
        "equipment_below_limit": sum(1 for s in fire.equipment if s.ok is False),
        "faults": {
            "alerts": len(faults),
            "by_rule": [{"rule": r, "alerts": n} for r, n in sorted(by_rule.items())],
            "devices": sorted({w.device_id for w in faults.values()}),
        },
    }


def _devices(
    report: WatchReport, site: str, device_ids: list[str], states: DeviceStates | None
) -> dict[str, Any]:
    d = report.devices
    offline_at_end = sorted({e.device_id for e in d.episodes if e.end_ms is None})
    never: list[str] | None = None
    if states is not None:  # heard: a last-seen time in the store's device state
        heard = {dev for (s, dev), (seen, _) in states().items() if s == site and seen}
        never = sorted(dev for dev in device_ids if dev not in heard)
    low = sorted({b.device_id for b in d.battery})
    return {
        "registered": d.registered,
        "availability": d.availability,
        "offline_s": d.offline_s,
        "offline": len(d.devices),
        "offline_devices": [x.device_id for x in d.devices],
        "offline_at_end": len(offline_at_end),
        "offline_at_end_devices": offline_at_end,
        "never_heard": None if never is None else len(never),
        "never_heard_devices": never,
        "low_battery": len(low),
        "low_battery_devices": low,
        "by_type": [
            {
                "device_type": t.device_type,
                "registered": t.registered,
                "offline": t.offline_devices,
                "availability": t.availability,
            }
            for t in d.by_type
        ],
    }


def document(
    report: WatchReport,
    site: Mapping[str, Any],
    period: Period,
    service_id: str,
    made_ms: int,
    revision: int = 1,
    states: DeviceStates | None = None,
    private: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The export document (schemas/site-export-v1.schema.json) from a day's watch report.
    `site`: id, name, kind, address, device ids (`devices`); `states`: the devices last
    heard (None: `never_heard` unknown); `private`: residents' display names, scrubbed."""
    tz = ZoneInfo(report.timezone)
    devices = _devices(report, str(site["id"]), list(site.get("devices", ())), states)
    by_priority = {p: report.responses_for(p).alerts for p in PRIORITIES}
    figures = summary(report)  # the answer figures as the daily summary gives them
    doc: dict[str, Any] = {
        "schema": SCHEMA_ID,
        "version": EXPORT_VERSION,
        "service_id": service_id,
        "generated_at": utc_iso(made_ms),
        "revision": revision,
        "site": {
            "id": site["id"],
            "name": site["name"],
            "kind": site["kind"],
            "address": site["address"],
        },
        "period": {
            "date": period.day.isoformat(),
            "timezone": report.timezone,
            "start": local_iso(period.start_ms, tz),
            "end": local_iso(period.end_ms, tz),
            "start_utc": utc_iso(period.start_ms),
            "end_utc": utc_iso(period.end_ms),
            "complete": period.end_ms <= made_ms,
        },
        "alarms": {
            "total": report.responses_for("all").alerts,
            "by_priority": by_priority,
            "by_rule": [
                {
                    "rule": c.rule,
                    "title_zh": c.title_zh,
                    "title_en": c.title_en,
                    "priority": c.priority,
                    "alerts": c.alerts,
                    "annunciations": c.annunciations,
                }
                for c in report.by_rule
            ],
        },
        "answers": {g: figures[g] for g in ("emergency", "all")},
        "fire": _fire(report),
        "devices": devices,
        "hazards": _hazards(report, tz),
        # a home bed's calls, check-ins and visits (docs/export.md: optional, home beds only)
        **({"home_beds": home_summary(report.home_beds)} if report.home_beds else {}),
        "warnings": list(report.warnings),
    }
    scrubbed: dict[str, Any] = scrub(doc, private)
    return scrubbed


def scrub(value: Any, private: tuple[str, ...]) -> Any:
    """`value` with every resident's display name (two characters or more) replaced by
    REDACTED in every text: the last guard that no name leaves the house."""
    names = [n for n in private if len(n) >= 2]
    if not names:
        return value
    if isinstance(value, str):
        for n in names:
            value = value.replace(n, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: scrub(v, private) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, private) for v in value]
    return value


class Exporter:
    """One site's exports: the document for a watch day and queueing it in the outbox for the
    site's `export.notify` target. Built by the composition root (service, CLI)."""

    def __init__(
        self,
        reports: ReportService,
        service_id: str,
        connect: Callable[[], sqlite3.Connection],
        write: Writer | None = None,
        states: DeviceStates | None = None,
    ) -> None:
        self.reports = reports
        self.site = reports.registry.site
        self.service_id = service_id
        self.target = self.site.export.notify
        self._connect = connect
        self._write = write
        self._states = states
        at = self.site.daily_report.at
        self._at: time | None = parse_hhmm(at) if at else None
        # where a watch day starts: daily_report.at, else the first shift's start
        self.boundary: time = self._at or min(s.start for s in reports.shifts)

    def period(self, day: date | None, now_ms: int) -> Period:
        """The watch day starting on `day` at the daily boundary (`daily_report.at`, else the
        first shift's start, in the site's zone); default the last whole one before now."""
        svc = self.reports
        if day is None:
            day = local_date(svc.daily_period(self._at, now_ms)[0], svc.tz)
        start = local_ms(day, self.boundary, svc.tz)
        if start >= now_ms:
            raise ExportError(f"the watch day of {day} has not begun")
        return Period(day, start, local_ms(day + timedelta(days=1), self.boundary, svc.tz))

    def document(self, day: date | None, now_ms: int, revision: int = 1) -> dict[str, Any]:
        """The export of the watch day `day` as known now (not sent)."""
        p = self.period(day, now_ms)
        report = self.reports.report(p.start_ms, p.end_ms, now_ms)
        s = self.site
        info = {
            "id": s.id,
            "name": s.name,
            "kind": s.kind,
            "address": s.address,
            "devices": [d.id for d in self.reports.registry.devices()],
        }
        private = tuple(r.display_name for r in s.residents)
        return document(report, info, p, self.service_id, now_ms, revision, self._states, private)

    def key(self, day: date, revision: int = 1) -> str:
        """The Idempotency-Key the export of `day` (and `revision`) is sent under."""
        conn = self._connect()
        try:
            return outbox.export_key(conn, self.site.id, day.isoformat(), self._to(), revision)
        finally:
            conn.close()

    def state(self, day: date, revision: int = 1) -> str | None:
        """pending, delivered or failed once queued; None before."""
        conn = self._connect()
        try:
            key = outbox.export_key(conn, self.site.id, day.isoformat(), self._to(), revision)
            return outbox.export_state(conn, key)
        finally:
            conn.close()

    def queue(self, day: date | None, now_ms: int, revision: int = 1) -> Queued:
        """Queue the export of a whole watch day for the site's target. The same day and
        revision is the same key: queued once, the receiver sees it once; a new `revision`
        is a new key (a corrected export). ExportError: no target, day not over, no writer."""
        target = self._to()
        if self._write is None:
            raise ExportError("this exporter cannot queue (no store writer)", 503)
        if revision < 1:
            raise ExportError("revision is 1 or more")
        p = self.period(day, now_ms)
        if p.end_ms > now_ms:
            raise ExportError(f"the watch day of {p.day} is not over yet", 409)
        body = orjson.dumps(self.document(p.day, now_ms, revision))
        out: list[tuple[str, bool]] = []

        def apply(conn: sqlite3.Connection) -> None:
            day_text = p.day.isoformat()
            out.append(
                outbox.queue_export(conn, self.site.id, day_text, target, revision, body, now_ms)
            )

        try:
            result = self._write(apply).result(WRITE_TIMEOUT_S)
        except TimeoutError:
            raise ExportError("the store is busy; try again", 503) from None
        if not getattr(result, "ok", True) or not out:
            raise ExportError("the export could not be written to the outbox", 503)
        key, queued = out[0]
        return Queued(key, queued, self.state(p.day, revision) or "pending")

    def _to(self) -> str:
        if self.target is None:
            raise ExportError(f"site {self.site.id} names no export target (export.notify)", 409)
        return self.target
