"""Fire patrols' rounds in the watch report: per route every round that started in the
period and was finished (its grace over) when the report was made, judged as
alerting/rounds.py judges it: a checkpoint on time (checked in by the due time), late
(after it, before the end of grace) or missed (not by the end of grace); a round done,
late or missed. Pure: the site's routes, its zone and the check-ins are passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from alerting.reports.model_rounds import RoundRow, RoundsFigures
from alerting.rounds import hits_of, rounds_between
from devices.rounds import RouteConfig


def rounds_figures(
    routes: Sequence[RouteConfig],
    tz: tzinfo,
    checkins: Sequence[tuple[str, int, str, str]],
    start_ms: int,
    end_ms: int,
    as_of_ms: int,
) -> RoundsFigures:
    """The figures over [start_ms, end_ms) as known at `as_of_ms`; `checkins` are
    (checkpoint, at_ms, by, result) rows from the period's start to `as_of_ms`."""
    rows: list[RoundRow] = []
    for route in routes:
        mine = [(c, at, by) for c, at, by, _r in checkins if c in route.checkpoints]
        for rnd in rounds_between(route, tz, start_ms, end_ms):
            if rnd.grace_until_ms > as_of_ms:
                continue  # still under way
            hits = hits_of(rnd, mine)
            on_time = sum(1 for c in route.checkpoints if c in hits and hits[c].at_ms <= rnd.due_ms)
            missed = tuple(
                c for c in route.checkpoints
                if c not in hits or hits[c].at_ms >= rnd.grace_until_ms
            )  # fmt: skip
            late = len(route.checkpoints) - on_time - len(missed)
            status = "missed" if missed else "late" if late else "done"
            rows.append(
                RoundRow(route.id, route.name, route.name_en, rnd.start_ms, rnd.due_ms, status,
                         len(route.checkpoints), on_time, late, len(missed), missed)
            )  # fmt: skip
    rows.sort(key=lambda r: (r.start_ms, r.route))
    due = len(rows)
    done = sum(1 for r in rows if r.status == "done")
    in_period = [c for c in checkins if start_ms <= c[1] < end_ms]
    return RoundsFigures(
        due=due,
        done=done,
        late=sum(1 for r in rows if r.status == "late"),
        missed=sum(1 for r in rows if r.status == "missed"),
        on_time_share=done / due if due else None,
        checkpoints_due=sum(r.checkpoints for r in rows),
        checkpoints_late=sum(r.late for r in rows),
        checkpoints_missed=sum(r.missed for r in rows),
        checkins=len(in_period),
        problems=sum(1 for c in in_period if c[3] == "problem"),
        rounds=rows,
    )
