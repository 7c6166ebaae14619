"""DeferredWrites: the rows a reader handed to the engine's next transaction are skipped
until that commit, read again if it failed, and written at once without a writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from devices.ports import DeferredWrites

Apply = Callable[[sqlite3.Connection], None]


class EngineWrites:
    """The engine's `write` as a list: each write waits until the test commits it."""

    def __init__(self) -> None:
        self.pending: list[tuple[Apply, Future[Any]]] = []

    def __call__(self, apply: Apply) -> Future[Any]:
        fut: Future[Any] = Future()
        self.pending.append((apply, fut))
        return fut


def table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    conn.executemany("INSERT INTO t(id) VALUES (?)", [(i,) for i in range(1, 6)])
    return conn


def delete_through(last: int) -> Apply:
    def apply(c: sqlite3.Connection) -> None:
        c.execute("DELETE FROM t WHERE id <= ?", (last,))

    return apply


def test_without_a_writer_the_write_runs_at_once_and_nothing_is_skipped() -> None:
    conn = table()
    d = DeferredWrites(None)
    d.hand_over(conn, 3, delete_through(3))
    assert conn.execute("SELECT min(id) FROM t").fetchone() == (4,)
    assert d.skip_through() == 0


def test_rows_handed_over_are_skipped_until_the_engine_commits() -> None:
    conn = table()
    engine = EngineWrites()
    d = DeferredWrites(engine)
    assert d.skip_through() == 0
    d.hand_over(conn, 3, delete_through(3))
    assert conn.execute("SELECT count(*) FROM t").fetchone() == (5,)  # not written yet
    assert d.skip_through() == 3
    assert d.skip_through() == 3  # asking again changes nothing
    apply, fut = engine.pending.pop()
    apply(conn)
    fut.set_result(None)
    assert d.skip_through() == 0  # committed: the rows are gone, nothing to skip
    assert conn.execute("SELECT min(id) FROM t").fetchone() == (4,)


def test_a_failed_write_lets_its_rows_be_read_again() -> None:
    engine = EngineWrites()
    d = DeferredWrites(engine)
    d.hand_over(table(), 2, delete_through(2))
    _, fut = engine.pending.pop()
    fut.set_exception(RuntimeError("the transaction rolled back"))
    assert d.skip_through() == 0


def test_a_later_hand_over_moves_the_mark_on() -> None:
    engine = EngineWrites()
    d = DeferredWrites(engine)
    conn = table()
    d.hand_over(conn, 2, delete_through(2))
    d.hand_over(conn, 4, delete_through(4))
    assert d.skip_through() == 4
    for _, fut in engine.pending:
        fut.set_result(None)
    assert d.skip_through() == 0
