"""devices/sqlrows.py: the batch's rows in one statement store exactly what row-by-row
inserts store, whatever the values."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.sqlrows import deleting, inserting

_TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b REAL, c TEXT, d TEXT)"
_ROWS = inserting("INSERT INTO t(a, b, c, d)", 4)

values = st.tuples(
    st.none() | st.integers(-(2**63), 2**63 - 1),
    st.none() | st.floats(allow_nan=False, allow_infinity=False),
    st.none() | st.text(),  # any text, lone surrogates included
    st.none() | st.text(alphabet='{}[]":,\\ \u00e9\u4e00\U0001f525ab'),
)


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(_TABLE)
    return conn


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(values, max_size=40))
def test_one_statement_stores_what_executemany_stores(rows):
    ours, theirs = _db(), _db()
    try:
        _ROWS.run(ours, rows)
    except UnicodeEncodeError:
        return  # sqlite3 refuses a lone surrogate either way (below)
    theirs.executemany("INSERT INTO t(a, b, c, d) VALUES (?,?,?,?)", rows)
    q = "SELECT id, a, typeof(a), b, typeof(b), c, typeof(c), d FROM t ORDER BY id"
    assert ours.execute(q).fetchall() == theirs.execute(q).fetchall()


def test_text_json_extract_would_cut_is_stored_whole():
    """A NUL inside text (json_extract would end the text there) goes row by row."""
    conn = _db()
    _ROWS.run(conn, [(1, 0.5, "a\x00b", "{}"), (2, 1.5, "ok", "{}")])
    assert conn.execute("SELECT c FROM t ORDER BY id").fetchall() == [("a\x00b",), ("ok",)]


def test_a_lone_surrogate_fails_as_executemany_fails():
    """JSON cannot carry it, so the rows go by executemany, which refuses it as before:
    the caller's transaction fails whole (and the message goes to the dead letters)."""
    conn = _db()
    with pytest.raises(UnicodeEncodeError):
        _ROWS.run(conn, [(1, 0.5, "x", "y"), (2, 1.5, "ok", "\ud800")])


def test_an_upsert_tail_updates_rows_already_there():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE s (k TEXT PRIMARY KEY, seen INTEGER, n INTEGER)")
    upsert = inserting(
        "INSERT INTO s(k, seen, n)",
        3,
        " ON CONFLICT(k) DO UPDATE SET seen = excluded.seen, n = s.n + 1",
    )
    upsert.run(conn, [("a", 1, 0), ("b", 1, 0)])
    upsert.run(conn, [("a", 5, 0), ("c", 5, 0)])
    upsert.run(conn, [("b", 9, 0)])
    assert conn.execute("SELECT k, seen, n FROM s ORDER BY k").fetchall() == [
        ("a", 5, 1),
        ("b", 9, 1),
        ("c", 5, 0),
    ]


def test_many_rows_are_one_step():
    """What the module is for: a batch is one statement, whatever its size."""
    conn = _db()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    _ROWS.run(conn, [(i, i / 2, f"w-{i}", "{}") for i in range(500)])
    _ROWS.run(conn, [])
    assert len(statements) == 1
    assert conn.execute("SELECT count(*), sum(a) FROM t").fetchone() == (500, sum(range(500)))


def test_rows_deleted_by_key_in_one_step_leave_the_others():
    conn = _db()
    _ROWS.run(conn, [(i, 0.0, f"k{i % 3}", str(i)) for i in range(9)])
    gone = deleting("t", ("c", "d"))
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    gone.run(conn, [("k0", "0"), ("k1", "4"), ("k2", "5"), ("k0", "1")])  # the last: no row
    gone.run(conn, [("k0", "3")])
    assert len(statements) == 2
    assert [r[0] for r in conn.execute("SELECT a FROM t ORDER BY a")] == [1, 2, 6, 7, 8]
