"""The dead-letter log (bounded) and the list of unregistered devices that keep publishing."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from devices.model import Rejection
from devices.ports import BatchItem

PREVIEW_BYTES = 512
# a device inventing ids (spoofing, a bug) must not grow the list the screen shows forever
UNKNOWN_DEVICES_KEPT = 1_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One rejected message as the API shows it: the reason and detail, the topic, the first 512
    bytes of the payload as text and its full size."""

    id: int
    received_ms: int
    reason: str
    detail: str
    topic: str
    payload_preview: str
    payload_bytes: int
    site: str | None
    device_id: str | None


@dataclass(frozen=True, slots=True)
class UnknownDevice:
    """A device id that publishes but is not registered (spoofing, a typo in the site file): when
    first and last heard, how often, on which topic."""

    site: str
    device_id: str
    first_seen_ms: int
    last_seen_ms: int
    messages: int
    last_topic: str


def preview(payload: bytes) -> str:
    """First bytes of a payload as text; bytes that are not UTF-8 shown as \\xNN."""
    return payload[:PREVIEW_BYTES].decode("utf-8", errors="backslashreplace")


class DeadLetterLog:
    """BatchSink for rejections (other items are not its business); keeps the newest
    `capacity` rows."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity

    def create_schema(self, conn: sqlite3.Connection) -> None:
        """Create the dead-letter and unknown-device tables if missing (BatchSink)."""
        conn.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters ("
            " id INTEGER PRIMARY KEY, received_ms INTEGER NOT NULL, reason TEXT NOT NULL,"
            " detail TEXT NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL,"
            " payload_bytes INTEGER NOT NULL, site TEXT, device_id TEXT)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS unknown_devices ("
            " site TEXT NOT NULL, device_id TEXT NOT NULL, first_seen_ms INTEGER NOT NULL,"
            " last_seen_ms INTEGER NOT NULL, messages INTEGER NOT NULL, last_topic TEXT NOT NULL,"
            " PRIMARY KEY (site, device_id)) WITHOUT ROWID"
        )

    def write(self, conn: sqlite3.Connection, items: Sequence[BatchItem]) -> None:
        """Store the batch's rejections and count unregistered devices (BatchSink); trimmed to
        `capacity` rows about every 500."""
        rejected = [m for m in items if isinstance(m, Rejection)]
        if not rejected:
            return
        cur = conn.executemany(
            "INSERT INTO dead_letters(received_ms, reason, detail, topic, payload,"
            " payload_bytes, site, device_id) VALUES (?,?,?,?,?,?,?,?)",
            [
                (
                    r.received_ms,
                    r.reason,
                    r.detail,
                    r.topic[:256],
                    preview(r.payload),
                    len(r.payload),
                    r.site,
                    r.device_id,
                )
                for r in rejected
            ],
        )
        del cur
        unknown = [
            r for r in rejected if r.reason == "unregistered_device" and r.site and r.device_id
        ]
        if unknown:
            conn.executemany(
                "INSERT INTO unknown_devices VALUES (?,?,?,?,1,?)"
                " ON CONFLICT(site, device_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms,"
                " messages = messages + 1, last_topic = excluded.last_topic",
                [
                    (r.site, r.device_id, r.received_ms, r.received_ms, r.topic[:256])
                    for r in unknown
                ],
            )
            conn.execute(  # the most recently heard are kept
                "DELETE FROM unknown_devices WHERE (site, device_id) NOT IN (SELECT site,"
                " device_id FROM unknown_devices ORDER BY last_seen_ms DESC LIMIT ?)",
                (UNKNOWN_DEVICES_KEPT,),
            )
        last = conn.execute("SELECT max(id) FROM dead_letters").fetchone()[0]
        if last is not None and last > self.capacity and last % 500 < len(rejected):
            conn.execute("DELETE FROM dead_letters WHERE id <= ?", (last - self.capacity,))

    @staticmethod
    def recent(
        conn: sqlite3.Connection,
        limit: int = 100,
        reason: str | None = None,
        sites: Sequence[str] | None = None,
    ) -> list[DeadLetter]:
        """The newest rejections first, at most `limit`, of one reason and of `sites` if
        given; on the caller's (read) connection."""
        where, args = _sites(sites)
        if reason:
            where.append("reason = ?")
            args.append(reason)
        sql = "SELECT * FROM dead_letters" + (" WHERE " + " AND ".join(where) if where else "")
        rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [DeadLetter(*row) for row in rows]

    @staticmethod
    def unknown_devices(
        conn: sqlite3.Connection, sites: Sequence[str] | None = None
    ) -> list[UnknownDevice]:
        """The unregistered devices (of `sites` if given), most recently heard first (at
        most UNKNOWN_DEVICES_KEPT)."""
        where, args = _sites(sites)
        rows = conn.execute(
            "SELECT * FROM unknown_devices"
            + (" WHERE " + where[0] if where else "")
            + " ORDER BY last_seen_ms DESC LIMIT ?",
            (*args, UNKNOWN_DEVICES_KEPT),
        ).fetchall()
        return [UnknownDevice(*row) for row in rows]


def _sites(sites: Sequence[str] | None) -> tuple[list[str], list[object]]:
    """The WHERE part that keeps rows of `sites` (none: every row) and its arguments."""
    if sites is None:
        return [], []
    return [f"site IN ({','.join('?' * len(sites))})"], list(sites)


def prune_dead_letters(conn: sqlite3.Connection, before_ms: int, limit: int) -> int:
    """Delete up to `limit` dead letters received before `before_ms` (besides the log's
    capacity: an old rejection is no longer worth an installer's look)."""
    return conn.execute(
        "DELETE FROM dead_letters WHERE id IN"
        " (SELECT id FROM dead_letters WHERE received_ms < ? ORDER BY id LIMIT ?)",
        (before_ms, limit),
    ).rowcount
