"""The site file's `rounds:` section (fire patrols, 防火巡查): checkpoints with their tag
and checklist, and routes over them on a schedule. The checklist items are one table here
(CHECKLIST_ITEMS; alerting/rounds.py serves it as CHECKLIST), each naming the hazard
category a "problem found" opens, so the site file can be checked without alerting.

The schedule of a route's rounds (`rounds_between`, `round_at`: wall-clock times of the
site's zone) is here too, so the simulator walks the same rounds the service judges.

`rounds_problems` checks the section as a whole (a route naming an unknown checkpoint, a
checkpoint on an unknown floor or room, a tag given twice, an unknown checklist item) and
returns each problem with the path of the value it is about, so the loader
(devices/registry.py) names file and line."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from types import MappingProxyType

from pydantic import Field, field_validator

from devices.yamlconf import Loc, StrictModel

HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
ID = r"^[a-z0-9_-]{1,48}$"
# a tag's text: what a QR link carries unescaped and a tag reader's event allows (64)
TAG = r"^[A-Za-z0-9:._-]{1,64}$"

# checklist item -> the hazard category (alerting/hazards.CATEGORIES) its "problem" opens
CHECKLIST_ITEMS: Mapping[str, str] = MappingProxyType(
    {
        "exit_clear": "exit_blocked",  # 疏散通道、安全出口畅通
        "fire_door_closed": "fire_door",  # 常闭式防火门处于关闭状态
        "extinguisher_ok": "extinguisher",  # 灭火器在位、压力正常
        "hydrant_ok": "hydrant",  # 消火栓完好、无遮挡
        "no_smoking": "smoking_flame",  # 无吸烟、无明火
        "no_combustibles": "combustibles",  # 无可燃物堆放
        "electrical_ok": "electrical",  # 无私拉乱接、大功率电器
        "emergency_light_ok": "emergency_light",  # 应急照明、疏散指示完好
        "pump_auto": "hydrant",  # 消防水泵处于自动状态
        "valve_open": "hydrant",  # 信号阀全开
    }
)


class CheckpointConfig(StrictModel):
    """A place a round visits: where it is, the tag on the wall (NFC uid or QR text), and
    what is checked there."""

    id: str = Field(pattern=ID, description="checkpoint id, e.g. cp-1f-east-exit")
    name: str = Field(min_length=1, max_length=48, description="shown, e.g. 1F 东侧安全出口")
    name_en: str | None = Field(None, max_length=48, description="for English")
    floor: str = Field(min_length=1, max_length=16, description="floor id of the site file")
    room: str | None = Field(None, max_length=32, description="room id, when in a room")
    tag: str = Field(
        pattern=TAG,
        description="the tag's text: an NFC uid (nfc:04a2..., any case: kept lower case) or"
        " the QR code's id; letters, digits and : . _ -, at most 64 (a tag reader's limit)",
    )
    checklist: list[str] = Field(default_factory=list, description="checklist item ids")

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        return normal_tag(v)


def normal_tag(tag: str) -> str:
    """The tag as the service keeps it: an NFC uid in lower case (Web NFC reads serials in
    lower case, a reader or a site file may write them in upper case: one tag); any other
    tag (a QR code's id) as written."""
    return "nfc:" + tag[4:].lower() if tag[:4].lower() == "nfc:" else tag


class RouteConfig(StrictModel):
    """A route: its checkpoints, walked every `every_h` hours from `start` to `end` (local
    time of the site, may span midnight). A round is due `duration_min` after it starts and
    missed `grace_min` after that."""

    id: str = Field(pattern=ID, description="route id, e.g. night")
    name: str = Field(min_length=1, max_length=48)
    name_en: str | None = Field(None, max_length=48)
    checkpoints: list[str] = Field(min_length=1, description="checkpoint ids, in walking order")
    start: str = Field(pattern=HHMM, description="HH:MM local: the first round starts")
    end: str = Field(pattern=HHMM, description="HH:MM local: no round starts at or after")
    every_h: float = Field(gt=0, le=24, description="hours between rounds' starts")
    duration_min: int = Field(60, ge=5, le=24 * 60, description="a round is due after")
    grace_min: int = Field(15, ge=0, le=24 * 60, description="then missed after this")


class RoundsConfig(StrictModel):
    """The site's rounds (docs/fire-duty.md, ## Rounds)."""

    checkpoints: list[CheckpointConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)


def rounds_problems(
    rounds: RoundsConfig, rooms: Mapping[str, str], floors: frozenset[str]
) -> list[tuple[Loc, str]]:
    """Every problem of the section, each with the path (under `rounds`) of its value.
    `rooms` maps each room id of the site to its floor."""
    out: list[tuple[Loc, str]] = []
    ids: dict[str, int] = {}
    tags: dict[str, str] = {}
    for i, cp in enumerate(rounds.checkpoints):
        at: Loc = ("rounds", "checkpoints", i)
        if cp.id in ids:
            out.append(((*at, "id"), f"checkpoint id {cp.id!r} used twice"))
        ids.setdefault(cp.id, i)
        if cp.floor not in floors:
            out.append(((*at, "floor"), f"checkpoint {cp.id}: unknown floor {cp.floor!r}"))
        if cp.room is not None:
            if cp.room not in rooms:
                out.append(((*at, "room"), f"checkpoint {cp.id}: unknown room {cp.room!r}"))
            elif rooms[cp.room] != cp.floor and cp.floor in floors:
                out.append(
                    ((*at, "room"),
                     f"checkpoint {cp.id}: room {cp.room!r} is on floor {rooms[cp.room]!r},"
                     f" not {cp.floor!r}")
                )  # fmt: skip
        if cp.tag in tags:
            out.append(
                ((*at, "tag"), f"tag {cp.tag!r} is also checkpoint {tags[cp.tag]}'s: one tag,"
                 " one checkpoint")
            )  # fmt: skip
        tags.setdefault(cp.tag, cp.id)
        for j, item in enumerate(cp.checklist):
            if item not in CHECKLIST_ITEMS:
                out.append(
                    ((*at, "checklist", j),
                     f"checkpoint {cp.id}: unknown checklist item {item!r}; known:"
                     f" {', '.join(CHECKLIST_ITEMS)}")
                )  # fmt: skip
        if len(set(cp.checklist)) != len(cp.checklist):
            out.append(((*at, "checklist"), f"checkpoint {cp.id}: an item listed twice"))
    routes: set[str] = set()
    for i, r in enumerate(rounds.routes):
        at = ("rounds", "routes", i)
        if r.id in routes:
            out.append(((*at, "id"), f"route id {r.id!r} used twice"))
        routes.add(r.id)
        for j, cp_id in enumerate(r.checkpoints):
            if cp_id not in ids:
                out.append(((*at, "checkpoints", j), f"route {r.id}: unknown checkpoint {cp_id!r}"))
        if len(set(r.checkpoints)) != len(r.checkpoints):
            out.append(((*at, "checkpoints"), f"route {r.id}: a checkpoint listed twice"))
        if r.duration_min > r.every_h * 60:
            out.append(
                ((*at, "duration_min"),
                 f"route {r.id}: a round ({r.duration_min} min) is longer than the time"
                 f" between rounds ({r.every_h} h)")
            )  # fmt: skip
        overlap = _overlap_min(r)
        if overlap > 0:
            out.append(
                ((*at, "every_h"),
                 f"route {r.id}: its last round's slot runs {overlap:g} min into the next"
                 f" day's first round at {r.start} (every {r.every_h:g} h from {r.start} to"
                 f" {r.end}): choose every_h that divides the window, or end earlier")
            )  # fmt: skip
    return out


def _overlap_min(route: RouteConfig) -> float:
    """How far the window's last round's slot (every_h from its start) runs past the next
    day's first round; > 0 only when every_h does not divide a whole day's window (start ==
    end) or the last round starts too late. Two rounds' slots must not overlap: a
    check-in then would count for both."""
    step = route.every_h * 60
    n = math.ceil(_window_min(route) / step - 1e-9)
    return round((n - 1) * step + step - 24 * 60, 6)


# --- the schedule: when a route's rounds are (alerting/rounds.py judges them) ----------


@dataclass(frozen=True, slots=True)
class Round:
    """One round of a route: from its start to the next one's (`slot_end_ms`)."""

    route: str
    start_ms: int
    due_ms: int
    grace_until_ms: int
    slot_end_ms: int


def _hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h), int(m))


