"""The watch report's rounds figures (compute/rounds.py): fire patrols' rounds due in the
period, done on time, late and missed, and their checkpoints late and missed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoundRow:
    """One finished round of a route (its grace over when the report was made): its start,
    when it was due, and how many of its checkpoints were checked in on time, late
    (after the due time) or missed (not by the end of grace). `status` done | late |
    missed."""

    route: str
    route_name: str
    route_name_en: str | None
    start_ms: int
    due_ms: int
    status: str
    checkpoints: int
    on_time: int
    late: int
    missed: int
    missed_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoundsFigures:
    """The period's rounds: `due` those that started in it and were finished when the
    report was made (a round still under way is left out); `done` all checkpoints on time,
    `late` all checked in but some after the due time, `missed` some not checked in by
    the end of grace. `on_time_share` done / due (None without rounds)."""

    due: int
    done: int
    late: int
    missed: int
    on_time_share: float | None
    checkpoints_due: int
    checkpoints_late: int
    checkpoints_missed: int
    checkins: int  # every check-in of the period (phone and reader)
    problems: int  # check-ins with a problem found (each opened a hazard)
    rounds: list[RoundRow]
