"""What needs attention: the plain list at the top of the report, worst first. Each finding
is a sentence from the catalog (`report.finding.*`) and how bad it is (`bad` or `warn`);
the template lists them, or says that nothing needs attention."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from alerting.reports.compute.answers import CARELINE_TARGET
from alerting.reports.model import WatchReport
from alerting.reports.words import Words

MAX_EMERGENCIES = 8  # never-answered emergencies listed one by one
MAX_OFFLINE = 5  # least available devices listed
MAX_OTHERS = 5  # other unanswered alerts named in the one sentence


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of "what needs attention": a sentence in the reader's language and how bad it is
    (`bad` or `warn`)."""

    level: Literal["bad", "warn"]
    text: str


def findings(w: Words, r: WatchReport) -> list[Finding]:
    """What a manager must look at first: unanswered emergencies, the 60-second standard,
    fire equipment out of limits, silent or still out of order, supervisors' overrides of a
    call's bedside reset, floods, chattering, stale and offline."""
    out: list[Finding] = []

    def add(level: Literal["bad", "warn"], key: str, **values: object) -> None:
        out.append(Finding(level, w.t(f"finding.{key}", **values)))

    e = r.responses_for("emergency")
    for x in [x for x in r.unanswered if x.priority == "emergency"][:MAX_EMERGENCIES]:
        add(
            "bad",
            "unanswered",
            rule=w.rule(x.rule),
            place=w.place(x.floor, x.room, x.bed),
            device=x.device_id,
            time=w.time(x.started_ms),
        )
    if e.share_within_60s is not None and e.share_within_60s < CARELINE_TARGET:
        add("bad", "below_standard", share=w.pct(e.share_within_60s), late=e.late)
    for s in r.fire.equipment:
        if s.ok is False:
            v, at = (s.min, s.min_at_ms) if s.watch == "min" else (s.max, s.max_at_ms)
            add(
                "bad",
                "fell" if s.watch == "min" else "rose",
                field=w.pick("field", s.field),
                device=s.device_id,
                place=w.place(s.floor, s.room),
                value=w.num(v, s.unit),
                time=w.time(at),
                limit=w.num(s.limit, s.unit),
            )
    silent = sorted({x.device_id for x in r.fire.equipment if x.count == 0 and x.rule})
    if silent:
        add("warn", "silent", devices=w.join(silent))
    faults = r.equipment_faults
    still = sorted({e.device_id for e in faults.episodes if e.end_ms is None}) if faults else []
    if still:  # fire equipment out of order when the period ended: someone must mend it
        add("bad", "equipment_open", n=len(still), devices=w.join(still))
    if r.fire.forwarded_auto:
        add("warn", "forwarded_auto", n=r.fire.forwarded_auto)
    z = r.hazards  # fire hazards past their deadline, unfixed (docs/fire-duty.md)
    if z is not None and z.overdue_at_end:
        add("bad", "hazards_overdue", n=z.overdue_at_end, open=z.open_at_end)
    if r.rounds is not None and r.rounds.missed:  # fire patrols not walked (docs/fire-duty.md)
        starts = [w.time(x.start_ms) for x in r.rounds.rounds if x.status == "missed"]
        n, cps = len(starts), r.rounds.checkpoints_missed
        add("bad", "rounds_missed", n=n, rounds=w.join(starts), checkpoints=cps)
    if r.overrides.count:  # calls reset from afar: the bedside reset was skipped
        add("warn", "overrides", n=r.overrides.count, people=w.tally(r.overrides.by_person, w.who))
    for f in r.load.floods:
        add(
            "warn",
            "flood",
            time=w.time(f.start_ms),
            dur=w.dur(f.seconds),
            n=f.alarms,
            device=f.top_device,
            rule=w.rule(f.top_rule),
        )
    for c in r.load.chattering:
        add(
            "warn",
            "chattering",
            device=c.device_id,
            place=w.place(c.floor, c.room),
            rule=w.rule(c.rule),
            n=c.annunciations,
        )
    if r.load.stale:
        add("warn", "stale", n=len(r.load.stale))
    for d in r.devices.devices[:MAX_OFFLINE]:
        add(
            "warn",
            "offline",
            device=d.device_id,
            type=w.dtype(d.device_type),
            place=w.place(d.floor, d.room),
            dur=w.dur(d.offline_s),
            n=d.episodes,
        )
    others = [x for x in r.unanswered if x.priority != "emergency"]
    if others:
        named = [f"{w.rule(x.rule)} {x.device_id}" for x in others[:MAX_OTHERS]]
        add("warn", "others", n=len(others), alerts=w.join(named))
    return out
