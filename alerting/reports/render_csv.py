"""CSV export: one row per wait (every time staff had to answer an alert), per shift, per
device that was offline, or per supervisor's override of a call's bedside reset. Times
are local (the site's time zone), seconds as numbers. Written with a UTF-8 byte-order mark
by the callers that save files, so spreadsheet programs read the Chinese titles."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo

from alerting.reports.compute.answers import ANSWER_WITHIN_S
from alerting.reports.model import WatchReport
from alerting.reports.shifts import local_text
from alerting.ruleset import RuleSet

TABLES = ("alerts", "shifts", "devices", "overrides", "home_calls", "equipment_faults", "rounds")


def _write(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    for r in rows:
        w.writerow(["" if v is None else v for v in r])
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None else f"{v:g}"


def alerts_csv(report: WatchReport, rules: RuleSet) -> str:
    """One row per wait, local times, seconds as numbers and both rule titles. The text has no
    byte-order mark: callers that save it add one."""
    tz = ZoneInfo(report.timezone)

    def at(ms: int | None) -> str:
        return "" if ms is None else local_text(ms, tz, "%Y-%m-%d %H:%M:%S")

    header = [
        "alert_id", "wait", "started_local", "shift", "priority", "severity", "rule",
        "title_zh", "title_en", "floor", "room", "bed", "device_id", "device_type",
        "answered_local", "seconds_to_answer", "within_60s", "answered_by", "answer",
        "escalated_to", "closed_local", "seconds_to_close",
    ]  # fmt: skip
    rows = []
    for w in report.waits:
        within = "" if w.seconds is None else ("yes" if w.seconds <= ANSWER_WITHIN_S else "no")
        closed_s = None
        if w.number == 1 and w.closed_ms is not None:
            closed_s = (w.closed_ms - w.started_ms) / 1000
        rows.append(
            [
                w.alert_id, w.number, at(w.started_ms), w.shift, w.priority, w.severity, w.rule,
                rules.title(w.rule, "zh"), rules.title(w.rule, "en"), w.floor, w.room, w.bed,
                w.device_id, w.device_type, at(w.answered_ms), _num(w.seconds), within,
                w.answered_by, w.answer, w.escalated_to, at(w.closed_ms), _num(closed_s),
            ]
        )  # fmt: skip
    return _write(header, rows)


def shifts_csv(report: WatchReport) -> str:
    """One row per duty shift of the period with its emergency answer times."""
    tz = ZoneInfo(report.timezone)
    header = [
        "date", "shift", "shift_en", "start_local", "end_local", "alerts", "emergency_waits",
        "within_60s", "share_within_60s", "median_ack_s", "p90_ack_s", "max_ack_s",
        "mean_ack_s", "late", "unanswered",
    ]  # fmt: skip
    rows = [
        [
            s.date, s.name, s.name_en, local_text(s.start_ms, tz), local_text(s.end_ms, tz),
            s.alerts, s.emergency.waits, s.emergency.within_60s,
            _num(s.emergency.share_within_60s), _num(s.emergency.to_ack.median_s),
            _num(s.emergency.to_ack.p90_s), _num(s.emergency.to_ack.max_s),
            _num(s.emergency.to_ack.mean_s), s.emergency.late, s.unanswered,
        ]
        for s in report.shifts
    ]  # fmt: skip
    return _write(header, rows)


def devices_csv(report: WatchReport) -> str:
    """One row per offline episode of a device in the period."""
    tz = ZoneInfo(report.timezone)
    header = [
        "device_id", "device_type", "floor", "room", "offline_from_local", "offline_to_local",
        "offline_s", "alert_id",
    ]  # fmt: skip
    rows = [
        [
            e.device_id, e.device_type, e.floor, e.room, local_text(e.start_ms, tz),
            "" if e.end_ms is None else local_text(e.end_ms, tz), _num(e.seconds), e.alert_id,
        ]
        for e in report.devices.episodes
    ]  # fmt: skip
    return _write(header, rows)


def overrides_csv(report: WatchReport, rules: RuleSet) -> str:
    """One row per supervisor's override in the period: the call, where, who and why."""
    tz = ZoneInfo(report.timezone)
    header = [
        "alert_id", "rule", "title_zh", "title_en", "floor", "room", "bed", "device_id",
        "raised_local", "override_local", "by", "reason",
    ]  # fmt: skip
    rows = [
        [
            o.alert_id, o.rule, rules.title(o.rule, "zh"), rules.title(o.rule, "en"), o.floor,
            o.room, o.bed, o.device_id, local_text(o.raised_ms, tz), local_text(o.at_ms, tz),
            o.by, o.reason,
        ]
        for o in report.overrides.items
    ]  # fmt: skip
    return _write(header, rows)


