"""Opening a hazard: the one insert every source goes through."""

from __future__ import annotations

import sqlite3

import pytest

from alerting.hazards import HOUR_MS, NewHazard, open_hazard
from alerting.store import create_schema


def _db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    return conn


def test_a_hazard_opens_with_its_categorys_deadline_and_a_log_row() -> None:
    conn = _db()
    h = NewHazard("sunrise", "exit_blocked", "杂物堵塞", "1F 东侧安全出口", "s-li", "round",
                  floor="1", checkpoint="cp-1f-east", source_ref="17")  # fmt: skip
    hid = open_hazard(conn, h, 1_000)
    row = conn.execute("SELECT state, deadline_ms, opened_by FROM hazards WHERE id = ?", (hid,))
    assert row.fetchone() == ("open", 1_000 + HOUR_MS, "s-li")
    log = conn.execute("SELECT action, to_state, by, note FROM hazard_log WHERE hazard_id = ?",
                       (hid,)).fetchall()  # fmt: skip
    assert log == [("open", "open", "s-li", "17")]


def test_an_unknown_category_is_refused_and_nothing_is_written() -> None:
    conn = _db()
    with pytest.raises(ValueError, match="category"):
        open_hazard(conn, NewHazard("sunrise", "dragons", "x", "x", "s-li", "screen"), 1)
    assert conn.execute("SELECT COUNT(*) FROM hazards").fetchone() == (0,)
