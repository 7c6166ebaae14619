"""Delivering the outbox: one worker per target, oldest row first, retried with
exponential backoff and jitter until delivered or past the target's horizon.

The stages: route (outbox.py, in the engine's transaction) -> dedup (each row's key is
unique and travels as Idempotency-Key, so a retry after a lost answer is recognisable)
-> retry (here) -> deliver (a Sender: webhook, MQTT alert topic, log). A target's rows go
out strictly in order, so the messages about one alert arrive in order too.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any, Protocol

import httpx
import orjson
from prometheus_client import CollectorRegistry, Counter

from alerting.formats import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, Notice, sign, to_cap, to_json
from devices.ports import Clock, Writer

log = logging.getLogger("carewatch.alerting.delivery")


BASE_BACKOFF_MS = 500
MAX_BACKOFF_MS = 60_000


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    key: str
    target: str
    alert_id: int
    seq: int
    action: str
    msg_type: str
    created_ms: int
    first_ms: int
    note: str | None
    alert: Mapping[str, Any]
    attempts: int


class DeliveryError(Exception):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Sender(Protocol):
    def send(self, row: OutboxRow) -> int:
        """Deliver one notification; the receiver's status (0 if none). Raises
        DeliveryError (or any exception) when it did not arrive."""
        ...


def category(alert: Mapping[str, Any]) -> str:
    if alert.get("fire") or alert.get("device_type") in ("smoke_detector", "call_point"):
        return "Fire"
    if alert.get("priority") == "trouble":
        return "Infra"
    if alert.get("device_type") in ("wearable", "call_button"):
        return "Health"
    return "Safety"


def reference(key: str) -> str:
    """The same for every message about one alert: the key without target and seq."""
    return "carewatch:" + key.rsplit(":", 2)[0]


def notice(row: OutboxRow, site: Mapping[str, Any]) -> Notice:
    return Notice(
        key=row.key,
        reference=reference(row.key),
        seq=row.seq,
        msg_type=row.msg_type,  # type: ignore[arg-type]
        action=row.action,
        target=row.target,
        sent_ms=row.created_ms,
        first_sent_ms=row.first_ms,
        alert=row.alert,
        site=site,
        note=row.note,
        category=category(row.alert),  # type: ignore[arg-type]
    )


class WebhookSender:
    """POST of versioned JSON or CAP 1.2, signed (HMAC-SHA256) with an Idempotency-Key."""

    def __init__(
        self,
        url: str,
        fmt: str,
        secret: bytes,
        site: Mapping[str, Any],
        sender_id: str,
        timeout_s: float = 5.0,
        client: httpx.Client | None = None,
        tz: tzinfo = UTC,
    ) -> None:
        self._tz = tz
        self._url = url
        self._fmt = fmt
        self._secret = secret
        self._site = site
        self._sender_id = sender_id
        self._client = client or httpx.Client(timeout=timeout_s)

    def send(self, row: OutboxRow) -> int:
        n = notice(row, self._site)
        if self._fmt == "cap":
            body, ctype = (
                to_cap(n, self._sender_id, tz=self._tz),
                "application/cap+xml; charset=utf-8",
            )
        else:
            body, ctype = to_json(n), "application/json"
        try:
            r = self._client.post(
                self._url,
                content=body,
                headers={
                    "Content-Type": ctype,
                    SIGNATURE_HEADER: sign(body, self._secret),
                    IDEMPOTENCY_HEADER: row.key,
                    "User-Agent": "CareWatch/1",
                },
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}"[:300]) from exc
        if not 200 <= r.status_code < 300:
            raise DeliveryError(f"HTTP {r.status_code}", r.status_code)
        return r.status_code

    def close(self) -> None:
        self._client.close()


class LogSender:
    """A target without delivery: logged (ids only, never a resident's name)."""

    def send(self, row: OutboxRow) -> int:
        log.info(
            "notification",
            extra={"target": row.target, "key": row.key, "action": row.action},
        )
        return 0


def backoff_ms(attempts: int, rng: random.Random) -> int:
    """Exponential with full-ish jitter: 0.5 s, 1 s, 2 s ... capped at 60 s, times 0.5-1."""
    raw = min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** max(0, attempts - 1))
    return int(raw * rng.uniform(0.5, 1.0))


