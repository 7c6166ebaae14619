"""The delivery worker on a fake clock: order per target, backoff with jitter, giving up
only past the horizon, and a retried key staying the same."""

from __future__ import annotations

import random

import pytest

from alerting.defaults import default_rules
from alerting.delivery import DeliveryError, DeliveryWorker, OutboxRow, backoff_ms
from alerting.ruleset import Notify, RuleSet, Target
from tests.engine_harness import Harness


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
