"""A step of the wall clock (NTP, an operator) moves every timer with it: an escalation
step, an on-delay and a device's supervision fire after the time they were armed for, not
an hour late after a step back nor all at once after a step forward."""

from __future__ import annotations

from alerting.runner import ClockSteps
from devices.ports import FakeClock
from tests.engine_harness import Harness, offline

HOUR = 3600


class Mono:
    """A monotonic clock tests move by hand (ms)."""

    def __init__(self) -> None:
        self.t = 10_000

    def __call__(self) -> int:
        return self.t


def test_a_step_is_noticed_once_and_small_drift_is_not() -> None:
    wall, mono = FakeClock(), Mono()
    steps = ClockSteps(wall, mono, threshold_ms=2000)
    wall.advance(5)
    mono.t += 5000
    assert steps.step_ms() == 0  # both moved: time passed, no step
    wall.advance(1.5)  # drift under the threshold
    assert steps.step_ms() == 0
    wall.advance(-HOUR)
    assert steps.step_ms() == -HOUR * 1000 + 1500
    assert steps.step_ms() == 0  # noticed once


def test_an_escalation_armed_before_a_step_back_fires_on_time(h: Harness) -> None:
    h.send("w-101-1", "event", '{"event":"sos","id":"cs-1"}')
    first = len(h.actions("escalate"))
    # the next escalation step is armed; then the clock steps back an hour
    h.clock.advance(-HOUR)
    h.engine.shift_timers(-HOUR * 1000)
    due = h.engine.next_due_ms()
    assert due is not None and due - h.clock.now_ms() <= 5 * 60 * 1000
    h.tick(5 * 60)  # the policy's next step (minutes), in time that really passed
    assert len(h.actions("escalate")) > first


def test_a_step_forward_raises_no_offline_alarms_for_devices_just_heard(h: Harness) -> None:
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":70}')
    h.clock.advance(2 * HOUR)
    h.engine.shift_timers(2 * HOUR * 1000)
    h.tick(1)
    assert offline(h, "w-101-1") == []
    # and the device still goes offline when it really falls silent
    h.tick(2 * HOUR)
    assert offline(h, "w-101-1")


def test_without_moving_the_timers_a_step_back_delays_them(h: Harness) -> None:
    """What the step handling prevents: the same step, timers left as they were."""
    h.send("w-101-1", "event", '{"event":"sos","id":"cs-2"}')
    first = len(h.actions("escalate"))
    h.clock.advance(-HOUR)
    h.tick(5 * 60)
    assert len(h.actions("escalate")) == first
