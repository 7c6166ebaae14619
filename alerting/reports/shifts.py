"""Duty shifts (site file `shifts:`) as time spans in the site's time zone.

A shift runs from its start to the next shift's start; the last one of the day runs past
midnight into the first of the next day. A span's `date` is the local date it started
(the night shift of 2 March runs 2 March 23:00 - 3 March 07:00).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from alerting.reports.model import ShiftSpan


@dataclass(frozen=True, slots=True)
class ShiftDef:
    """One shift of the site file: its name (Chinese), local start time, and the English name if
    given; it runs until the next shift's start."""

    name: str
    start: time
    name_en: str | None = None


def parse_hhmm(text: str) -> time:
    """A time from the site file's "HH:MM"; ValueError if it is no valid time."""
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def local_ms(day: date, at: time, tz: ZoneInfo) -> int:
    """The local wall-clock `at` on `day` in `tz`, as epoch ms."""
    return int(datetime.combine(day, at, tz).timestamp() * 1000)


def local_date(ms: int, tz: ZoneInfo) -> date:
    """The local date in `tz` of epoch ms `ms`."""
    return datetime.fromtimestamp(ms / 1000, tz).date()


def shift_spans(
    shifts: Sequence[ShiftDef], tz: ZoneInfo, start_ms: int, end_ms: int
) -> list[ShiftSpan]:
    """The shifts overlapping [start_ms, end_ms), clipped to it, in time order."""
    if not shifts or end_ms <= start_ms:
        return []
    ordered = sorted(shifts, key=lambda s: s.start)
    out: list[ShiftSpan] = []
    day = local_date(start_ms, tz) - timedelta(days=1)
    last = local_date(end_ms, tz)
    while day <= last:
        for i, s in enumerate(ordered):
            begin = local_ms(day, s.start, tz)
            if i + 1 < len(ordered):
                end = local_ms(day, ordered[i + 1].start, tz)
            else:
                end = local_ms(day + timedelta(days=1), ordered[0].start, tz)
            lo, hi = max(begin, start_ms), min(end, end_ms)
            if lo < hi:
                out.append(ShiftSpan(s.name, s.name_en, day.isoformat(), lo, hi))
        day += timedelta(days=1)
    return out


def shift_at(shifts: Sequence[ShiftDef], tz: ZoneInfo, at_ms: int) -> ShiftSpan | None:
    """The whole shift (not clipped) that `at_ms` falls in."""
    if not shifts:
        return None
    for span in _whole(shifts, tz, at_ms):
        if span.start_ms <= at_ms < span.end_ms:
            return span
    return None


def previous_shift(shifts: Sequence[ShiftDef], tz: ZoneInfo, at_ms: int) -> ShiftSpan | None:
    """The whole shift before the one `at_ms` falls in."""
    now = shift_at(shifts, tz, at_ms)
    return None if now is None else shift_at(shifts, tz, now.start_ms - 1)


def _whole(shifts: Sequence[ShiftDef], tz: ZoneInfo, at_ms: int) -> list[ShiftSpan]:
    day = 86_400_000
    return shift_spans(shifts, tz, at_ms - 2 * day, at_ms + 2 * day)


def watch_day(shifts: Sequence[ShiftDef], tz: ZoneInfo, at: time | None, now_ms: int) -> int:
    """The latest daily boundary at or before `now_ms`: `at`, or the first shift's start,
    or local midnight (epoch ms)."""
    if at is None:
        at = min(s.start for s in shifts) if shifts else time(0, 0)
    today = local_date(now_ms, tz)
    boundary = local_ms(today, at, tz)
    if boundary > now_ms:
        boundary = local_ms(today - timedelta(days=1), at, tz)
    return boundary


def local_text(ms: int, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Epoch ms as local wall-clock text (CSV cells, file names)."""
    return datetime.fromtimestamp(ms / 1000, tz).strftime(fmt)
