"""The fire-hazard register (火灾隐患整改, seed 004: 隐患问题整改销号率 100%): every hazard
found, from a round, the screen or an alert, is a row of table `hazards` that moves
open -> in_progress -> fixed -> closed, each step a row of `hazard_log`. Closing is the
sign-off (销号) and takes a second person: never the one who fixed it.

This module holds the tables of categories and states and `open_hazard`, the one insert
every way of opening a hazard goes through, run inside the engine's transaction (the one
writer) so a round's check-in and the hazard it found commit together."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from types import MappingProxyType

STATES = ("open", "in_progress", "fixed", "closed")
SOURCES = ("screen", "round", "alert")
HOUR_MS = 3_600_000


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
    default from `opened_ms`."""

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


def default_deadline(category: str, opened_ms: int) -> int:
    """When a hazard of `category` opened at `opened_ms` is due fixed."""
    return opened_ms + CATEGORIES[category].fix_within_h * HOUR_MS


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
        " checkpoint, source, source_ref, opened_by, opened_ms, owner, deadline_ms)"
        " VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            h.site, h.category, h.description, h.location, h.floor, h.room, h.checkpoint,
            h.source, h.source_ref, h.opened_by, now_ms, h.owner, deadline,
        ),
    )  # fmt: skip
    hid = int(cur.lastrowid or 0)
    conn.execute(
        "INSERT INTO hazard_log(hazard_id, at_ms, action, from_state, to_state, by, note)"
        " VALUES (?, ?, 'open', NULL, 'open', ?, ?)",
        (hid, now_ms, h.opened_by, h.source_ref),
    )
    return hid