def _row(r: tuple[Any, ...]) -> OutboxRow:
    return OutboxRow(
        id=r[0],
        key=r[1],
        target=r[2],
        alert_id=r[3],
        seq=r[4],
        action=r[5],
        msg_type=r[6],
        created_ms=r[7],
        first_ms=r[8],
        note=r[9],
        alert=orjson.loads(r[10]),
        attempts=r[11],
    )


def delivery_counter(metrics: CollectorRegistry) -> Counter:
    """carewatch_notifications_total{target, outcome}: one for all workers."""
    return Counter(
        "carewatch_notifications",
        "Notification delivery attempts by target and outcome",
        ["target", "outcome"],
        registry=metrics,
    )


class DeliveryWorker:
    def __init__(
        self,
        target: str,
        sender: Sender,
        connect: Callable[[], sqlite3.Connection],
        clock: Clock,
        horizon_s: float,
        counter: Counter | None = None,
        rng: random.Random | None = None,
        write: Writer | None = None,
    ) -> None:
        self.target = target
        # with `write`, a delivered row is marked by the engine in its next transaction
        # and this worker goes on at once, skipping rows up to `_sent` until that commit
        self._write_via = write
        self._sent = 0
        self._marked: Future[Any] | None = None
        self._sender = sender
        self._connect = connect
        self._clock = clock
        self._horizon_ms = int(horizon_s * 1000)
        self._rng = rng or random.Random()  # noqa: S311 - retry jitter, not a secret
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._m = counter

    # one step (tests drive this directly with a fake clock) ---------------------------

    def deliver_once(self, conn: sqlite3.Connection) -> int | None:
        """Try the target's oldest pending row if it is due. Returns None when nothing
        is pending, else the ms until this worker should look again (0 = at once)."""
        if self._marked is not None and self._marked.done():
            self._marked = None  # committed (or failed: then the row is sent again)
        after = self._sent if self._marked is not None else 0
        r = conn.execute(
            "SELECT id, key, target, alert_id, seq, action, msg_type, created_ms, first_ms,"
            " note, alert, attempts, next_ms FROM outbox WHERE target = ? AND state = 'pending'"
            " AND id > ? ORDER BY id LIMIT 1",
            (self.target, after),
        ).fetchone()
        if r is None:
            return None
        now = self._clock.now_ms()
        # later than any backoff can put it: the wall clock went back; do not wait it out
        if now < r[12] <= now + MAX_BACKOFF_MS:
            return int(r[12]) - now
        row = _row(r)
        try:
            status: int | None = self._sender.send(row)
        except Exception as exc:
            now = self._clock.now_ms()
            status = exc.status if isinstance(exc, DeliveryError) else None
            error = str(exc)[:300] or type(exc).__name__
            if now - row.created_ms >= self._horizon_ms:
                conn.execute(
                    "UPDATE outbox SET state = 'failed', attempts = attempts + 1,"
                    " last_status = ?, last_error = ? WHERE id = ?",
                    (status, error, row.id),
                )
                log.error(
                    "notification given up",
                    extra={"target": self.target, "key": row.key, "error": error},
                )
                self._count("failed")
                return 0
            wait = backoff_ms(row.attempts + 1, self._rng)
            conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_ms = ?, last_status = ?,"
                " last_error = ? WHERE id = ?",
                (now + wait, status, error, row.id),
            )
            log.warning(
                "notification not delivered; will retry",
                extra={"target": self.target, "key": row.key, "error": error, "retry_ms": wait},
            )
            self._count("retry")
            return wait
        mark = (
            "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_ms = ?,"
            " last_status = ?, last_error = NULL WHERE id = ?"
        )
        args = (self._clock.now_ms(), status, row.id)

        def apply(c: sqlite3.Connection) -> None:
            c.execute(mark, args)

        if self._write_via is None:
            apply(conn)
        else:
            self._sent = row.id
            self._marked = self._write_via(apply)
        self._count("delivered")
        return 0

    def _count(self, outcome: str) -> None:
        if self._m is not None:
            self._m.labels(self.target, outcome).inc()

    # the thread -------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"deliver-{self.target}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout_s)

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while not self._stop.is_set():
                try:
                    wait_ms = self.deliver_once(conn)
                except sqlite3.Error:
                    log.exception("outbox unreadable", extra={"target": self.target})
                    wait_ms = 1000
                if wait_ms == 0:
                    continue
                self._wake.wait(1.0 if wait_ms is None else min(wait_ms / 1000, 1.0))
                self._wake.clear()
        finally:
            conn.close()
