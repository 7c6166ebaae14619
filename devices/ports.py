"""The small protocols that let ingest and alerting meet without importing each other."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from devices.model import AlertTransition, Decoded

# what a batch sink is handed: the accepted messages, then the batch's alert transitions
BatchItem = Decoded | AlertTransition

# Hands a write to the engine, the database's one writer (alerting.runner.EngineRunner.write):
# it runs in the engine's next transaction; the future resolves after that commit.
Writer = Callable[[Callable[[sqlite3.Connection], None]], Future[Any]]


class DeferredWrites:
    """The bookkeeping of a reader that hands the write for rows it has read (delete them,
    mark them delivered) to the engine's next transaction (`Writer`) instead of committing
    it itself: until that commit it must skip the rows it handed over, else it reads them
    again and sends them twice. When the write failed they are read again (and re-sent).

    Without a writer the write runs at once on the reader's connection."""

    def __init__(self, write: Writer | None) -> None:
        self._write = write
        self._through = 0  # the last row id handed over
        self._pending: Future[Any] | None = None

    def skip_through(self) -> int:
        """Rows with ids up to this one wait for the engine's commit: read past them (0 when
        nothing waits)."""
        if self._pending is not None and self._pending.done():
            self._pending = None  # committed (or failed: then its rows are read again)
        return self._through if self._pending is not None else 0

    def hand_over(
        self,
        conn: sqlite3.Connection,
        through_id: int,
        apply: Callable[[sqlite3.Connection], None],
    ) -> None:
        """Run `apply`, the write for rows up to `through_id`: at once on `conn` without a
        writer, else in the engine's next transaction."""
        if self._write is None:
            apply(conn)
            return
        self._through = through_id
        self._pending = self._write(apply)


class Clock(Protocol):
    """Where every part gets the time: passed in, never read from the system directly, so tests can
    use FakeClock."""

    def now_ms(self) -> int:
        """Wall-clock time in epoch milliseconds."""
        ...


class SystemClock:
    """The wall clock, for the running service."""

    def now_ms(self) -> int:
        """Wall-clock time in epoch ms (not monotonic: it steps when the system clock is set)."""
        return time.time_ns() // 1_000_000


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start_ms: int = 1_795_300_000_000) -> None:
        self.t = start_ms

    def now_ms(self) -> int:
        """The time the test set, in epoch ms."""
        return self.t

    def advance(self, seconds: float) -> None:
        """Move the clock by `seconds`; a negative value moves it back, as a wall clock set back
        does."""
        self.t += int(seconds * 1000)


class BatchSink(Protocol):
    """Writes its part of a batch inside the engine's transaction (same SQLite database).

    `items`: the batch's accepted messages and rejections in queue order, followed by the
    alert transitions the batch committed; a sink picks the kinds it stores."""

    def create_schema(self, conn: sqlite3.Connection) -> None:
        """Create the sink's tables if missing; runs in the engine's setup transaction at every
        start, so it must be idempotent."""
        ...

    def write(self, conn: sqlite3.Connection, items: Sequence[BatchItem]) -> None:
        """Store the items this sink keeps, on the engine's connection and in its transaction: never
        commit. Raising rolls the whole batch back."""
        ...


@dataclass(frozen=True, slots=True)
class Point:
    """One stored value of one field at `ts_ms` (epoch ms), as a ReadingsQuery returns it."""

    ts_ms: int
    value: float | bool | str


@dataclass(frozen=True, slots=True)
class Series:
    """One field of one device's stored time series, over [since_ms, until_ms]."""

    site: str
    device_id: str
    device_type: str
    field: str
    since_ms: int
    until_ms: int
    limit: int


class ReadingsQuery(Protocol):
    """Reads one field of one device's stored time series."""

    def readings(self, q: Series) -> list[Point]:
        """Up to `q.limit` values of the field within [since_ms, until_ms], oldest first, nulls left
        out. May raise when the store cannot answer."""
        ...

    def healthy(self) -> bool:
        """True if the store answers now; the embedded store always does."""
        ...
