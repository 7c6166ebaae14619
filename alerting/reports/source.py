"""What the report reads: rows of the alert store (SQLite) and statistics of the fire
equipment's readings, from InfluxDB (one InfluxQL aggregate per field) or from any
ReadingsQuery (the embedded store: min and max over the returned points)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

from alerting.hazards import COLUMNS as HAZARD_COLUMNS
from alerting.hazards import Hazard
from alerting.reports.model import SeriesFigure
from alerting.reports.rows import (
    AlertRow,
    AuditRow,
    DeviceLogRow,
    FieldStats,
    StoreRows,
    VisitRow,
)
from alerting.rules import ThresholdRule
from alerting.ruleset import RuleSet
from devices.ports import ReadingsQuery, Series
from devices.registry import Device, Registry
from devices.siteconfig import SYSTEM_SITE

MAINTENANCE_LOOKBACK_MS = 31 * 86_400_000  # maintenance lasts at most 30 days

# the fire equipment the report watches: (device type, field, which end matters)
EQUIPMENT: tuple[tuple[str, str, Literal["min", "max"]], ...] = (
    ("water_pressure", "pressure_mpa", "min"),
    ("electrical_monitor", "residual_current_ma", "max"),
    ("electrical_monitor", "cable_temp_c", "max"),
    ("electrical_monitor", "current_a", "max"),
)


def load_rows(
    conn: sqlite3.Connection, start_ms: int, end_ms: int, as_of_ms: int, site: str | None = None
) -> StoreRows:
    """The alerts that touch [start_ms, end_ms) - raised in it, still open, or changed
    since its start - with their audit rows up to `as_of_ms` (renotify rows left out),
    and the device log rows (maintenance) that may overlap the period. With `site`: that
    site's alerts and the watch's own (system) alerts, which every site's report shows."""
    where_site = "" if site is None else " AND site IN (:site, :system)"
    alerts = [
        AlertRow(*r)
        for r in conn.execute(
            "SELECT id, site, device_id, rule, priority, severity, floor, room, raised_at, state,"
            " occurrences, value FROM alerts WHERE raised_at < :end AND (state != 'closed'"
            " OR raised_at >= :start OR id IN (SELECT alert_id FROM audit WHERE at >= :start))"
            + where_site
            + " ORDER BY id",
            {"start": start_ms, "end": end_ms, "site": site, "system": SYSTEM_SITE},
        )
    ]
    audit = _audit(conn, [a.id for a in alerts], as_of_ms)
    log = [
        DeviceLogRow(*r)
        for r in conn.execute(
            "SELECT at, device_id, action, by, note FROM device_log"
            " WHERE at >= ? AND at < ? AND action IN ('maintenance_start', 'maintenance_end')"
            + ("" if site is None else " AND site = ?")
            + " ORDER BY id",
            (start_ms - MAINTENANCE_LOOKBACK_MS, min(end_ms, as_of_ms))
            + (() if site is None else (site,)),
        )
    ]
    return StoreRows(alerts, audit, log)


def load_visits(
    conn: sqlite3.Connection, sites: Sequence[str], start_ms: int, end_ms: int
) -> list[VisitRow]:
    """The welfare visits of `sites` made in [start_ms, end_ms) (table `visits`), for the
    visit rate."""
    out: list[VisitRow] = []
    for i in range(0, len(sites), 500):
        chunk = list(sites[i : i + 500])
        marks = ",".join("?" * len(chunk))
        out += [
            VisitRow(*r)
            for r in conn.execute(
                "SELECT site, resident, worker, at_ms, outcome FROM visits"
                f" WHERE site IN ({marks}) AND at_ms >= ? AND at_ms < ? ORDER BY at_ms, id",
                (*chunk, start_ms, end_ms),
            )
        ]
    return out


def load_hazards(
    conn: sqlite3.Connection, site: str | None, as_of_ms: int
) -> tuple[list[Hazard], list[tuple[int, int]]]:
    """The hazards of `site` (None: every one) opened before `as_of_ms`, and the (hazard id,
    time) of each of their fix steps (table hazard_log), for compute/hazards.py."""
    where = "opened_ms < ?" + ("" if site is None else " AND site = ?")
    args = (as_of_ms,) + (() if site is None else (site,))
    hazards = [Hazard(*r) for r in conn.execute(
        f"SELECT {HAZARD_COLUMNS} FROM hazards WHERE {where} ORDER BY id", args
    )]  # fmt: skip
    fixes = [
        (int(hid), int(at))
        for hid, at in conn.execute(
            "SELECT hazard_id, at_ms FROM hazard_log WHERE action = 'fix' AND hazard_id IN"
            f" (SELECT id FROM hazards WHERE {where}) ORDER BY id",
            args,
        )
    ]
    return hazards, fixes


def load_round_checkins(
    conn: sqlite3.Connection, site: str, start_ms: int, end_ms: int
) -> list[tuple[str, int, str, str]]:
    """The patrols' check-ins of `site` in [start_ms, end_ms) (table `round_checkins`) as
    (checkpoint, at_ms, by, result), for the rounds figures."""
    return [
        (str(c), int(at), str(by), str(res))
        for c, at, by, res in conn.execute(
            "SELECT checkpoint, at_ms, by, result FROM round_checkins WHERE site = ?"
            " AND at_ms >= ? AND at_ms < ? ORDER BY at_ms, id",
            (site, start_ms, end_ms),
        )
    ]


