"""The writer thread's failure handling: a store fault holds messages, never drops them."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from prometheus_client import CollectorRegistry

from alerting.items import Incoming
from alerting.runner import EngineRunner
from tests.engine_harness import Harness


class FlakySink:
    """A batch sink whose database write fails `failures` times (disk full, locked...)."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error

    def create_schema(self, conn):
        pass

    def write(self, conn, items):
        if items and self.failures > 0:
            self.failures -= 1
            raise self.error


def _runner(h: Harness, sink: FlakySink) -> tuple[EngineRunner, list[float]]:
    h.engine._sinks = [*h.engine._sinks, sink]
    slept: list[float] = []
    return EngineRunner(h.engine, h.clock, CollectorRegistry(), sleep=slept.append), slept


def test_store_fault_holds_the_batch_then_commits_and_acks_it(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry)
    runner, slept = _runner(h, FlakySink(3, sqlite3.OperationalError("database is locked")))
    acked: list[str] = []
    fall = h.decoder.decode(
        "carewatch/v1/sunrise/w-101-1/event", b'{"event":"fall","id":"f"}', h.clock.now_ms()
    )
    runner._run_batch([Incoming(fall, lambda: acked.append("fall"))])
    assert slept == [1.0, 1.0, 1.0]
    assert acked == ["fall"]
    assert [a.rule for a in h.open("fall")] == ["fall"]
    assert h.conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0


def test_a_message_that_breaks_processing_becomes_a_dead_letter_and_others_go_on(
    tmp_path, registry
):
    h = Harness(tmp_path / "cw.db", registry)
    runner, _ = _runner(h, FlakySink(0, RuntimeError()))
    bad = h.decoder.decode(
        "carewatch/v1/sunrise/w-101-2/event", b'{"event":"sos","id":"s"}', h.clock.now_ms()
    )
    good = h.decoder.decode(
        "carewatch/v1/sunrise/w-101-1/event", b'{"event":"fall","id":"f"}', h.clock.now_ms()
    )
    original = h.engine._evaluate

    def evaluate(d, now):
        if d is bad:
            raise ValueError("rule bug")
        original(d, now)

    h.engine._evaluate = evaluate
    acked: list[str] = []
    runner._run_batch(
        [Incoming(bad, lambda: acked.append("bad")), Incoming(good, lambda: acked.append("good"))]
    )
    assert acked == ["bad", "good"]
    assert [a.rule for a in h.open()] == ["fall"]
    [(reason, device)] = h.conn.execute("SELECT reason, device_id FROM dead_letters").fetchall()
    assert (reason, device) == ("internal_error", "w-101-2")


def test_a_failed_transaction_leaves_no_phantom_alert_in_the_cache(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry)
    h.engine._sinks = [*h.engine._sinks, FlakySink(1, sqlite3.OperationalError("disk full"))]
    fall = h.decoder.decode(
        "carewatch/v1/sunrise/w-101-1/event", b'{"event":"fall","id":"f"}', h.clock.now_ms()
    )
    with pytest.raises(sqlite3.OperationalError):
        h.engine.process([Incoming(fall)])
    assert h.open() == []
    h.engine.process([Incoming(fall)])  # redelivered: now it counts, once
    assert h.one("fall").occurrences == 1


def test_an_alarm_is_taken_before_the_telemetry_queued_ahead_of_it(tmp_path, registry):
    """Under a telemetry backlog a fall goes into the next batch, alone, not behind it."""
    h = Harness(tmp_path / "cw.db", registry)
    runner = EngineRunner(h.engine, h.clock, CollectorRegistry(), max_batch=100)
    now = h.clock.now_ms()
    for i in range(250):
        reading = h.decoder.decode(
            "carewatch/v1/sunrise/w-101-1/telemetry", b'{"heart_rate": 70, "seq": %d}' % i, now
        )
        runner.deliver(reading, None)
    first = runner._take(0)
    assert len(first) == 100  # telemetry, at most max_batch
    fall = h.decoder.decode("carewatch/v1/sunrise/w-101-2/event", b'{"event":"fall","id":"f"}', now)
    runner.deliver(fall, None)
    assert runner.queue_depth() == 151  # items, not the wake-up token the fall added
    [alarm] = runner._take(0)  # the fall, ahead of the 150 readings still queued
    assert isinstance(alarm, Incoming) and alarm.decoded is fall
    rest = runner._take(0) + runner._take(0)
    assert len(rest) == 150 and runner.queue_depth() == 0
    assert all(isinstance(x, Incoming) and x.decoded is not fall for x in rest)


def test_an_alarm_arriving_while_telemetry_gathers_goes_first_not_after_its_commit(
    tmp_path, registry
):
    """The engine waits up to gather_s for telemetry to share a commit; a fall arriving
    meanwhile is the next batch, and the readings gathered so far wait for the one after
    (docs/performance.md "Where the time goes"): the alarm pays no telemetry commit."""
    h = Harness(tmp_path / "cw.db", registry)
    runner = EngineRunner(h.engine, h.clock, CollectorRegistry(), gather_s=30.0)
    now = h.clock.now_ms()
    for i in range(3):
        reading = h.decoder.decode(
            "carewatch/v1/sunrise/w-101-1/telemetry", b'{"heart_rate": 70, "seq": %d}' % i, now
        )
        runner.deliver(reading, None)
    fall = h.decoder.decode("carewatch/v1/sunrise/w-101-2/event", b'{"event":"fall","id":"f"}', now)
    threading.Timer(0.05, runner.deliver, (fall, None)).start()
    [alarm] = runner._take(1)  # gathering telemetry when the fall came
    assert isinstance(alarm, Incoming) and alarm.decoded is fall
    runner._gather_s = 0.0
    rest = runner._take(0)
    assert len(rest) == 3 and all(x.decoded is not fall for x in rest)
    assert runner.queue_depth() == 0
