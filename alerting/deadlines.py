"""Every timer as a row: on-delays, off-delays, escalation steps, shelving and maintenance
ends. Written in the engine's transaction, so a restart resumes each at its instant.

In memory a dict plus a heap: finding what is due costs O(log n) per due deadline, never a
scan of all of them.
"""

from __future__ import annotations

import heapq
import sqlite3
from dataclasses import dataclass

ON = "on"  # on-delay: raise when it comes due
OFF = "off"  # off-delay / chatter calm: clear when it comes due
ESC = "esc"  # next escalation step of an alert
SHELVE = "shelve"  # shelving ends
OOS = "oos"  # maintenance (out of service) ends

DKey = tuple[str, str, str, str]  # kind, rule, site, subject


@dataclass(slots=True)
class Deadline:
    kind: str
    rule: str
    site: str
    subject: str
    due_ms: int
    since_ms: int
    value: str = ""

    @property
    def key(self) -> DKey:
        return (self.kind, self.rule, self.site, self.subject)


class Deadlines:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._items: dict[DKey, Deadline] = {}
        self._heap: list[tuple[int, DKey]] = []

    def load(self) -> None:
        rows = self._conn.execute(
            "SELECT kind, rule, site, subject, due_ms, since_ms, value FROM deadlines"
        ).fetchall()
        self._items = {}
        for r in rows:
            d = Deadline(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "")
            self._items[d.key] = d
        self._heap = [(d.due_ms, k) for k, d in self._items.items()]
        heapq.heapify(self._heap)

    def get(self, key: DKey) -> Deadline | None:
        return self._items.get(key)

    def set(self, d: Deadline) -> None:
        self._items[d.key] = d
        heapq.heappush(self._heap, (d.due_ms, d.key))
        self._conn.execute(
            "INSERT OR REPLACE INTO deadlines(kind, rule, site, subject, due_ms, since_ms, value)"
            " VALUES (?,?,?,?,?,?,?)",
            (d.kind, d.rule, d.site, d.subject, d.due_ms, d.since_ms, d.value),
        )

    def cancel(self, key: DKey) -> None:
        if self._items.pop(key, None) is not None:
            self._conn.execute(
                "DELETE FROM deadlines WHERE kind=? AND rule=? AND site=? AND subject=?", key
            )

    def _clean_top(self) -> None:
        heap = self._heap
        while heap:
            due, key = heap[0]
            d = self._items.get(key)
            if d is not None and d.due_ms == due:
                return
            heapq.heappop(heap)  # cancelled or moved: a stale heap entry

    def next_due(self) -> int | None:
        self._clean_top()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now_ms: int) -> Deadline | None:
        """The earliest deadline due at `now_ms`, removed (row included); None if none."""
        self._clean_top()
        if not self._heap or self._heap[0][0] > now_ms:
            return None
        _, key = heapq.heappop(self._heap)
        d = self._items[key]
        self.cancel(key)
        return d

    def __len__(self) -> int:
        return len(self._items)
