"""Sends the spool to InfluxDB in batches; InfluxDB down means the spool grows, nothing lost."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from devices.ports import Clock, DeferredWrites, Writer
from ingest.influx import LineWriter, StoreError
from ingest.lineproto import TagLookup, to_lines
from ingest.sqlite import connect

log = logging.getLogger("carewatch.ingest.drain")


class SpoolDrainer:
    """Sends the spool to InfluxDB in batches on its own thread and connection, then deletes the
    rows sent; the store down means backoff and a growing spool."""

    def __init__(
        self,
        db_path: Path,
        writer: LineWriter,
        tags_of: TagLookup,
        clock: Clock,
        metrics: CollectorRegistry,
        batch_size: int = 5000,
        max_backoff_s: float = 30.0,
        write: Writer | None = None,
        gather_s: float = 0.1,
    ) -> None:
        """`gather_s`: after a write of less than a full batch, rows gather this long before
        the next one: one write of many points, not one per engine commit (at 10,000 msg/s
        a commit every few ms made a write of a few dozen points each, about 6% of the
        interpreter's time in httpx and as much again in influxd). Points reach InfluxDB
        that much later; alerts and the screen do not wait for them."""
        self._db_path = db_path
        self._gather_s = gather_s
        # with `write`, the engine deletes the sent rows in its next transaction (no wait
        # for the write lock, no commit of our own); they are skipped until then
        self._deletes = DeferredWrites(write)
        self._writer = writer
        self._tags_of = tags_of
        self._clock = clock
        self._batch = batch_size
        self._max_backoff = max_backoff_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failing_since_ms: int | None = None
        self.last_error: str | None = None
        self._written = Counter(
            "carewatch_store_points_written", "Points written to InfluxDB", registry=metrics
        )
        self._refused = Counter(
            "carewatch_store_points_refused",
            "Points InfluxDB refused as invalid (logged)",
            registry=metrics,
        )
        self._failures = Counter(
            "carewatch_store_write_failures", "Failed InfluxDB write attempts", registry=metrics
        )
        self._up = Gauge("carewatch_store_up", "1 while InfluxDB accepts writes", registry=metrics)

    def wake(self) -> None:
        """Drain now (the runner's after-commit hook), not at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Start the drainer's thread (a daemon); it opens its own connection."""
        self._thread = threading.Thread(target=self._run, name="spool-drainer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop and wait up to `timeout_s`; what is not sent stays in the spool
        for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout_s)

    def healthy(self) -> bool:
        """False while InfluxDB writes fail or the thread died (readiness and the watchdog's
        `store`)."""
        alive = self._thread is None or self._thread.is_alive()
        return alive and self.failing_since_ms is None

    def drain_once(self, conn: sqlite3.Connection) -> int:
        """Send one batch; returns how many spool rows it settled (0 = spool empty)."""
        after = self._deletes.skip_through()
        rows = conn.execute(
            "SELECT id, ts_ms, site, device_id, device_type, kind, data FROM points"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (after, self._batch),
        ).fetchall()
        if not rows:
            return 0
        lines = to_lines(rows, self._tags_of)
        if lines:
            self._write(lines)
        first, last = rows[0][0], rows[-1][0]

        def delete(c: sqlite3.Connection) -> None:
            # exactly the rows sent: ids are reused once the table has been empty, so
            # "id <= last" could take rows that came in since, under a reused id
            c.execute("DELETE FROM points WHERE id BETWEEN ? AND ?", (first, last))

        self._deletes.hand_over(conn, last, delete)
        return len(rows)

    def _write(self, lines: list[str]) -> None:
        """Write; when InfluxDB refuses the request as invalid, split it so that only the
        refused lines are dropped (InfluxDB 2.x refuses a whole request on one bad line)."""
        try:
            self._writer.write(lines)
        except StoreError as exc:
            if exc.retry:
                raise
            if len(lines) == 1:
                self._refused.inc()
                log.error("influx refused a point", extra={"error": str(exc)[:200]})
                return
            mid = len(lines) // 2
            self._write(lines[:mid])
            self._write(lines[mid:])
        else:
            self._written.inc(len(lines))

    def _run(self) -> None:
        conn = connect(self._db_path)
        backoff = 0.5
        try:
            while not self._stop.is_set():
                try:
                    settled = self.drain_once(conn)
                except StoreError as exc:
                    self._failures.inc()
                    self._up.set(0)
                    if self.failing_since_ms is None:
                        self.failing_since_ms = self._clock.now_ms()
                        log.warning("influx write failing; spooling", extra={"error": str(exc)})
                    self.last_error = str(exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                except Exception as exc:  # never die silently: say so and retry
                    if self.failing_since_ms is None:
                        self.failing_since_ms = self._clock.now_ms()
                    self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                    self._up.set(0)
                    log.exception("spool drain failed")
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                if self.failing_since_ms is not None:
                    log.info("influx writes recovered")
                self.failing_since_ms = None
                self.last_error = None
                self._up.set(1)
                backoff = 0.5
                if settled == 0:
                    self._wake.wait(1.0)
                    self._wake.clear()
                elif settled < self._batch:
                    self._stop.wait(self._gather_s)
        finally:
            conn.close()
