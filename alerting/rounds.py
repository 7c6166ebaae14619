"""Fire patrols (防火巡查): the schedule of a route's rounds and the status of each round and
checkpoint, as pure functions of the site file's `rounds:` section (devices/rounds.py), the
site's time zone, the check-ins (table `round_checkins`, alerting/checkins.py) and a time.

A route runs rounds every `every_h` hours from `start` to `end`, local wall-clock time of
the SITE (a round "at 02:00" is at 02:00 on the home's clocks, whatever the server's zone
and across a change of summer time: zoneinfo turns each wall time into an instant). A
round's *slot* runs from its start to the next round's (`every_h` later): a check-in in
the slot counts for that round. It is due `duration_min` after its start and missed
`grace_min` after that. A checkpoint is `done` (checked in by the due time), `late`
(after it, before due + grace), `missed` (not checked in by due + grace: a check-in at or
after it is too late to count, as for `round_missed` and the report) or still `due`.

`round_missed` (alerting/defaults.py) holds for a route while its latest round whose grace
has passed had checkpoints missing then, and no later round of it has been completed
(docs/fire-duty.md, ## Rounds)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from devices.rounds import CHECKLIST_ITEMS, Round, RouteConfig, round_at, rounds_between

# the checklist items, each with the hazard category its "problem found" opens
# (alerting/hazards.CATEGORIES); the one table, kept in devices/ so the site file's check
# can name an unknown item
CHECKLIST: Mapping[str, str] = CHECKLIST_ITEMS
# the schedule lives with the site file's model (devices/rounds.py): the simulator walks it
__all__ = ["CHECKLIST", "Round", "point_state", "round_at", "rounds_between"]
RULE = "round_missed"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
CHECKPOINT_STATES = ("due", "done", "late", "missed")
ROUND_STATES = ("upcoming", "in_progress", "done", "late", "missed")


@dataclass(frozen=True, slots=True)
class Hit:
    """The first check-in of a checkpoint in a round: when and by whom."""

    at_ms: int
    by: str


@dataclass(frozen=True, slots=True)
class PointStatus:
    """A checkpoint of a round: done, late, missed or still due; who and when."""

    checkpoint: str
    status: str  # due | done | late | missed
    at_ms: int | None
    by: str | None


@dataclass(frozen=True, slots=True)
class RoundStatus:
    """A round's overall status and its checkpoints'."""

    round: Round
    status: str  # upcoming | in_progress | done | late | missed
    points: tuple[PointStatus, ...]

    def count(self, status: str) -> int:
        """How many checkpoints have `status`."""
        return sum(1 for p in self.points if p.status == status)


def next_start(route: RouteConfig, tz: tzinfo, now_ms: int) -> int | None:
    """The start of the first round after `now_ms` (None: a route with no rounds)."""
    found = rounds_between(route, tz, now_ms + 1, now_ms + 49 * HOUR_MS)
    return found[0].start_ms if found else None


def current_round(route: RouteConfig, tz: tzinfo, now_ms: int) -> Round | None:
    """The round the screen shows: the one whose slot holds now, or one whose grace has not
    passed yet, else the next one (upcoming)."""
    recent = rounds_between(route, tz, now_ms - 25 * HOUR_MS, now_ms + 1)
    if recent and (now_ms < recent[-1].slot_end_ms or now_ms < recent[-1].grace_until_ms):
        return recent[-1]
    found = rounds_between(route, tz, now_ms + 1, now_ms + 49 * HOUR_MS)
    return found[0] if found else None


def status(route: RouteConfig, rnd: Round, hits: Mapping[str, Hit], now_ms: int) -> RoundStatus:
    """The round's status and each checkpoint's at `now_ms`; `hits` the first check-in of
    each checkpoint in the round's slot."""
    points: list[PointStatus] = []
    for cp in route.checkpoints:
        hit = hits.get(cp)
        if hit is not None and hit.at_ms <= now_ms:
            points.append(PointStatus(cp, point_state(rnd, hit.at_ms), hit.at_ms, hit.by))
        else:
            state = "missed" if now_ms >= rnd.grace_until_ms else "due"
            points.append(PointStatus(cp, state, None, None))
    states = {p.status for p in points}
    if now_ms < rnd.start_ms:
        overall = "upcoming"
    elif states <= {"done"}:
        overall = "done"
    elif states <= {"done", "late"}:
        overall = "late"
    elif "missed" in states:
        overall = "missed"
    else:
        overall = "in_progress"
    return RoundStatus(rnd, overall, tuple(points))


