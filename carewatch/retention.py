"""The daily retention job: each kind of data kept as long as `Settings.retention` says,
then deleted; InfluxDB's own retention set from the same settings at start.

Deletes go through the engine's queue (`EngineRunner.write`) in chunks of CHUNK rows, each
its own short transaction between the engine's batches: a year of closed alerts deleted at
once would hold SQLite's write lock for seconds, and an alarm would wait behind it. Open
alerts and notifications still owed are never deleted, whatever their age (the prune
functions of their modules say so).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alerting import outbox, store
from carewatch.settings import Retention, Settings
from devices.ports import Writer
from ingest.deadletter import prune_dead_letters
from ingest.influx import InfluxV1, StoreError, set_bucket_retention
from ingest.spool import Spool

log = logging.getLogger("carewatch.retention")

DAY_MS = 86_400_000
CHUNK = 5_000  # rows per transaction
Prune = Callable[[sqlite3.Connection, int, int], int]  # (conn, before_ms, limit) -> deleted


@dataclass
class RetentionJob:
    """Deletes what is past its time, kind by kind; `run` returns what went, by kind."""

    write: Writer
    settings: Retention
    now_ms: Callable[[], int]
    reports_dir: Path | None = None
    embedded: bool = False  # the spool is the store: its readings age out too
    timeout_s: float = 60.0
    last: dict[str, int] = field(default_factory=dict)

    def kinds(self) -> list[tuple[str, int, Prune]]:
        """(name, days, prune) of every kind the database keeps."""
        r = self.settings
        out: list[tuple[str, int, Prune]] = [
            ("alerts", r.alerts_days, store.prune_closed),
            ("maintenance_log", r.alerts_days, store.prune_device_log),
            ("events", r.events_days, store.prune_event_log),
            ("dead_letters", r.dead_letters_days, prune_dead_letters),
            ("outbox", r.outbox_days, outbox.prune_settled),
        ]
        if self.embedded:
            out.append(("readings", r.spool_days, Spool.prune))
        return out

    def run(self) -> dict[str, int]:
        """One pass over every kind; a kind that fails is logged and the others go on."""
        now = self.now_ms()
        done: dict[str, int] = {}
        for name, days, prune in self.kinds():
            try:
                done[name] = self._prune(prune, now - days * DAY_MS)
            except (sqlite3.Error, TimeoutError) as exc:
                log.error("retention failed", extra={"kind": name, "error": str(exc)})
        if self.reports_dir is not None:
            cutoff = now - self.settings.reports_days * DAY_MS
            done["report_files"] = prune_files(self.reports_dir, cutoff)
        self.last = done
        log.info("retention done", extra={"deleted": done})
        return done

    def _prune(self, prune: Prune, before_ms: int) -> int:
        total = 0
        while True:
            counted: list[int] = []

            def apply(conn: sqlite3.Connection, counted: list[int] = counted) -> None:
                counted.append(prune(conn, before_ms, CHUNK))

            result = self.write(apply).result(self.timeout_s)
            if not result.ok:
                raise sqlite3.OperationalError(f"engine could not commit: {result.error}")
            n = counted[0] if counted else 0
            total += n
            if n < CHUNK:
                return total


def prune_files(folder: Path, before_ms: int) -> int:
    """Delete files under `folder` last written before `before_ms` (the daily reports)."""
    if not folder.is_dir():
        return 0
    gone = 0
    for p in folder.rglob("*"):
        if p.is_file() and p.stat().st_mtime * 1000 < before_ms:
            p.unlink(missing_ok=True)
            gone += 1
    return gone


def set_influx_retention(s: Settings, influx: InfluxV1 | None) -> None:
    """InfluxDB keeps readings `retention.readings_days`: the default retention policy
    (1.x) or the bucket's expire rule (2.x). A refusal is logged, never fatal: the watch
    runs on; the operator sets it by hand (docs/operations.md)."""
    days = s.retention.readings_days
    try:
        if s.influx_url and s.influx_api == "v2":
            token = s.influx_token.get_secret_value() if s.influx_token else None
            set_bucket_retention(s.influx_url, s.influx_org, s.influx_db, token, days)
        elif influx is not None:
            influx.set_retention(days)
    except StoreError as exc:
        log.warning("influx retention not set", extra={"days": days, "error": str(exc)})
        return
    if s.influx_url:
        log.info("influx retention set", extra={"days": days})
