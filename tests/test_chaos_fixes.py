"""The fixes the faults of tests/test_chaos.py and tests/test_chaos_clock.py led to, in
small: an engine on a fake clock, a delivery worker, the line protocol (no processes)."""

from __future__ import annotations

import orjson
import pytest

from alerting.defaults import default_rules
from alerting.notify.sender import DeliveryError
from alerting.notify.worker import DeliveryWorker
from alerting.outbox import OutboxRow
from alerting.ruleset import Notify, RuleSet, Target
from ingest.lineproto import to_lines
from ingest.spool import KIND_ALERT
from tests.engine_harness import Harness

pytestmark = pytest.mark.chaos


def test_a_very_late_escalation_renotifies_once_not_once_per_missed_period(tmp_path, registry):
    """Two hours without the engine (down, or the clock jumped forwards): the emergency
    policy (re-notify every 120 s) sends one re-notification, not 60 at once."""
    h = Harness(tmp_path / "cw.db", registry)
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.tick(600)  # duty screen, supervisor, director
    t0 = h.clock.now_ms()
    h.tick(2 * 3600)
    late = [c.at - t0 for c in h.changes if c.action == "renotify"]
    assert late == [7_200_000]
    h.tick(119)
    assert len([c for c in h.changes if c.action == "renotify"]) == 1
    h.tick(1)  # back on the policy's schedule: 600 s + k * 120 s after the raise
    assert [c.at - t0 for c in h.changes if c.action == "renotify"] == [7_200_000, 7_320_000]


class _Failing:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent = 0

    def send(self, row: OutboxRow) -> int:
        self.sent += 1
        if self.failures:
            self.failures -= 1
            raise DeliveryError("HTTP 503", 503)
        return 200


def test_a_notification_in_backoff_is_not_held_back_when_the_clock_steps_back(tmp_path, registry):
    target = Target(url="http://127.0.0.1:9/hook", secret_env="X")
    rules = RuleSet(default_rules(), notify=Notify(targets={"supervisor": target}))
    h = Harness(tmp_path / "cw.db", registry, rules=rules)
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.tick(60)  # the supervisor step
    sender = _Failing(1)
    w = DeliveryWorker("supervisor", sender, lambda: h.conn, h.clock, 3600)
    assert 0 < (w.deliver_once(h.conn) or 0) <= 1000  # failed once: backoff up to 1 s
    h.clock.advance(-3600)  # the host's clock is stepped back an hour
    assert w.deliver_once(h.conn) == 0 and sender.sent == 2  # tried again at once
    state = h.conn.execute("SELECT state FROM outbox WHERE target = 'supervisor'").fetchall()
    assert state == [("delivered",)]


def test_repeats_of_one_alert_in_one_batch_are_distinct_alert_change_points():
    """A backlog after an outage puts several events of one device into one batch: each
    repeat is its own point; the same spool row sent twice is still the same point."""

    def row(rid: int, occurrences: int) -> tuple[int, int, str, str, str, int, str]:
        data = {"alert_id": 7, "rule": "call", "severity": "high", "action": "repeat"}
        data |= {"state": "active_unack", "occurrences": occurrences}
        return (rid, 1_000, "sunrise", "cb-101-1", "", KIND_ALERT, orjson.dumps(data).decode())

    lines = to_lines([row(1, 2), row(2, 3), row(1, 2)], lambda s, d: ("", ""))
    times = [line.rsplit(" ", 1)[1] for line in lines]
    assert times[0] != times[1] and times[0] == times[2]
