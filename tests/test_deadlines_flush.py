"""alerting/deadlines.py writes its rows once per transaction: what the table holds after a
flush is what memory holds, and a deadline armed and served in one batch costs no row."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.deadlines import ESC, ON, Deadline, Deadlines
from alerting.store import create_schema


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    create_schema(conn)
    return conn


def _rows(conn: sqlite3.Connection) -> set[tuple[object, ...]]:
    return set(
        conn.execute("SELECT kind, rule, site, subject, due_ms, since_ms, value FROM deadlines")
    )


def _d(subject: str, due: int, kind: str = ESC) -> Deadline:
    return Deadline(kind, "fall", "sunrise", subject, due, 0, "x")


def test_a_deadline_armed_and_served_in_one_batch_never_touches_the_table():
    conn = _db()
    dl = Deadlines(conn)
    dl.load()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    dl.set(_d("22", 100))
    assert dl.pop_due(100) == _d("22", 100)
    dl.set(_d("22", 60_100))  # the next step
    dl.flush()
    assert len(statements) == 1  # the next step's row, nothing else
    assert _rows(conn) == {("esc", "fall", "sunrise", "22", 60_100, 0, "x")}


def test_what_was_not_flushed_is_forgotten_on_reload():
    conn = _db()
    dl = Deadlines(conn)
    dl.load()
    dl.set(_d("1", 5))
    dl.flush()
    dl.set(_d("2", 6))
    dl.cancel(("esc", "fall", "sunrise", "1"))
    dl.load()  # what the engine does after a rollback
    assert dl.get(("esc", "fall", "sunrise", "1")) == _d("1", 5)
    assert dl.get(("esc", "fall", "sunrise", "2")) is None


ops = st.lists(
    st.tuples(
        st.sampled_from(["set", "cancel", "pop", "flush"]),
        st.sampled_from(["1", "2", "3", "4"]),
        st.sampled_from([ON, ESC]),
        st.integers(0, 50),
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(ops=ops)
def test_after_a_flush_the_table_holds_what_memory_holds(ops):
    conn = _db()
    dl = Deadlines(conn)
    dl.load()
    for op, subject, kind, due in ops:
        key = (kind, "fall", "sunrise", subject)
        if op == "set":
            dl.set(_d(subject, due, kind))
        elif op == "cancel":
            dl.cancel(key)
        elif op == "pop":
            dl.pop_due(due)
        else:
            dl.flush()
    dl.flush()
    held = {
        (d.kind, d.rule, d.site, d.subject, d.due_ms, d.since_ms, d.value)
        for d in (dl.get((k, "fall", "sunrise", s)) for k in (ON, ESC) for s in "1234")
        if d is not None
    }
    assert _rows(conn) == held
    fresh = Deadlines(conn)
    fresh.load()
    assert len(fresh) == len(dl) == len(held)
