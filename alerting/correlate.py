"""Correlation and repetition: counting other rules' raises in sliding windows.

Each occurrence of a rule that some correlation or repetition rule listens to is a signal,
kept in memory and in the `signals` table for the longest window, so a restart counts on.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from dataclasses import dataclass

from alerting.model import Alert
from alerting.rulebook import Rulebook
from alerting.rules import CorrelationRule, RepetitionRule
from alerting.ruleset import RuleSet


@dataclass(frozen=True, slots=True)
class Signal:
    """One occurrence of a rule that a correlation or repetition rule counts, with where and when
    (epoch ms) it happened; a row of `signals`."""

    rule: str
    site: str
    device_id: str
    floor: str | None
    room: str | None
    at: int


@dataclass(frozen=True, slots=True)
class Hit:
    """A correlation or repetition rule whose count was reached: what to raise, for which subject,
    and the value the alert shows."""

    rule: CorrelationRule | RepetitionRule
    subject: str  # device id (repetition) or "floor:2" / "room:204" / "site" (correlation)
    floor: str | None
    room: str | None
    value: str


class Signals:
    """The sliding windows of correlation and repetition rules, kept in memory and in `signals` for
    the longest window; runs in the engine's transaction."""

    def __init__(self, conn: sqlite3.Connection, rules: RuleSet | Rulebook) -> None:
        self._conn = conn
        self._rules = Rulebook.of_one(rules)
        self._log: deque[Signal] = deque()

    def load(self, now: int) -> None:
        """The signals still inside the longest window, from the table: at startup and after a
        rollback."""
        rows = self._conn.execute(
            "SELECT rule, site, device_id, floor, room, at FROM signals WHERE at > ? ORDER BY id",
            (now - self._rules.signal_window_ms,),
        ).fetchall()
        self._log = deque(Signal(*r) for r in rows)

    def record(self, a: Alert, now: int) -> list[Hit]:
        """Count one occurrence (raise or repeat) of `a`'s rule and return the rules whose count it
        completes; rules nobody listens to cost nothing."""
        consumers = self._rules.of(a.site).consumers.get(a.rule)
        if not consumers:
            return []
        s = Signal(a.rule, a.site, a.device_id, a.floor, a.room, now)
        horizon = now - self._rules.signal_window_ms
        while self._log and self._log[0].at <= horizon:
            self._log.popleft()
        self._log.append(s)
        self._conn.execute("DELETE FROM signals WHERE at <= ?", (horizon,))
        self._conn.execute(
            "INSERT INTO signals(rule, site, device_id, floor, room, at) VALUES (?,?,?,?,?,?)",
            (s.rule, s.site, s.device_id, s.floor, s.room, s.at),
        )
        hits = []
        for c in consumers:
            since = now - int(c.within_s * 1000)
            recent = [
                x for x in self._log if x.at > since and x.rule in c.signals and x.site == a.site
            ]
            if isinstance(c, RepetitionRule):
                n = sum(1 for x in recent if x.device_id == a.device_id)
                if n >= c.count:
                    hits.append(Hit(c, a.device_id, a.floor, a.room, f"{n}x in {c.within_s:g} s"))
                continue
            if c.scope == "floor":
                same = [x for x in recent if x.floor == a.floor]
                subject, floor, room = f"floor:{a.floor}", a.floor, None
            elif c.scope == "room":
                same = [x for x in recent if x.room == a.room]
                subject, floor, room = f"room:{a.room}", a.floor, a.room
            else:
                same, subject, floor, room = recent, "site", None, None
            keys = {x.device_id if c.distinct == "device" else x.rule for x in same}
            if len(keys) >= c.count:
                hits.append(Hit(c, subject, floor, room, ", ".join(sorted(keys))))
        return hits