def point_state(rnd: Round, at_ms: int) -> str:
    """A check-in's standing in its round: `done` by the due time, `late` before due +
    grace, `missed` at or after it (checked in too late to count: the alert and the report
    call it missed too)."""
    if at_ms <= rnd.due_ms:
        return "done"
    return "late" if at_ms < rnd.grace_until_ms else "missed"


def hits_of(rnd: Round, checkins: Iterable[tuple[str, int, str]]) -> dict[str, Hit]:
    """The first check-in of each checkpoint in the round's slot from (checkpoint, at_ms,
    by) rows."""
    out: dict[str, Hit] = {}
    for cp, at, by in sorted(checkins, key=lambda c: c[1]):
        if rnd.start_ms <= at < rnd.slot_end_ms and cp not in out:
            out[cp] = Hit(at, by)
    return out


def missed_at_grace(route: RouteConfig, rnd: Round, hits: Mapping[str, Hit]) -> int:
    """How many of the round's checkpoints were not checked in when its grace ran out."""
    return sum(
        1 for cp in route.checkpoints
        if cp not in hits or hits[cp].at_ms >= rnd.grace_until_ms
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether `round_missed` holds for a route now, and the round it is about."""

    holds: bool
    round: Round | None
    missed: int
    total: int


def missed_verdict(
    route: RouteConfig,
    tz: tzinfo,
    checkins: Sequence[tuple[str, int, str]],
    now_ms: int,
    since_ms: int,
) -> Verdict:
    """`round_missed` for the route: holds while its latest round whose grace has passed
    (started at or after `since_ms`, when the service began watching the route) had
    checkpoints missing then and no round after it has been completed (every checkpoint
    checked in). Looks back two days."""
    rounds = rounds_between(route, tz, max(since_ms, now_ms - 49 * HOUR_MS), now_ms + 1)
    ended = [r for r in rounds if r.grace_until_ms <= now_ms]
    if not ended:
        return Verdict(False, None, 0, len(route.checkpoints))
    last = ended[-1]
    missed = missed_at_grace(route, last, hits_of(last, checkins))
    if missed == 0:
        return Verdict(False, last, 0, len(route.checkpoints))
    for later in (r for r in rounds if r.start_ms > last.start_ms):
        hits = hits_of(later, checkins)
        if all(cp in hits and hits[cp].at_ms <= now_ms for cp in route.checkpoints):
            return Verdict(False, later, 0, len(route.checkpoints))
    return Verdict(True, last, missed, len(route.checkpoints))


def verdict_text(route: RouteConfig, v: Verdict, tz: tzinfo) -> str:
    """The alert's value: the round (route, local start) and how many checkpoints it
    missed, e.g. `night 02:00 round (2026-12-06): 8 of 8 checkpoints missed`."""
    if v.round is None:
        return route.id
    start = datetime.fromtimestamp(v.round.start_ms / 1000, tz)
    return (
        f"{route.id} {start:%H:%M} round ({start:%Y-%m-%d}): {v.missed} of {v.total}"
        " checkpoints missed"
    )


def watch_key(site: str, route: RouteConfig) -> str:
    """The key (table `meta`) of since when the service watches `route` as it is now: the
    site, the route id and a short hash of its checkpoints and schedule, so a route added
    or changed is judged from when the service first saw it, never for rounds before."""
    shape = json.dumps(
        [route.checkpoints, route.start, route.end, route.every_h, route.duration_min,
         route.grace_min]
    )  # fmt: skip
    return f"rounds_since:{site}:{route.id}:{hashlib.sha256(shape.encode()).hexdigest()[:12]}"
