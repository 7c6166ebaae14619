"""The fire-hazard register (火灾隐患整改, seed 004: 隐患问题整改销号率 100%): every hazard
found, from a round, the screen or an alert, is a row of table `hazards` that moves
open -> in_progress -> fixed -> closed, each step a row of `hazard_log`. Closing is the
sign-off (销号) and takes a second person: never the one who fixed it.

This module holds the tables of categories, states and steps, `open_hazard`, the one insert
every way of opening a hazard goes through, run inside the engine's transaction (the one
writer) so a round's check-in and the hazard it found commit together, and `step`, the pure
state machine every later change goes through (alerting/hazard_desk.py writes its result).

A fix may be recorded straight from `open` (a fire door closed on the spot, 当场改正);
`reopen` is a verification that failed: the hazard goes back to `in_progress` and its fix
is forgotten (the log keeps it). `closed` is final."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from types import MappingProxyType

STATES = ("open", "in_progress", "fixed", "closed")
SOURCES = ("screen", "round", "alert")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# how far a deadline may lie ahead: a year and a day (a later one is a typing slip, and an
# epoch ms far enough out is no date at all: every listing would fail on it)
DEADLINE_AHEAD_MS = 366 * DAY_MS
ACTIONS = ("open", "start", "fix", "close", "reopen", "assign", "photo")
# the states each step may start from, and the state it leads to (None: unchanged)
STEPS: MappingProxyType[str, tuple[frozenset[str], str | None]] = MappingProxyType(
    {
        "start": (frozenset({"open"}), "in_progress"),
        "fix": (frozenset({"open", "in_progress"}), "fixed"),
        "close": (frozenset({"fixed"}), "closed"),
        "reopen": (frozenset({"fixed"}), "in_progress"),
        "assign": (frozenset({"open", "in_progress", "fixed"}), None),
    }
)
# not yet fixed: the states in which a deadline passed makes a hazard overdue
UNFIXED = frozenset({"open", "in_progress"})
SECOND_PERSON = "需另一人验收 / a second person must verify: the one who fixed it cannot close it"


@dataclass(frozen=True, slots=True)
class Category:
    """A kind of hazard and the time it may take to fix by default (the owner or whoever
    opens it may set an earlier or later deadline)."""

    id: str
    fix_within_h: int


# 公安部令第61号《机关、团体、企业、事业单位消防安全管理规定》第三十一条: blocked exits and
# fire doors kept open are corrected on the spot (当场改正); other hazards within a deadline
CATEGORIES = MappingProxyType(
    {
        c.id: c
        for c in (
            Category("exit_blocked", 1),  # 疏散通道、安全出口堵塞
            Category("fire_door", 1),  # 常闭式防火门未关闭、损坏
            Category("extinguisher", 24),  # 灭火器缺失、压力不足、过期
            Category("hydrant", 72),  # 消火栓、喷淋、水泵、水箱
            Category("alarm_system", 72),  # 火灾报警系统、探测器故障或被屏蔽
            Category("emergency_light", 72),  # 应急照明、疏散指示标志
            Category("electrical", 24),  # 私拉乱接、大功率电器、线路过热
            Category("smoking_flame", 1),  # 吸烟、明火
            Category("combustibles", 24),  # 可燃物堆放
            Category("other", 72),
        )
    }
)


@dataclass(frozen=True, slots=True)
class NewHazard:
    """What opening a hazard needs. `floor`/`room`/`checkpoint` are ids of the site file
    where known; `location` is the words a person reads. `source_ref` is the check-in id
    (source `round`) or the alert id (source `alert`). `deadline_ms` None: the category's
    default from `opened_ms`. `client_id`: the screen's id of the form it was sent from
    (unique: the same form sent again is the same hazard)."""

    site: str
    category: str
    description: str
    location: str
    opened_by: str
    source: str
    floor: str | None = None
    room: str | None = None
    checkpoint: str | None = None
    source_ref: str | None = None
    owner: str | None = None
    deadline_ms: int | None = None
    client_id: str | None = None


def default_deadline(category: str, opened_ms: int) -> int:
    """When a hazard of `category` opened at `opened_ms` is due fixed."""
    return opened_ms + CATEGORIES[category].fix_within_h * HOUR_MS


def check_deadline(deadline_ms: int | None, opened_ms: int, now_ms: int) -> None:
    """HazardError 422 for a deadline before the day the hazard was opened or more than
    366 days from now (None: the category's default, always fine)."""
    if deadline_ms is None:
        return
    if not opened_ms - DAY_MS <= deadline_ms <= now_ms + DEADLINE_AHEAD_MS:
        raise HazardError(
            422,
            f"deadline_ms {deadline_ms}: from a day before the hazard was opened up to 366"
            " days from now",
        )


def open_hazard(conn: sqlite3.Connection, h: NewHazard, now_ms: int) -> int:
    """Insert an open hazard and its `open` log row on `conn` (inside the engine's
    transaction); returns its id. Raises ValueError for an unknown category or source:
    callers check input before and answer 422."""
    if h.category not in CATEGORIES:
        raise ValueError(f"unknown hazard category {h.category!r}")
    if h.source not in SOURCES:
        raise ValueError(f"unknown hazard source {h.source!r}")
    deadline = h.deadline_ms if h.deadline_ms is not None else default_deadline(h.category, now_ms)
    cur = conn.execute(
        "INSERT INTO hazards(site, state, category, description, location, floor, room,"
        " checkpoint, source, source_ref, opened_by, opened_ms, owner, deadline_ms, client_id)"
        " VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            h.site, h.category, h.description, h.location, h.floor, h.room, h.checkpoint,
            h.source, h.source_ref, h.opened_by, now_ms, h.owner, deadline, h.client_id,
        ),
    )  # fmt: skip
    hid = int(cur.lastrowid or 0)
    conn.execute(
        "INSERT INTO hazard_log(hazard_id, at_ms, action, from_state, to_state, by, note)"
        " VALUES (?, ?, 'open', NULL, 'open', ?, ?)",
        (hid, now_ms, h.opened_by, h.source_ref),
    )
    return hid