def _window_min(route: RouteConfig) -> int:
    """Minutes from start to end (wall clock); a window from 22:00 to 06:00 spans midnight,
    start == end is the whole day."""
    s, e = _hhmm(route.start), _hhmm(route.end)
    span = (e.hour * 60 + e.minute - s.hour * 60 - s.minute) % (24 * 60)
    return span or 24 * 60


def _ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def _of_day(route: RouteConfig, day: date, tz: tzinfo) -> list[Round]:
    """The rounds of the window opening on local `day`."""
    first = datetime.combine(day, _hhmm(route.start))
    step = timedelta(hours=route.every_h)
    out: list[Round] = []
    k = 0
    while k * route.every_h * 60 < _window_min(route):
        wall = first + k * step  # wall-clock arithmetic: 22:00, 00:00, 02:00...
        start = _ms(wall.replace(tzinfo=tz))
        slot_end = _ms((wall + step).replace(tzinfo=tz))
        due = start + route.duration_min * MINUTE_MS
        k += 1
        if out and start <= out[-1].start_ms:
            out.pop()  # a wall time summer time skips is the same instant as the next one
        out.append(Round(route.id, start, due, due + route.grace_min * MINUTE_MS, slot_end))
    return out


def rounds_between(route: RouteConfig, tz: tzinfo, from_ms: int, to_ms: int) -> list[Round]:
    """The route's rounds starting in [from_ms, to_ms), oldest first."""
    day = datetime.fromtimestamp(from_ms / 1000, tz).date() - timedelta(days=1)
    last = datetime.fromtimestamp(to_ms / 1000, tz).date()
    out: list[Round] = []
    while day <= last:
        out += [r for r in _of_day(route, day, tz) if from_ms <= r.start_ms < to_ms]
        day += timedelta(days=1)
    return out


def round_at(route: RouteConfig, tz: tzinfo, at_ms: int) -> Round | None:
    """The round whose slot holds `at_ms` (a check-in then counts for it), or None."""
    for r in rounds_between(route, tz, at_ms - 25 * HOUR_MS, at_ms + 1):
        if r.start_ms <= at_ms < r.slot_end_ms:
            return r
    return None