def home_calls_csv(report: WatchReport, rules: RuleSet) -> str:
    """One row per home call of a home bed (compute/home_beds.py): when, what, answered after
    and by whom, first human contact, contact attempts, outcomes (codes, `;` between). Only
    the header for a site that is no home bed."""
    tz = ZoneInfo(report.timezone)

    def at(ms: int | None) -> str:
        return "" if ms is None else local_text(ms, tz, "%Y-%m-%d %H:%M:%S")

    def after(ms: int | None, start: int) -> str:
        return "" if ms is None else _num((ms - start) / 1000)

    header = [
        "alert_id", "raised_local", "rule", "title_zh", "title_en", "priority", "device_id",
        "answered_local", "seconds_to_answer", "within_60s", "answered_by", "answer",
        "contact_local", "seconds_to_contact", "contact", "contact_attempts", "outcomes",
        "closed_local",
    ]  # fmt: skip
    rows = []
    for c in report.home_beds.items if report.home_beds else []:
        answer_s = None if c.answered_ms is None else (c.answered_ms - c.raised_ms) / 1000
        within = "" if answer_s is None else ("yes" if answer_s <= ANSWER_WITHIN_S else "no")
        rows.append(
            [
                c.alert_id, at(c.raised_ms), c.rule, rules.title(c.rule, "zh"),
                rules.title(c.rule, "en"), c.priority, c.device_id, at(c.answered_ms),
                after(c.answered_ms, c.raised_ms), within, c.answered_by, c.answer,
                at(c.contact_ms), after(c.contact_ms, c.raised_ms), c.contact, c.attempts,
                ";".join(c.outcomes), at(c.closed_ms),
            ]
        )  # fmt: skip
    return _write(header, rows)


def equipment_faults_csv(report: WatchReport, rules: RuleSet) -> str:
    """One row per time a fire device was out of order in the period (compute/
    equipment_faults.py): the rule, the state it shows, from and to (empty: still at the
    end), the seconds inside the period."""
    tz = ZoneInfo(report.timezone)
    header = [
        "device_id", "device_type", "floor", "room", "rule", "title_zh", "title_en", "state",
        "value", "from_local", "to_local", "seconds_in_period", "alert_id",
    ]  # fmt: skip
    faults = report.equipment_faults
    rows = [
        [
            e.device_id, e.device_type, e.floor, e.room, e.rule, rules.title(e.rule, "zh"),
            rules.title(e.rule, "en"), e.state, e.value, local_text(e.start_ms, tz),
            "" if e.end_ms is None else local_text(e.end_ms, tz), _num(e.seconds), e.alert_id,
        ]
        for e in (faults.episodes if faults else [])
    ]  # fmt: skip
    return _write(header, rows)


def rounds_csv(report: WatchReport) -> str:
    """One row per finished round of the period (compute/rounds.py): route, start, due,
    status, checkpoints on time, late and missed (ids, `;` between). Only the header for a
    site without patrol routes."""
    tz = ZoneInfo(report.timezone)
    header = [
        "route", "route_name", "start_local", "due_local", "status", "checkpoints", "on_time",
        "late", "missed", "missed_checkpoints",
    ]  # fmt: skip
    rows = [
        [
            r.route, r.route_name, local_text(r.start_ms, tz), local_text(r.due_ms, tz), r.status,
            r.checkpoints, r.on_time, r.late, r.missed, ";".join(r.missed_ids),
        ]
        for r in (report.rounds.rounds if report.rounds else [])
    ]  # fmt: skip
    return _write(header, rows)


def table_csv(report: WatchReport, rules: RuleSet, table: str) -> str:
    """The API's CSV export by `table`: "shifts", "devices", "overrides", "home_calls",
    "equipment_faults", "rounds", anything else the waits (alerts_csv)."""
    if table == "equipment_faults":
        return equipment_faults_csv(report, rules)
    if table == "home_calls":
        return home_calls_csv(report, rules)
    if table == "rounds":
        return rounds_csv(report)
    if table == "shifts":
        return shifts_csv(report)
    if table == "devices":
        return devices_csv(report)
    if table == "overrides":
        return overrides_csv(report, rules)
    return alerts_csv(report, rules)
