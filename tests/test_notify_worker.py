"""The delivery worker on a fake clock: each step of its chain alone (pick the due row,
send, back off or give up, the delivered mark handed to the engine), then the worker on
a real engine: order per target, backoff with jitter, giving up only past the horizon,
and a retried key staying the same."""

from __future__ import annotations

import random

import pytest

from alerting.defaults import default_rules
from alerting.notify.sender import DeliveryError
from alerting.notify.worker import (
    MAX_BACKOFF_MS,
    DeliveryWorker,
    GiveUp,
    NotSent,
    NotYet,
    Retry,
    RetryPolicy,
    Sent,
    backoff_ms,
    pick_due,
    send,
)
from alerting.outbox import OutboxRow, next_pending
from alerting.ruleset import Notify, RuleSet, Target
from devices.ports import FakeClock
from tests.engine_harness import Harness
from tests.outbox_rows import T0, add, table
from tests.test_ports import EngineWrites


class Flaky:
    """A receiver's behaviour as a script: each call pops the next outcome."""

    def __init__(self, outcomes: list[int]) -> None:
        self.outcomes = outcomes
        self.got: list[OutboxRow] = []

    def send(self, row: OutboxRow) -> int:
        self.got.append(row)
        status = self.outcomes.pop(0) if self.outcomes else 200
        if status != 200:
            raise DeliveryError(f"HTTP {status}", status)
        return status


# ------------------------------------------------------------------ pick the due row


def test_pick_due_takes_the_oldest_pending_row_of_its_target():
    conn = table()
    assert pick_due(conn, "supervisor", 0, T0) is None
    add(conn, "director", alert_id=1)
    first = add(conn, alert_id=2)
    add(conn, alert_id=3)
    add(conn, alert_id=4, state="delivered")
    row = pick_due(conn, "supervisor", 0, T0)
    assert isinstance(row, OutboxRow) and (row.id, row.alert_id) == (first, 2)
    assert row.alert == {"id": "2", "rule": "fall", "device_type": "wearable"}
    # rows up to `after_id` await the engine's commit of their mark: read past them
    row = pick_due(conn, "supervisor", first, T0)
    assert isinstance(row, OutboxRow) and row.alert_id == 3


def test_pick_due_waits_for_a_row_backing_off_and_lets_nothing_overtake_it():
    conn = table()
    add(conn, alert_id=1, next_ms=T0 + 1500)
    add(conn, alert_id=2)  # due, but behind the first
    assert pick_due(conn, "supervisor", 0, T0) == NotYet(1500)
    row = pick_due(conn, "supervisor", 0, T0 + 1500)
    assert isinstance(row, OutboxRow) and row.alert_id == 1


def test_pick_due_does_not_wait_out_a_wall_clock_stepped_back():
    conn = table()
    add(conn, next_ms=T0 + 3_600_000)  # set before the host's clock went back an hour
    row = pick_due(conn, "supervisor", 0, T0)
    assert isinstance(row, OutboxRow)
    assert pick_due(conn, "supervisor", 0, T0 + 3_600_000 - MAX_BACKOFF_MS) == NotYet(
        MAX_BACKOFF_MS
    )


# ------------------------------------------------------------------ send


class Answers:
    """A notifier that returns a status or raises, as told; it keeps the alert ids tried."""

    def __init__(self, outcome: int | Exception) -> None:
        self.outcome = outcome
        self.tried: list[int] = []

    def send(self, row: OutboxRow) -> int:
        self.tried.append(row.alert_id)
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def a_row() -> OutboxRow:
    conn = table()
    add(conn)
    row = next_pending(conn, "supervisor")
    assert row is not None
    return row


def test_send_says_sent_with_the_receivers_status():
    assert send(Answers(204), a_row()) == Sent(204)
    assert send(Answers(0), a_row()) == Sent(0)


def test_send_turns_whatever_the_notifier_raises_into_not_sent():
    assert send(Answers(DeliveryError("HTTP 503", 503)), a_row()) == NotSent(503, "HTTP 503")
    assert send(Answers(ConnectionError("refused")), a_row()) == NotSent(None, "refused")
    assert send(Answers(TimeoutError()), a_row()) == NotSent(None, "TimeoutError")
    long = send(Answers(RuntimeError("x" * 1000)), a_row())
    assert isinstance(long, NotSent) and len(long.error) == 300


# ------------------------------------------------------------------ back off or give up


def test_retry_policy_backs_off_with_jitter_within_the_horizon():
    clock = FakeClock()
    policy = RetryPolicy(horizon_ms=600_000, rng=random.Random(3))
    row = a_row()  # created at T0, no attempt yet
    clock.advance(1)
    step = policy.after_failure(row, clock.now_ms())
    assert isinstance(step, Retry)
    assert 250 <= step.wait_ms <= 500 and step.at_ms == clock.now_ms() + step.wait_ms


def test_retry_policy_gives_up_once_the_row_is_older_than_the_horizon():
    clock = FakeClock()
    policy = RetryPolicy(horizon_ms=600_000, rng=random.Random(3))
    row = a_row()
    clock.advance(599.999)
    assert isinstance(policy.after_failure(row, clock.now_ms()), Retry)
    clock.advance(0.001)
    assert policy.after_failure(row, clock.now_ms()) == GiveUp()


