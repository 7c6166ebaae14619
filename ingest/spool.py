"""The durable spool: accepted messages as rows in SQLite, written in the engine's transaction.

With InfluxDB configured, the drainer sends the rows in batches and deletes what was
written; without it, the same table kept for a retention window is the embedded store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from devices.model import Decoded, DeviceEvent, DeviceStatus, Reading
from devices.ports import Point, Series

KIND_TELEMETRY, KIND_EVENT, KIND_STATUS = 0, 1, 2


class Spool:
    """BatchSink for accepted readings, events and status changes."""

    def __init__(self, embedded: bool) -> None:
        self.embedded = embedded

    def create_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS points ("
            " id INTEGER PRIMARY KEY, ts_ms INTEGER NOT NULL, site TEXT NOT NULL,"
            " device_id TEXT NOT NULL, device_type TEXT NOT NULL, kind INTEGER NOT NULL,"
            " data TEXT NOT NULL)"
        )
        if self.embedded:
            conn.execute("CREATE INDEX IF NOT EXISTS points_device_ts ON points(device_id, ts_ms)")

    def write(self, conn: sqlite3.Connection, items: Sequence[Decoded]) -> None:
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
        if rows:
            conn.executemany(
                "INSERT INTO points(ts_ms, site, device_id, device_type, kind, data)"
                " VALUES (?,?,?,?,?,?)",
                rows,
            )

    # --- embedded store ---------------------------------------------------------------

    @staticmethod
    def backlog(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT count(*) FROM points").fetchone()
        return int(row[0])

    @staticmethod
    def prune(conn: sqlite3.Connection, older_than_ms: int) -> int:
        cur = conn.execute("DELETE FROM points WHERE ts_ms < ?", (older_than_ms,))
        return cur.rowcount


class EmbeddedReadings:
    """ReadingsQuery over the spool table (no InfluxDB configured)."""

    def __init__(self, db_path: str) -> None:
        self._db_path = db_path

    def readings(self, q: Series) -> list[Point]:
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
        return True
