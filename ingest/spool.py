"""The durable spool: accepted messages as rows in SQLite, written in the engine's transaction.

With InfluxDB configured, the drainer sends the rows in batches and deletes what was
written; without it, the same table kept for a retention window is the embedded store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from devices.model import AlertTransition, DeviceEvent, DeviceStatus, Reading
from devices.ports import BatchItem, Point, Series
from devices.sqlrows import inserting

KIND_TELEMETRY, KIND_EVENT, KIND_STATUS, KIND_ALERT = 0, 1, 2, 3
# one statement for the batch's rows (devices/sqlrows.py says why)
_INSERT = inserting("INSERT INTO points(ts_ms, site, device_id, device_type, kind, data)", 6)


def _alert_data(t: AlertTransition) -> str:
    data: dict[str, object] = {
        "alert_id": t.alert_id,
        "rule": t.rule,
        "severity": t.severity,
        "priority": t.priority,
        "action": t.action,
        "state": t.state,
        "occurrences": t.occurrences,
    }
    for k, v in (("floor", t.floor), ("room", t.room), ("value", t.value)):
        if v is not None:
            data[k] = v
    return orjson.dumps(data).decode()


class Spool:
    """BatchSink for accepted readings, events, status changes and alert transitions
    (kind KIND_ALERT; device_type is empty, the subject is in device_id)."""

    def __init__(self, embedded: bool) -> None:
        self.embedded = embedded

    def create_schema(self, conn: sqlite3.Connection) -> None:
        """Create the spool table if missing, with the per-device index when it is the embedded
        store (BatchSink)."""
        conn.execute(
            "CREATE TABLE IF NOT EXISTS points ("
            " id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, site TEXT NOT NULL,"
            " device_id TEXT NOT NULL, device_type TEXT NOT NULL, kind INTEGER NOT NULL,"
            " data TEXT NOT NULL)"
        )
        if self.embedded:
            conn.execute("CREATE INDEX IF NOT EXISTS points_device_ts ON points(device_id, ts_ms)")

    def write(self, conn: sqlite3.Connection, items: Sequence[BatchItem]) -> None:
        """Store the batch's readings, events, status changes and alert transitions as rows
        (BatchSink); rejections are not its business, readings with no field are skipped."""
        rows = []
        for m in items:
            if isinstance(m, Reading):
                if m.fields:
                    rows.append(
                        (
                            m.ts_ms,
                            m.site,
                            m.device_id,
                            m.device_type,
                            KIND_TELEMETRY,
                            orjson.dumps(m.fields).decode(),
                        )
                    )
            elif isinstance(m, DeviceEvent):
                data = {**m.attrs, "event": m.event, "key": m.key}
                rows.append(
                    (
                        m.ts_ms,
                        m.site,
                        m.device_id,
                        m.device_type,
                        KIND_EVENT,
                        orjson.dumps(data).decode(),
                    )
                )
            elif isinstance(m, DeviceStatus):
                rows.append(
                    (
                        m.ts_ms,
                        m.site,
                        m.device_id,
                        m.device_type,
                        KIND_STATUS,
                        orjson.dumps({"online": m.online}).decode(),
                    )
                )
            elif isinstance(m, AlertTransition):
                rows.append((m.at_ms, m.site, m.device_id, "", KIND_ALERT, _alert_data(m)))
        _INSERT.run(conn, rows)

    # --- embedded store ---------------------------------------------------------------

    @staticmethod
    def backlog(conn: sqlite3.Connection) -> int:
        """How many rows the spool holds: with InfluxDB, the rows not yet sent."""
        row = conn.execute("SELECT count(*) FROM points").fetchone()
        return int(row[0])

    @staticmethod
    def prune(conn: sqlite3.Connection, older_than_ms: int, limit: int = -1) -> int:
        """Delete rows older than `older_than_ms` (epoch ms), at most `limit` (-1: all): the
        embedded store's retention; returns how many went."""
        cur = conn.execute(
            "DELETE FROM points WHERE rowid IN (SELECT rowid FROM points WHERE ts_ms < ? LIMIT ?)",
            (older_than_ms, limit),
        )
        return cur.rowcount


class EmbeddedReadings:
    """ReadingsQuery over the spool table (no InfluxDB configured)."""

    def __init__(self, db_path: str) -> None:
        self._db_path = db_path

    def readings(self, q: Series) -> list[Point]:
        """ReadingsQuery over the spool's telemetry rows, on its own read-only connection: oldest
        first, at most `q.limit`."""
        conn = sqlite3.connect(f"file:{self._db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT ts_ms, v FROM (SELECT ts_ms, json_extract(data, ?) AS v FROM points"
                " WHERE device_id = ? AND site = ? AND kind = ? AND ts_ms BETWEEN ? AND ?)"
                " WHERE v IS NOT NULL ORDER BY ts_ms LIMIT ?",
                (
                    '$."' + q.field + '"',
                    q.device_id,
                    q.site,
                    KIND_TELEMETRY,
                    q.since_ms,
                    q.until_ms,
                    q.limit,
                ),
            ).fetchall()
        finally:
            conn.close()
        return [Point(ts, v) for ts, v in rows]

    def healthy(self) -> bool:
        """ReadingsQuery: always True (the file is local)."""
        return True
