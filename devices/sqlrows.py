"""Many rows into SQLite in one statement, for the threads that share the interpreter.

Why: Python's sqlite3 lets go of the GIL around every `sqlite3_step`, and `executemany`
of n rows is n steps. Each time the engine's thread lets go while another thread runs
Python (paho's reader at thousands of messages a second), it waits for the interpreter's
switch interval to get it back. Measured on this machine with one busy thread beside it,
50 spool rows took 23 ms by `executemany` and 0.7 ms as one `INSERT ... SELECT FROM
json_each(?)`; with no other thread, 0.07 and 0.13 ms. An alarm waiting behind a batch
of telemetry waits for those steps (docs/performance.md, "The GIL and SQLite's steps").
End to end the change did not show outside the noise; it stays because it also costs
less CPU per message (same section).

Shared by ingest (the spool) and alerting (the supervision rows), which never import
each other; devices is what both may import.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import orjson


def _pack(rows: Sequence[Sequence[Any]]) -> str | None:
    """`rows` as one JSON array for json_each, or None where they must go row by row: a
    value JSON cannot carry (a lone surrogate), or a NUL, at which json_extract would end
    the text (any escaped NUL is taken for one: row by row is never wrong, only slower).
    Text, not bytes: SQLite 3.45 and later read a BLOB argument as its binary JSONB."""
    try:
        packed = orjson.dumps(rows).decode()
    except TypeError:
        return None
    return None if "\\u0000" in packed else packed


def _columns(width: int) -> str:
    return ", ".join(f"json_extract(value, '$[{i}]')" for i in range(width))


class Rows:
    """A statement over rows of `width` values: one row as `one` (with ? marks), more as
    `many`, which takes them all as one JSON array through json_each, a single step.
    Values: int, float, str or None. Build it with `inserting` or `deleting`."""

    def __init__(self, one: str, many: str) -> None:
        self.one = one
        self.many = many

    def run(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
        """Apply it to `rows` in the caller's transaction."""
        if not rows:
            return
        packed = _pack(rows) if len(rows) > 1 else None
        if packed is None:
            conn.executemany(self.one, rows)
        else:
            conn.execute(self.many, (packed,))


def inserting(head: str, width: int, tail: str = "") -> Rows:
    """Rows inserted: `head` is "INSERT INTO t(a, b, ...)" with `width` columns; `tail` an
    optional upsert clause (" ON CONFLICT(...) DO UPDATE SET ...")."""
    marks = ", ".join("?" * width)
    # WHERE true: SQLite's rule for an upsert after INSERT ... SELECT (parsing ambiguity)
    return Rows(
        f"{head} VALUES ({marks}){tail}",
        f"{head} SELECT {_columns(width)} FROM json_each(?) WHERE true{tail}",
    )


def deleting(table: str, key: Sequence[str]) -> Rows:
    """Rows of `table` deleted by the values of their `key` columns."""
    cols = ", ".join(key)
    return Rows(
        f"DELETE FROM {table} WHERE " + " AND ".join(f"{c}=?" for c in key),
        f"DELETE FROM {table} WHERE ({cols}) IN (SELECT {_columns(len(key))} FROM json_each(?))",
    )
