"""The delivery worker: one per target, oldest row first, retried with exponential backoff
and jitter until delivered or past the target's horizon.

One turn is a chain of small steps (Alertmanager's notify pipeline is the model: the
notifiers only say done or retry later, the retry stage is written once, here):

    pick_due -> send -> Sent                       -> mark delivered
                     -> NotSent, within the horizon -> back off (Retry: later, with jitter)
                     -> NotSent, past the horizon   -> give up (GiveUp: `failed`, logged)

- `pick_due`: the target's oldest pending row, if its time has come;
- `send`: the Sender's one try; whatever it raises is "not sent", with status and error;
- `RetryPolicy.after_failure`: back off or give up;
- the outbox writes are alerting/outbox.py's; the delivered mark goes to the engine's next
  transaction (`DeferredWrites`), so the worker never waits for the write lock.

A target's rows go out strictly in order, so the messages about one alert arrive in order.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from alerting import outbox
from alerting.notify.sender import DeliveryError, Sender
from alerting.outbox import OutboxRow
from devices.ports import Clock, DeferredWrites, Writer

log = logging.getLogger("carewatch.alerting.delivery")

BASE_BACKOFF_MS = 500
MAX_BACKOFF_MS = 60_000


# ------------------------------------------------------------------ the steps


@dataclass(frozen=True, slots=True)
class NotYet:
    """The oldest pending row is backing off: look again in `wait_ms`."""

    wait_ms: int


def pick_due(
    conn: sqlite3.Connection,
    target: str,
    after_id: int,
    now_ms: int,
    scope: outbox.Scope | None = None,
) -> OutboxRow | NotYet | None:
    """The target's oldest pending row above `after_id` if it is due; NotYet while it backs
    off; None when nothing is pending. Rows go strictly in order: a later row never
    overtakes one backing off."""
    row = outbox.next_pending(conn, target, after_id, scope)
    if row is None:
        return None
    # later than any backoff can put it: the wall clock went back; do not wait it out
    if now_ms < row.next_ms <= now_ms + MAX_BACKOFF_MS:
        return NotYet(row.next_ms - now_ms)
    return row


@dataclass(frozen=True, slots=True)
class Sent:
    """A try that arrived: the receiver's status, if it gave one."""

    status: int | None


@dataclass(frozen=True, slots=True)
class NotSent:
    """A try that did not arrive: the receiver's status, if any, and the error text (at most 300
    characters) kept on the outbox row."""

    status: int | None
    error: str


def send(sender: Sender, row: OutboxRow) -> Sent | NotSent:
    """One try. A notifier says "retry later" by raising; no exception gets past here."""
    try:
        return Sent(sender.send(row))
    except Exception as exc:
        status = exc.status if isinstance(exc, DeliveryError) else None
        return NotSent(status, str(exc)[:300] or type(exc).__name__)


def backoff_ms(attempts: int, rng: random.Random) -> int:
    """Exponential with full-ish jitter: 0.5 s, 1 s, 2 s ... capped at 60 s, times 0.5-1."""
    raw = min(MAX_BACKOFF_MS, BASE_BACKOFF_MS * 2 ** max(0, attempts - 1))
    return int(raw * rng.uniform(0.5, 1.0))


@dataclass(frozen=True, slots=True)
class Retry:
    """Back off: try again at `at_ms` (epoch ms), `wait_ms` from now."""

    at_ms: int
    wait_ms: int


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The row is older than the target's horizon: mark it failed, no more tries."""

    pass


class RetryPolicy:
    """After a failed try: back off with jitter, or give up once the row is older than the
    target's horizon. The one retry policy of every target."""

    def __init__(self, horizon_ms: int, rng: random.Random) -> None:
        self.horizon_ms = horizon_ms
        self._rng = rng

    def after_failure(self, row: OutboxRow, now_ms: int) -> Retry | GiveUp:
        """Give up once the row was created a horizon ago or more; else back off by its attempts so
        far, with jitter."""
        if now_ms - row.created_ms >= self.horizon_ms:
            return GiveUp()
        wait = backoff_ms(row.attempts + 1, self._rng)
        return Retry(now_ms + wait, wait)


