"""The alert store: SQLite tables for alerts, audit, event de-duplication and deadlines.

Only the engine's thread writes; readers open their own connections (WAL).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from alerting.model import Alert, AlertState, Severity

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id INTEGER PRIMARY KEY, site TEXT NOT NULL, device_id TEXT NOT NULL, rule TEXT NOT NULL,"
    " severity TEXT NOT NULL, state TEXT NOT NULL, latched INTEGER NOT NULL,"
    " raised_at INTEGER NOT NULL, last_at INTEGER NOT NULL, occurrences INTEGER NOT NULL,"
    " value TEXT, condition_cleared_at INTEGER, acknowledged_at INTEGER, acknowledged_by TEXT,"
    " cleared_at INTEGER, closed_by TEXT, note TEXT)",
    "CREATE INDEX IF NOT EXISTS alerts_open ON alerts(state) WHERE state != 'closed'",
    # at most one open alert per (rule, device): the database enforces it too
    "CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts(rule, site, device_id)"
    " WHERE state != 'closed'",
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL, at INTEGER NOT NULL,"
    " action TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL, by TEXT, note TEXT)",
    "CREATE INDEX IF NOT EXISTS audit_alert ON audit(alert_id)",
    "CREATE TABLE IF NOT EXISTS event_log ("
    " site TEXT NOT NULL, device_id TEXT NOT NULL, key TEXT NOT NULL, ts_ms INTEGER NOT NULL,"
    " event TEXT NOT NULL, received_ms INTEGER NOT NULL,"
    " PRIMARY KEY (site, device_id, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS event_log_received ON event_log(received_ms)",
    "CREATE TABLE IF NOT EXISTS device_state ("
    " site TEXT NOT NULL, device_id TEXT NOT NULL, last_seen_ms INTEGER, online INTEGER,"
    " due_ms INTEGER, PRIMARY KEY (site, device_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS device_state_due ON device_state(due_ms) WHERE due_ms IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS pending ("
    " rule TEXT NOT NULL, site TEXT NOT NULL, device_id TEXT NOT NULL, since_ms INTEGER NOT NULL,"
    " due_ms INTEGER NOT NULL, value TEXT, PRIMARY KEY (rule, site, device_id)) WITHOUT ROWID",
]

COLUMNS = (
    "id, site, device_id, rule, severity, state, latched, raised_at, last_at, occurrences,"
    " value, condition_cleared_at, acknowledged_at, acknowledged_by, cleared_at, closed_by, note"
)


def create_schema(conn: sqlite3.Connection) -> None:
    for stmt in SCHEMA:
        conn.execute(stmt)


def row_to_alert(row: tuple[Any, ...]) -> Alert:
    return Alert(
        id=row[0],
        site=row[1],
        device_id=row[2],
        rule=row[3],
        severity=Severity(row[4]),
        state=AlertState(row[5]),
        latched=bool(row[6]),
        raised_at=row[7],
        last_at=row[8],
        occurrences=row[9],
        value=row[10],
        condition_cleared_at=row[11],
        acknowledged_at=row[12],
        acknowledged_by=row[13],
        cleared_at=row[14],
        closed_by=row[15],
        note=row[16],
    )


def load_open(conn: sqlite3.Connection) -> list[Alert]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM alerts WHERE state != 'closed'").fetchall()
    return [row_to_alert(r) for r in rows]


def insert(conn: sqlite3.Connection, a: Alert) -> int:
    cur = conn.execute(
        "INSERT INTO alerts(site, device_id, rule, severity, state, latched, raised_at, last_at,"
        " occurrences, value) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            a.site,
            a.device_id,
            a.rule,
            a.severity.value,
            a.state.value,
            int(a.latched),
            a.raised_at,
            a.last_at,
            a.occurrences,
            a.value,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def update(conn: sqlite3.Connection, a: Alert) -> None:
    conn.execute(
        "UPDATE alerts SET severity=?, state=?, last_at=?, occurrences=?, value=?,"
        " condition_cleared_at=?, acknowledged_at=?, acknowledged_by=?, cleared_at=?,"
        " closed_by=?, note=? WHERE id=?",
        (
            a.severity.value,
            a.state.value,
            a.last_at,
            a.occurrences,
            a.value,
            a.condition_cleared_at,
            a.acknowledged_at,
            a.acknowledged_by,
            a.cleared_at,
            a.closed_by,
            a.note,
            a.id,
        ),
    )


def audit(
    conn: sqlite3.Connection,
    alert_id: int,
    at: int,
    action: str,
    from_state: str | None,
    to_state: str,
    by: str | None,
    note: str | None,
) -> None:
    conn.execute(
        "INSERT INTO audit(alert_id, at, action, from_state, to_state, by, note)"
        " VALUES (?,?,?,?,?,?,?)",
        (alert_id, at, action, from_state, to_state, by, note),
    )


class AlertReader:
    """Read side for the API: its own read-only connection per call."""

    def __init__(self, connect: Any) -> None:
        self._connect = connect

    def find(self, state: str = "open", limit: int = 500) -> list[Alert]:
        where = {"open": "state != 'closed'", "closed": "state = 'closed'", "all": "1=1"}[state]
        conn = self._connect()
        try:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM alerts WHERE {where} ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        finally:
            conn.close()
        return [row_to_alert(r) for r in rows]

    def get(self, alert_id: int) -> Alert | None:
        conn = self._connect()
        try:
            row = conn.execute(f"SELECT {COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        finally:
            conn.close()
        return row_to_alert(row) if row else None

    def audit(self, alert_id: int) -> list[dict[str, Any]]:
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT at, action, from_state, to_state, by, note FROM audit WHERE alert_id = ?"
                " ORDER BY id",
                (alert_id,),
            ).fetchall()
        finally:
            conn.close()
        keys = ("at", "action", "from_state", "to_state", "by", "note")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def device_states(self) -> dict[tuple[str, str], tuple[int | None, int | None]]:
        conn = self._connect()
        try:
            rows = conn.execute("SELECT site, device_id, last_seen_ms, online FROM device_state")
            return {(s, d): (seen, online) for s, d, seen, online in rows}
        finally:
            conn.close()
