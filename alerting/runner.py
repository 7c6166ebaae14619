"""The engine's one writer thread: a queue in, group commit, acks and listeners out."""

from __future__ import annotations

import collections
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from prometheus_client import CollectorRegistry, Gauge

from alerting.engine import Engine
from alerting.items import (
    BatchResult,
    Command,
    CommandResult,
    DeviceCommand,
    Health,
    Incoming,
    Item,
    Observed,
    StoreWrite,
)
from alerting.model import Change
from devices.model import BridgeDevices, BridgeState, Decoded, DeviceEvent, Rejection
from devices.ports import Clock

log = logging.getLogger("carewatch.alerting.runner")

Listener = Callable[[list[Change]], None]
_STOP = object()
_WAKE = object()  # an urgent item is waiting


class ClockSteps:
    """Notices a step of the wall clock: the wall and the monotonic clock drift apart by
    more than `threshold_ms` between two looks. Only the service's real clock gets one
    (a test's fake clock moves on purpose)."""

    def __init__(
        self,
        wall: Clock,
        mono_ms: Callable[[], int] = lambda: time.monotonic_ns() // 1_000_000,
        threshold_ms: int = 2_000,
    ) -> None:
        self._wall = wall
        self._mono = mono_ms
        self._threshold = threshold_ms
        self._offset = wall.now_ms() - mono_ms()

    def step_ms(self) -> int:
        """How far the wall clock stepped since the last look (0: it did not)."""
        offset = self._wall.now_ms() - self._mono()
        step = offset - self._offset
        if abs(step) < self._threshold:
            return 0
        self._offset = offset
        return step