def delivery_counter(metrics: CollectorRegistry) -> Counter:
    """carewatch_notifications_total{target, outcome}: one for all workers."""
    return Counter(
        "carewatch_notifications",
        "Notification delivery attempts by target and outcome",
        ["target", "outcome"],
        registry=metrics,
    )


# ------------------------------------------------------------------ the worker


class DeliveryWorker:
    """Delivers one target's outbox rows, oldest first, on its own thread and connection; delivered
    marks go to the engine's next transaction when `write` is given."""

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
        scope: outbox.Scope | None = None,
    ) -> None:
        self.target = target
        self.scope = scope  # the sites whose rows it takes (their rules name these targets)
        self._sender = sender
        self._connect = connect
        self._clock = clock
        # retry jitter, not a secret
        self._policy = RetryPolicy(int(horizon_s * 1000), rng or random.Random())  # noqa: S311
        # with `write`, a delivered row is marked by the engine in its next transaction;
        # the worker goes on at once, past the rows whose mark awaits that commit
        self._marks = DeferredWrites(write)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._m = counter

    # one turn (tests drive this directly with a fake clock) ---------------------------

    def deliver_once(self, conn: sqlite3.Connection) -> int | None:
        """Try the target's oldest pending row if it is due. Returns None when nothing
        is pending, else the ms until this worker should look again (0 = at once)."""
        picked = pick_due(
            conn, self.target, self._marks.skip_through(), self._clock.now_ms(), self.scope
        )
        if not isinstance(picked, OutboxRow):
            return None if picked is None else picked.wait_ms
        result = send(self._sender, picked)
        now = self._clock.now_ms()
        if isinstance(result, Sent):
            self._mark_delivered(conn, picked, now, result.status)
            return 0
        step = self._policy.after_failure(picked, now)
        if isinstance(step, GiveUp):
            self._give_up(conn, picked, result)
            return 0
        self._back_off(conn, picked, result, step)
        return step.wait_ms

    def _mark_delivered(
        self, conn: sqlite3.Connection, row: OutboxRow, now: int, status: int | None
    ) -> None:
        def mark(c: sqlite3.Connection) -> None:
            outbox.mark_delivered(c, row.id, now, status)

        self._marks.hand_over(conn, row.id, mark)
        self._count("delivered")

    def _back_off(
        self, conn: sqlite3.Connection, row: OutboxRow, failed: NotSent, retry: Retry
    ) -> None:
        outbox.mark_retry(conn, row.id, retry.at_ms, failed.status, failed.error)
        log.warning(
            "notification not delivered; will retry",
            extra={
                "target": self.target,
                "key": row.key,
                "error": failed.error,
                "retry_ms": retry.wait_ms,
            },
        )
        self._count("retry")

    def _give_up(self, conn: sqlite3.Connection, row: OutboxRow, failed: NotSent) -> None:
        outbox.mark_failed(conn, row.id, failed.status, failed.error)
        log.error(
            "notification given up",
            extra={"target": self.target, "key": row.key, "error": failed.error},
        )
        self._count("failed")

    def _count(self, outcome: str) -> None:
        if self._m is not None:
            self._m.labels(self.target, outcome).inc()

    # the thread -------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for due rows now (the runner's after-commit hook), not at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Start the worker's thread (a daemon); it opens its own connection."""
        self._thread = threading.Thread(
            target=self._run, name=f"deliver-{self.target}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the thread to stop after its current try and wait up to `timeout_s`; a row being sent
        is finished or retried later, never lost."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout_s)

    def alive(self) -> bool:
        """True while the thread runs (readiness)."""
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
