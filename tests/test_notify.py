"""Escalation changes reach the notifier of their target, and only escalation changes."""

from __future__ import annotations

from alerting.notify import Dispatcher, RecordingNotifier
from tests.engine_harness import Harness


class Broken:
    def __init__(self) -> None:
        self.calls = 0

    def notify(self, change):
        self.calls += 1
        raise RuntimeError("pager down")


def test_escalation_steps_reach_their_targets_until_acknowledged(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry)
    screen, fallback, broken = RecordingNotifier(), RecordingNotifier(), Broken()
    dispatch = Dispatcher({"duty_screen": screen, "supervisor": broken}, fallback)
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.tick(60)
    h.tick(540)  # 10 min: the director; the silent wearables' offline alerts fire too
    fall = [c for c in h.changes if c.alert.rule == "fall"]
    dispatch(fall)
    assert [c.target for c in screen.sent] == ["duty_screen"]
    assert broken.calls == 1  # the supervisor's pager failed ...
    assert [c.target for c in fallback.sent] == ["director"]  # ... the next step still went
    assert [c.action for c in fall] == ["raise", "escalate", "escalate", "escalate"]
    h.changes.clear()
    h.command("ack", h.one("fall").id)
    h.tick(3600)
    assert [c.action for c in h.changes if c.alert.rule == "fall"] == ["ack"]
