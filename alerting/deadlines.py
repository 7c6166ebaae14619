"""Every timer as a row: on-delays, off-delays, escalation steps, shelving and maintenance
ends. Written in the engine's transaction, so a restart resumes each at its instant.

In memory a dict plus a heap: finding what is due costs O(log n) per due deadline, never a
scan of all of them. The rows are written once per transaction (`flush`, right before the
commit): a deadline armed and served in the same batch, as an alarm's first escalation
step is, never touches the table, and the rest go in one statement each for upserts and
deletes (devices/sqlrows.py says why statements count).
"""

from __future__ import annotations

import heapq
import sqlite3
from dataclasses import dataclass

from devices.sqlrows import deleting, inserting

ON = "on"  # on-delay: raise when it comes due
OFF = "off"  # off-delay / chatter calm: clear when it comes due
ESC = "esc"  # next escalation step of an alert
SHELVE = "shelve"  # shelving ends
OOS = "oos"  # maintenance (out of service) ends

DKey = tuple[str, str, str, str]  # kind, rule, site, subject

_UPSERT = inserting(
    "INSERT OR REPLACE INTO deadlines(kind, rule, site, subject, due_ms, since_ms, value)", 7
)
_DELETE = deleting("deadlines", ("kind", "rule", "site", "subject"))


@dataclass(slots=True)
class Deadline:
    """One timer row: `kind` (ON, OFF, ESC, SHELVE, OOS, FIRE) for a rule and subject, due at
    `due_ms`, armed at `since_ms` (epoch ms); `value` is the kind's own data."""

    kind: str
    rule: str
    site: str
    subject: str
    due_ms: int
    since_ms: int
    value: str = ""

    @property
    def key(self) -> DKey:
        """The identity of the timer: one deadline per (kind, rule, site, subject)."""
        return (self.kind, self.rule, self.site, self.subject)


class Deadlines:
    """The timers of one engine, mirrored in the `deadlines` table inside the engine's transaction.
    Used by the engine thread only."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._items: dict[DKey, Deadline] = {}
        self._heap: list[tuple[int, DKey]] = []
        self._stored: set[DKey] = set()  # keys with a row, as of the last flush
        self._dirty: dict[DKey, Deadline | None] = {}  # since then: row to write, or delete

    def load(self) -> None:
        """Read every deadline from the table: at startup and after a rollback (whatever
        was not flushed and committed is forgotten)."""
        rows = self._conn.execute(
            "SELECT kind, rule, site, subject, due_ms, since_ms, value FROM deadlines"
        ).fetchall()
        self._items = {}
        for r in rows:
            d = Deadline(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or "")
            self._items[d.key] = d
        self._heap = [(d.due_ms, k) for k, d in self._items.items()]
        heapq.heapify(self._heap)
        self._stored = set(self._items)
        self._dirty = {}

    def get(self, key: DKey) -> Deadline | None:
        """The pending deadline of that key, or None."""
        return self._items.get(key)

    def set(self, d: Deadline) -> None:
        """Arm a deadline (its row at the next flush); one of the same key is replaced."""
        self._items[d.key] = d
        heapq.heappush(self._heap, (d.due_ms, d.key))
        self._dirty[d.key] = d

    def cancel(self, key: DKey) -> None:
        """Drop the deadline (its row at the next flush); a key with none is fine."""
        if self._items.pop(key, None) is None:
            return
        if key in self._stored:
            self._dirty[key] = None
        else:  # armed since the last flush: no row to delete
            self._dirty.pop(key, None)

    def flush(self) -> None:
        """Write the rows changed since the last flush, in the caller's transaction; the
        engine calls it right before every commit."""
        if not self._dirty:
            return
        ups = [d for d in self._dirty.values() if d is not None]
        gone = [k for k, d in self._dirty.items() if d is None]
        _UPSERT.run(
            self._conn,
            [(d.kind, d.rule, d.site, d.subject, d.due_ms, d.since_ms, d.value) for d in ups],
        )
        _DELETE.run(self._conn, gone)
        self._stored.difference_update(gone)
        self._stored.update(d.key for d in ups)
        self._dirty = {}

    def _clean_top(self) -> None:
        heap = self._heap
        while heap:
            due, key = heap[0]
            d = self._items.get(key)
            if d is not None and d.due_ms == due:
                return
            heapq.heappop(heap)  # cancelled or moved: a stale heap entry

    def next_due(self) -> int | None:
        """When the earliest deadline falls due (epoch ms), or None if there is none. Removes
        nothing."""
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