# ------------------------------------------------------------------ mark delivered


def test_the_delivered_mark_goes_to_the_engine_and_the_worker_goes_on_meanwhile():
    conn = table()
    add(conn, alert_id=1)
    add(conn, alert_id=2)
    engine = EngineWrites()
    s = Answers(200)
    w = DeliveryWorker("supervisor", s, lambda: conn, FakeClock(T0), 3600, write=engine)
    assert w.deliver_once(conn) == 0 and w.deliver_once(conn) == 0
    assert s.tried == [1, 2]  # the second went out before the first's mark committed
    assert w.deliver_once(conn) is None  # both marks pending: nothing more to send
    (apply1, fut1), (_, fut2) = engine.pending
    apply1(conn)
    fut1.set_result(None)
    fut2.set_exception(RuntimeError("rolled back"))  # the second mark was lost ...
    assert w.deliver_once(conn) == 0
    assert s.tried == [1, 2, 2]  # ... so that row is sent again, with the same key
    states = conn.execute("SELECT alert_id, state FROM outbox ORDER BY id").fetchall()
    assert states == [(1, "delivered"), (2, "pending")]


def test_one_target_failing_does_not_hold_back_another():
    conn = table()
    add(conn, "supervisor")
    add(conn, "director")
    clock = FakeClock(T0)
    broken = DeliveryWorker("supervisor", Answers(DeliveryError("down")), lambda: conn, clock, 3600)
    fine = DeliveryWorker("director", Answers(200), lambda: conn, clock, 3600)
    assert (broken.deliver_once(conn) or 0) > 0  # backing off
    assert fine.deliver_once(conn) == 0
    states = dict(conn.execute("SELECT target, state FROM outbox").fetchall())
    assert states == {"supervisor": "pending", "director": "delivered"}


# ------------------------------------------------------------------ the worker on an engine


@pytest.fixture
def h(tmp_path, registry):
    target = Target(url="http://127.0.0.1:9/hook", secret_env="X", horizon_s=3600)
    rules = RuleSet(
        default_rules(), notify=Notify(targets={"supervisor": target}, mqtt_alerts=False)
    )
    return Harness(tmp_path / "cw.db", registry, rules=rules)


def worker(h, sender, horizon_s=3600):
    return DeliveryWorker(
        "supervisor", sender, lambda: h.conn, h.clock, horizon_s, rng=random.Random(1)
    )


def drain(h, w, seconds: float) -> None:
    """Run the worker for `seconds` of fake time, doing whatever falls due."""
    end = h.clock.now_ms() + int(seconds * 1000)
    while True:
        wait = w.deliver_once(h.conn)
        if wait == 0:
            continue
        step = 1000 if wait is None else wait
        if h.clock.now_ms() + step > end:
            h.clock.advance((end - h.clock.now_ms()) / 1000)
            return
        h.clock.advance(step / 1000)


def two_falls_escalated(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.send("w-102-1", "event", '{"event":"fall","id":"f2"}')
    h.tick(60)  # the emergency policy reaches the supervisor at 60 s
    a1 = next(a for a in h.open("fall") if a.device_id == "w-101-1")
    h.command("ack", a1.id)  # a follow-up for a target that already heard of it
    return a1


def states(h):
    return h.conn.execute(
        "SELECT alert_id, seq, action, state, attempts FROM outbox ORDER BY id"
    ).fetchall()


def test_rows_go_out_in_order_and_each_once(h):
    a1 = two_falls_escalated(h)
    s = Flaky([])
    drain(h, worker(h, s), 1)
    assert [(r.alert_id, r.seq, r.action) for r in s.got][-1] == (a1.id, 2, "ack")
    assert [r.action for r in s.got] == ["escalate", "escalate", "ack"]
    assert all(st == "delivered" for *_, st, _ in states(h))
    assert len({r.key for r in s.got}) == 3


def test_a_failing_receiver_is_retried_with_backoff_and_nothing_overtakes(h):
    two_falls_escalated(h)
    s = Flaky([503, 503, 500, 200])
    w = worker(h, s)
    drain(h, w, 0.1)
    assert len(s.got) == 1  # first attempt failed; now waiting
    drain(h, w, 10)
    assert [r.key for r in s.got[:4]] == [s.got[0].key] * 4  # the same key, retried
    assert [r.action for r in s.got[3:]] == ["escalate", "escalate", "ack"]
    assert [row[4] for row in states(h)] == [4, 1, 1]


def test_backoff_doubles_with_jitter_up_to_a_minute():
    rng = random.Random(7)
    waits = [backoff_ms(n, rng) for n in range(1, 12)]
    assert 250 <= waits[0] <= 500 and 500 <= waits[1] <= 1000
    assert all(30_000 <= w <= 60_000 for w in waits[8:])


def test_it_gives_up_only_past_the_horizon_and_says_so(h):
    two_falls_escalated(h)
    s = Flaky([503] * 1000)
    w = worker(h, s, horizon_s=600)
    drain(h, w, 599)
    assert {row[3] for row in states(h)} == {"pending"}
    drain(h, w, 120)
    assert states(h)[0][3] == "failed"
