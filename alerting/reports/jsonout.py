"""The report as JSON: every `*_ms` time becomes RFC 3339 local time with its offset
(`start_ms` -> `start: "2026-03-02T07:00:00+08:00"`); the rest as it is."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerting.reports.compute.hazards import HazardFigures
from alerting.reports.model import Responses, WatchReport
from alerting.reports.model_equipment import EquipmentFaults
from alerting.reports.model_home import CallFigures, HomeBedFigures, WorkerVisits
from alerting.reports.model_rounds import RoundsFigures


def local_iso(ms: int | None, tz: ZoneInfo) -> str | None:
    """Epoch ms as RFC 3339 in the site's zone, to the second, with its offset; None stays None."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="seconds")


def _convert(value: Any, tz: ZoneInfo) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if f.name.endswith("_ms") and (v is None or isinstance(v, int)):
                out[f.name[:-3]] = local_iso(v, tz)
            else:
                out[f.name] = _convert(v, tz)
        return out
    if isinstance(value, list | tuple):
        return [_convert(v, tz) for v in value]
    return value


def report_dict(report: WatchReport) -> dict[str, Any]:
    """The report as JSON-ready data: `*_ms` times as local RFC 3339 under the name without `_ms`,
    plus `version` and the `summary`. Served by the API and written daily."""
    tz = ZoneInfo(report.timezone)
    out: dict[str, Any] = _convert(report, tz)
    out["version"] = "1"
    out["summary"] = summary(report)
    return out


def _resp(r: Responses) -> dict[str, Any]:
    return {
        "alerts": r.alerts,
        "waits": r.waits,
        "answered": r.answered,
        "unanswered": r.unanswered,
        "pending": r.pending,
        "within_60s": r.within_60s,
        "share_within_60s": r.share_within_60s,
        "late": r.late,
        "median_ack_s": r.to_ack.median_s,
        "p90_ack_s": r.to_ack.p90_s,
        "max_ack_s": r.to_ack.max_s,
    }


def summary(report: WatchReport) -> dict[str, Any]:
    """The key figures: the handover panel and the daily webhook carry these."""
    tz = ZoneInfo(report.timezone)
    load = report.load
    fire = report.fire
    titles = {c.rule: (c.title_zh, c.title_en) for c in report.by_rule}
    return {
        "site": report.site_id,
        "start": local_iso(report.start_ms, tz),
        "end": local_iso(report.end_ms, tz),
        "alerts": report.responses_for("all").alerts,
        "emergency": _resp(report.responses_for("emergency")),
        "all": _resp(report.responses_for("all")),
        "unanswered": [
            {
                "alert_id": w.alert_id,
                "rule": w.rule,
                "title_zh": titles.get(w.rule, (w.rule, w.rule))[0],
                "title_en": titles.get(w.rule, (w.rule, w.rule))[1],
                "priority": w.priority,
                "room": w.room,
                "bed": w.bed,
                "floor": w.floor,
                "device_id": w.device_id,
                "since": local_iso(w.started_ms, tz),
            }
            for w in report.unanswered
        ],
        "late": len(report.late),
        "alarms_per_10min": load.per_10min,
        "peak_10min": load.peak_10min,
        "floods": len(load.floods),
        "chattering": len(load.chattering),
        "stale": len(load.stale),
        "device_availability": report.devices.availability,
        "offline_episodes": len(report.devices.episodes),
        "fire_alarms": fire.alarms,
        "fire_forwarded": fire.forwarded,
        "overrides": report.overrides.count,  # calls reset from afar by a supervisor
        "fire_equipment_below_limit": [
            f"{s.device_id}.{s.field}" for s in fire.equipment if s.ok is False
        ],
        # the fire equipment's time in fault (device-seconds) and what is still out of order
        **(_faults_summary(report.equipment_faults) if report.equipment_faults else {}),
        **({"hazards": hazard_summary(report.hazards)} if report.hazards else {}),
        **({"home_beds": home_summary(report.home_beds)} if report.home_beds else {}),
        **({"rounds": rounds_summary(report.rounds)} if report.rounds else {}),
    }


def rounds_summary(r: RoundsFigures) -> dict[str, Any]:
    """The patrols' rounds in short (compute/rounds.py): due, done on time, late, missed,
    checkpoints late and missed."""
    return {
        "due": r.due,
        "done": r.done,
        "late": r.late,
        "missed": r.missed,
        "on_time_share": r.on_time_share,
        "checkpoints_late": r.checkpoints_late,
        "checkpoints_missed": r.checkpoints_missed,
        "problems": r.problems,
    }


def _faults_summary(f: EquipmentFaults) -> dict[str, Any]:
    return {
        "fire_equipment_fault_s": f.fault_s,
        "fire_equipment_out_of_order": sorted(
            {e.device_id for e in f.episodes if e.end_ms is None}
        ),
    }


def hazard_summary(z: HazardFigures) -> dict[str, Any]:
    """The hazard register's figures of a period (compute/hazards.py), as the summary and
    the export give them."""
    return {
        "opened": z.opened,
        "fixed": z.fixed,
        "closed": z.closed,
        "overdue": z.overdue,
        "open_at_end": z.open_at_end,
        "overdue_at_end": z.overdue_at_end,
        "closed_of_opened": z.closed_of_opened,
        "closure_rate": z.closure_rate,
        "due": z.due,
        "closed_of_due": z.closed_of_due,
        "closure_rate_due": z.closure_rate_due,
        "ageing": dict(z.ageing),
    }


def call_summary(c: CallFigures) -> dict[str, Any]:
    """How a group of home calls was answered, as the summary, the export and the district
    give it."""
    return {
        "calls": c.calls,
        "answered": c.answered,
        "unanswered": c.unanswered,
        "pending": c.pending,
        "within_60s": c.within_60s,
        "share_within_60s": c.share_within_60s,
        "median_answer_s": c.to_answer.median_s,
        "median_contact_s": c.to_contact.median_s,
        "p90_contact_s": c.to_contact.p90_s,
        "no_contact": c.no_contact,
    }


def worker_summary(w: WorkerVisits) -> dict[str, Any]:
    """One community worker's visits of the month."""
    return {
        "worker": w.worker,
        "sites": w.sites,
        "planned": w.planned,
        "visited": w.visited,
        "rate": w.rate,
        "visits": w.visits,
    }


def home_summary(hb: HomeBedFigures) -> dict[str, Any]:
    """A home bed's key figures (the summary, the export, the district panel): calls answered
    within 60 s, first human contact, outcomes, check-ins, the month's visit rate."""
    return {
        "calls": call_summary(hb.calls),
        "emergency": call_summary(hb.emergency),
        "outcomes": [{"code": o.code, "calls": o.calls} for o in hb.calls.outcomes],
        "without_outcome": hb.calls.without_outcome,
        "help_sent": hb.calls.help_sent,
        "checkin": {
            "days": hb.checkin.days,
            "on_time": hb.checkin.on_time,
            "share": hb.checkin.share,
        },
        "visits": {
            "month": hb.month,
            "worker": hb.visits.worker,
            "planned": hb.visits.planned,
            "visited": hb.visits.visited,
            "rate": hb.visits.rate,
            "visits": hb.visits.visits,
            "by_worker": [worker_summary(w) for w in hb.workers],
        },
    }