class EngineRunner:
    """Feeds the engine from one thread: producers on any thread queue items, and alarms, commands
    and health go ahead of telemetry in a batch of their own. After each commit: hooks, listeners,
    command futures, then the messages' acks, in that order."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        metrics: CollectorRegistry,
        max_batch: int = 500,
        max_wait_s: float = 0.5,
        gather_s: float = 0.004,
        sleep: Callable[[float], None] = time.sleep,
        steps: ClockSteps | None = None,
    ) -> None:
        self._sleep = sleep
        self._steps = steps
        self._engine = engine
        self._clock = clock
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        # device events (alarms), operator commands and health go here and are taken
        # before any queued telemetry, in a batch of their own (docs/performance.md)
        self._urgent: collections.deque[object] = collections.deque()
        self._carry: list[object] = []  # taken from the queue, waiting behind urgent items
        self._wake_lock = threading.Lock()
        self._wakes = 0  # _WAKE tokens in the queue
        self._max_batch = max_batch
        self._max_wait_s = max_wait_s
        self._gather_s = gather_s
        self._listeners: list[Listener] = []
        self._after_commit: list[Callable[[], None]] = []
        self._after_acks: list[Callable[[], None]] = []
        self._thread: threading.Thread | None = None
        self.failing = False
        self.lag_ms = 0  # oldest message of the last batch: receipt to commit
        self.last_batch_ms: int | None = None
        Gauge(
            "carewatch_engine_queue", "Items waiting for the engine", registry=metrics
        ).set_function(self.queue_depth)

    def add_listener(self, listener: Listener) -> None:
        """Called with each batch's committed alert changes on the engine thread, before the acks
        (the screen, MQTT). Keep it quick; its exceptions are logged."""
        self._listeners.append(listener)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Called after every batch that committed messages or alert changes (wake the
        spool drainer, the notification workers)."""
        self._after_commit.append(hook)

    def after_acks(self, hook: Callable[[], None]) -> None:
        """Called after a batch's messages were acked (ingest workers send the acks on)."""
        self._after_acks.append(hook)

    # producers (any thread) ----------------------------------------------------------

    def deliver(self, decoded: Decoded, ack: Callable[[], None] | None) -> None:
        """Queue a decoded message from ingest (any thread); device events and a Zigbee
        gateway's state go ahead of telemetry. `ack` runs only after the batch commits, so
        nothing acked is lost."""
        if isinstance(decoded, DeviceEvent | BridgeState):
            self._put_urgent(Incoming(decoded, ack))
        else:
            self._queue.put(Incoming(decoded, ack))

    def observe(self, health: Health) -> None:
        """The watchdog's observation of a part of the service (system alerts)."""
        self._put_urgent(health)

    def submit(self, command: Command | DeviceCommand | Observed) -> Future[CommandResult]:
        """Queue an operator's command ahead of telemetry. The future resolves after its batch
        commits, with the engine's answer (ok, or why it was refused)."""
        fut: Future[CommandResult] = Future()
        self._put_urgent((command, fut))
        return fut

    def write(self, apply: Callable[[sqlite3.Connection], None]) -> Future[CommandResult]:
        """Have `apply` run in the engine's next transaction; the future resolves after
        the commit (result ok) or with ok=False when it failed."""
        fut: Future[CommandResult] = Future()
        self._put_urgent((StoreWrite(apply), fut))
        return fut

    def _put_urgent(self, item: object) -> None:
        self._urgent.append(item)
        with self._wake_lock:
            self._wakes += 1
        self._queue.put(_WAKE)

    def _took_wake(self) -> None:
        with self._wake_lock:
            self._wakes -= 1

    def queue_depth(self) -> int:
        """Items waiting (the wake-up tokens in the queue are not items)."""
        with self._wake_lock:
            queued = self._queue.qsize() - self._wakes
        return len(self._urgent) + len(self._carry) + max(0, queued)

    def alive(self) -> bool:
        """For readiness: the thread runs and its last batch went through. False while the store
        cannot commit (the batch held un-acked) or after the loop itself failed."""
        return self._thread is not None and self._thread.is_alive() and not self.failing

    # lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the engine thread (a daemon); the caller has run `Engine.setup`."""
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Process what is queued, commit, ack, then stop."""
        self._queue.put(_STOP)
        if self._thread:
            self._thread.join(timeout_s)

    # the loop ------------------------------------------------------------------------

    def _timeout(self) -> float:
        due = self._engine.next_due_ms()
        if due is None:
            return self._max_wait_s
        return min(self._max_wait_s, max(0.0, (due - self._clock.now_ms()) / 1000))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            self._follow_clock()
            try:
                timeout = self._timeout()
            except sqlite3.Error:
                log.exception("cannot read deadlines")
                timeout = self._max_wait_s
            raw = self._take(timeout)
            # again now, right before the batch reads the clock: a step during the wait
            # must move the timers before anything is judged against the new time
            self._follow_clock()
            if any(x is _STOP for x in raw):
                stopping = True
                raw = [x for x in raw if x is not _STOP]
            try:
                self._run_batch(raw)
            except Exception:  # the watch must not stop; the batch stays un-acked
                self.failing = True
                log.exception("engine loop error")

    def _follow_clock(self) -> None:
        """A wall-clock step moves every timer with it (Engine.shift_timers)."""
        if self._steps is None:
            return
        step = self._steps.step_ms()
        if step == 0:
            return
        log.warning("wall clock stepped; timers moved with it", extra={"step_ms": step})
        try:
            self._engine.shift_timers(step)
        except sqlite3.Error:
            log.exception("could not move the timers")

    def _take(self, timeout: float) -> list[object]:
        """The next batch: the urgent items if any (telemetry already taken waits in
        `_carry`), else up to `max_batch` queued items; waits up to `timeout` for one."""
        if not self._carry and not self._urgent:
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                return []
            if first is _WAKE:
                self._took_wake()
            else:
                self._carry.append(first)
        if self._urgent:
            return self._take_urgent()
        raw, self._carry = self._carry, []
        # telemetry waits up to `gather_s` for more to share its commit: at a few thousand
        # messages a second, batches of one or two cost a commit (fsync), wake-ups of the
        # drainer and the notification workers each; an alarm ends the wait at once
        until = time.monotonic() + self._gather_s if raw else 0.0
        while len(raw) < self._max_batch:
            try:
                x = self._queue.get_nowait()
            except queue.Empty:
                left = until - time.monotonic()
                if left <= 0:
                    break
                try:
                    x = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if x is _STOP:
                raw.append(x)
                break
            if x is not _WAKE:
                raw.append(x)
                continue
            self._took_wake()
            if self._urgent:
                # an alarm arrived: it goes first, in a batch of its own, and the
                # telemetry gathered so far waits for the next one (not the alarm for
                # the telemetry's commit, docs/performance.md "Where the time goes")
                self._carry = raw
                return self._take_urgent()
        return raw

    def _take_urgent(self) -> list[object]:
        urgent: list[object] = []
        while self._urgent and len(urgent) < self._max_batch:
            urgent.append(self._urgent.popleft())
        return urgent

    def _run_batch(self, raw: list[object]) -> None:
        items: list[Item] = []
        futures: dict[int, Future[CommandResult]] = {}
        for x in raw:
            if isinstance(x, tuple):
                futures[len(items)] = x[1]
                items.append(x[0])
            else:
                assert isinstance(x, Incoming | Health)
                items.append(x)
        result = self._process_safely(items)
        now = self._clock.now_ms()
        received = [i.decoded.received_ms for i in items if isinstance(i, Incoming)]
        self.lag_ms = now - min(received) if received else 0
        self.last_batch_ms = now
        if result.accepted or result.changes:
            for hook in self._after_commit:
                hook()
        # the screen and the operators first: acking a batch of telemetry takes a while
        if result.changes:
            for listener in self._listeners:
                try:
                    listener(result.changes)
                except Exception:
                    log.exception("alert listener failed")
        for i, fut in futures.items():
            fut.set_result(result.results.get(i, CommandResult(False, "not_found", None)))
        for item in items:
            if isinstance(item, Incoming) and item.ack is not None:
                try:
                    item.ack()
                except Exception:  # not acked = redelivered and recognised later
                    log.exception("ack failed")
        for hook in self._after_acks:
            hook()

    def _process_safely(self, items: list[Item]) -> BatchResult:
        """Commit the batch. The store failing (locked, disk full, I/O) holds the batch
        un-acked and retries it until the store takes it; readiness says so meanwhile.
        Only a message whose own processing raises goes to the dead letters."""
        while True:
            try:
                result = self._engine.process(items)
                self.failing = False
                return result
            except sqlite3.Error:
                self.failing = True
                log.exception("store cannot commit; holding the batch un-acked")
                self._sleep(1.0)
                continue
            except Exception:
                log.exception("batch failed")
            try:  # is the fault in the messages, or in the engine itself?
                self._engine.process([])
            except Exception:
                self.failing = True
                log.exception("engine fails without messages; holding the batch un-acked")
                self._sleep(1.0)
                continue
            break
        merged = BatchResult()
        for idx, item in enumerate(items):
            while True:
                try:
                    r = self._engine.process([item])
                    break
                except sqlite3.Error:
                    self.failing = True
                    log.exception("store cannot commit; holding the message un-acked")
                    self._sleep(1.0)
                except Exception as exc:
                    if isinstance(item, Health):
                        log.exception("health observation failed")
                        r = BatchResult()
                        break
                    if isinstance(item, Command | DeviceCommand | Observed | StoreWrite):
                        log.exception("operator command or store write failed")
                        r = BatchResult(results={0: CommandResult(False, "internal", None)})
                        break
                    if isinstance(item.decoded, Rejection):
                        raise  # even a dead letter cannot be written: let the loop hold it
                    d = item.decoded
                    log.exception("message failed; kept as a dead letter")
                    site: str | None
                    device: str | None
                    if isinstance(d, BridgeState | BridgeDevices):  # a gateway's: no device
                        where, site, device = f"{d.base}/bridge", None, None
                    else:
                        where, site, device = f"{d.site}/{d.device_id}", d.site, d.device_id
                    item = Incoming(
                        Rejection(
                            "internal_error",
                            f"{type(exc).__name__}: {exc}"[:200],
                            where,
                            b"",
                            d.received_ms,
                            site,
                            device,
                        ),
                        item.ack,
                    )
            merged.changes.extend(r.changes)
            merged.accepted += r.accepted
            merged.duplicates += r.duplicates
            merged.rejected += r.rejected
            if 0 in r.results:
                merged.results[idx] = r.results[0]
            self.failing = False
        return merged