def load_raised(
    conn: sqlite3.Connection, sites: Sequence[str], start_ms: int, end_ms: int, as_of_ms: int
) -> StoreRows:
    """The alerts of `sites` raised in [start_ms, end_ms) with their audit rows up to
    `as_of_ms` (renotify rows left out): all the home-bed figures need, for many home beds
    in one read (the district's month)."""
    wanted = set(sites)
    alerts = [
        AlertRow(*r)
        for r in conn.execute(
            "SELECT id, site, device_id, rule, priority, severity, floor, room, raised_at, state,"
            " occurrences, value FROM alerts WHERE raised_at >= ? AND raised_at < ? ORDER BY id",
            (start_ms, end_ms),
        )
        if r[1] in wanted
    ]
    return StoreRows(alerts, _audit(conn, [a.id for a in alerts], as_of_ms))


def _audit(conn: sqlite3.Connection, ids: list[int], as_of_ms: int) -> list[AuditRow]:
    """The audit rows of alerts `ids` up to `as_of_ms`, renotify rows left out, in order."""
    audit: list[AuditRow] = []
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        audit += [
            AuditRow(*r)
            for r in conn.execute(
                "SELECT alert_id, at, action, from_state, to_state, by, note FROM audit"
                f" WHERE alert_id IN ({marks}) AND at <= ? AND action != 'renotify'"
                " ORDER BY id",
                (*chunk, as_of_ms),
            )
        ]
    return audit


class SeriesStats(Protocol):
    """Where the report gets the minimum and maximum of a reading: InfluxQLStats with InfluxDB, else
    PointStats over the embedded store (the composition root picks)."""

    def stats(self, q: Series) -> FieldStats | None:
        """Min and max of one field of one device over [since_ms, until_ms]; None if no
        numeric readings."""
        ...


class PointStats:
    """From the points a ReadingsQuery returns (the embedded store, or InfluxDB without
    its query API)."""

    def __init__(self, readings: ReadingsQuery, limit: int = 2_000_000) -> None:
        self._readings = readings
        self._limit = limit

    def stats(self, q: Series) -> FieldStats | None:
        """Min and max over the points the readings query returns (at most `limit`); bools and text
        are skipped. None if no numeric point."""
        lo: tuple[float, int] | None = None
        hi: tuple[float, int] | None = None
        count = 0
        query = Series(
            q.site, q.device_id, q.device_type, q.field, q.since_ms, q.until_ms, self._limit
        )
        for p in self._readings.readings(query):
            v = p.value
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            count += 1
            if lo is None or v < lo[0]:
                lo = (float(v), p.ts_ms)
            if hi is None or v > hi[0]:
                hi = (float(v), p.ts_ms)
        if lo is None or hi is None:
            return None
        return FieldStats(count, lo[0], lo[1], hi[0], hi[1])


_IDENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return '"' + name + '"'


def _str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxQLStats:
    """InfluxDB aggregates (`min`, `max`, `count` selectors) through an InfluxQL query
    function such as ingest.influx.InfluxV1.query: three small answers per field instead
    of every point."""

    def __init__(self, query: Callable[[str], list[dict[str, Any]]]) -> None:
        self._query = query

    def _one(self, fn: str, q: Series) -> tuple[int, float] | None:
        influxql = (
            f"SELECT {fn}({_ident(q.field)}) FROM {_ident(q.device_type)}"
            f' WHERE "site" = {_str(q.site)} AND "device" = {_str(q.device_id)}'
            f" AND time >= {int(q.since_ms)}ms AND time <= {int(q.until_ms)}ms"
        )
        for result in self._query(influxql):
            for series in result.get("series", []):
                for ts, value in series["values"]:
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        return int(ts), float(value)
        return None

    def stats(self, q: Series) -> FieldStats | None:
        """Min, max and count as three InfluxQL selector queries. None if the field has no numeric
        reading; errors of the query function propagate."""
        lo = self._one("min", q)
        hi = self._one("max", q)
        n = self._one("count", q)
        if lo is None or hi is None:
            return None
        return FieldStats(int(n[1]) if n else 0, lo[1], lo[0], hi[1], hi[0])


def equipment(
    stats: SeriesStats, registry: Registry, rules: RuleSet, start_ms: int, end_ms: int
) -> list[SeriesFigure]:
    """Fire-water pressure minimums and electrical peaks of every such device, each against
    the threshold rule that watches it (site overrides applied)."""
    out = []
    for dev in registry.devices():
        for dtype, field, watch in EQUIPMENT:
            if dev.type.name != dtype or field not in dev.type.fields:
                continue
            rule = _rule_for(rules, dev, field, watch)
            s = stats.stats(Series(dev.site, dev.id, dtype, field, start_ms, end_ms - 1, 0))
            value = None if s is None else (s.min if watch == "min" else s.max)
            out.append(
                SeriesFigure(
                    device_id=dev.id,
                    device_type=dtype,
                    floor=dev.floor,
                    room=dev.room,
                    label=dev.label,
                    field=field,
                    unit=dev.type.fields[field].unit,
                    watch=watch,
                    rule=rule.name if rule else None,
                    limit=float(rule.value)
                    if rule and isinstance(rule.value, int | float)
                    else None,
                    count=s.count if s else 0,
                    min=s.min if s else None,
                    min_at_ms=s.min_at_ms if s else None,
                    max=s.max if s else None,
                    max_at_ms=s.max_at_ms if s else None,
                    ok=None if rule is None or value is None else not rule.breached(value),
                )
            )
    out.sort(key=lambda f: (f.device_type != "water_pressure", f.floor, f.device_id, f.field))
    return out


def _rule_for(
    rules: RuleSet, dev: Device, field: str, watch: Literal["min", "max"]
) -> ThresholdRule | None:
    ops = ("lt", "le") if watch == "min" else ("gt", "ge")
    for r in rules.for_device(dev).levels:
        if isinstance(r, ThresholdRule) and r.field == field and r.op in ops:
            return r
    return None