COLUMNS = (
    "id, site, state, category, description, location, floor, room, checkpoint, source,"
    " source_ref, opened_by, opened_ms, owner, deadline_ms, started_ms, fixed_by, fixed_ms,"
    " closed_by, closed_ms"
)


@dataclass(frozen=True, slots=True)
class Hazard:
    """A row of table `hazards` (COLUMNS, in that order)."""

    id: int
    site: str
    state: str
    category: str
    description: str
    location: str
    floor: str | None
    room: str | None
    checkpoint: str | None
    source: str
    source_ref: str | None
    opened_by: str
    opened_ms: int
    owner: str | None
    deadline_ms: int
    started_ms: int | None
    fixed_by: str | None
    fixed_ms: int | None
    closed_by: str | None
    closed_ms: int | None

    def overdue(self, now_ms: int) -> bool:
        """Past its deadline and not fixed yet (`hazard_overdue` holds)."""
        return self.state in UNFIXED and now_ms >= self.deadline_ms


class HazardError(Exception):
    """A step refused, with the HTTP status the API answers it with and why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def step(
    h: Hazard,
    action: str,
    by: str,
    now_ms: int,
    owner: str | None = None,
    deadline_ms: int | None = None,
) -> Hazard:
    """The hazard after `action` by `by` at `now_ms`, or HazardError: 409 for a step its
    state does not allow and for closing by the one who fixed it (SECOND_PERSON), 422 for
    an unknown action, an assign that changes nothing or a deadline out of bounds
    (check_deadline)."""
    if action not in STEPS:
        raise HazardError(422, f"unknown step {action!r}: one of {', '.join(STEPS)}")
    froms, _to = STEPS[action]
    if h.state not in froms:
        allowed = ", ".join(sorted(froms))
        raise HazardError(409, f"hazard {h.id} is {h.state}: {action} needs it {allowed}")
    if action == "start":
        return replace(h, state="in_progress", started_ms=now_ms)
    if action == "fix":
        started = h.started_ms if h.started_ms is not None else now_ms
        return replace(h, state="fixed", started_ms=started, fixed_by=by, fixed_ms=now_ms)
    if action == "close":
        if by == h.fixed_by:
            raise HazardError(409, SECOND_PERSON)
        return replace(h, state="closed", closed_by=by, closed_ms=now_ms)
    if action == "reopen":
        return replace(h, state="in_progress", fixed_by=None, fixed_ms=None)
    if owner is None and deadline_ms is None:
        raise HazardError(422, "assign: give `owner`, `deadline_ms` or both")
    check_deadline(deadline_ms, h.opened_ms, now_ms)
    return replace(
        h,
        owner=h.owner if owner is None else owner,
        deadline_ms=h.deadline_ms if deadline_ms is None else deadline_ms,
    )
