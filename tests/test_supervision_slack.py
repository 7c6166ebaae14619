"""A device's last-seen row is rewritten at most once per slack (a tenth of its interval,
at most a minute), not for every reading; the offline alarm still comes exactly one
interval after the newest message, the screen still shows the newest time, and after a
crash a silent device is called offline at most a slack early, never late."""

from __future__ import annotations

from alerting.store import AlertReader
from ingest.sqlite import connect
from tests.engine_harness import Harness, offline

DEV = "w-101-1"
READING = '{"heart_rate_bpm":70}'


def stored(h: Harness) -> tuple[int | None, int | None]:
    row = h.conn.execute(
        "SELECT last_seen_ms, due_ms FROM device_state WHERE site='sunrise' AND device_id=?",
        (DEV,),
    ).fetchone()
    return row[0], row[1]


def interval_s(h: Harness) -> int:
    dev = h.registry.get("sunrise", DEV)
    assert dev is not None
    sup = h.engine._watch.interval_ms(dev)
    assert sup is not None, "the default rules supervise the wearable"
    return sup // 1000


def test_readings_within_the_slack_leave_the_row_alone_and_the_newest_time_is_shown(h):
    slack_s = min(60, interval_s(h) // 10)
    h.send(DEV, "telemetry", READING)
    first = h.clock.now_ms()
    assert stored(h)[0] == first  # first heard: written at once
    h.tick(slack_s / 2)
    h.send(DEV, "telemetry", READING)
    newest = h.clock.now_ms()
    assert stored(h)[0] == first  # within the slack: not rewritten
    assert h.engine.heard_times()[("sunrise", DEV)] == newest
    reader = AlertReader(lambda: connect(h.path, readonly=True), h.engine.heard_times)
    assert reader.device_states()[("sunrise", DEV)] == (newest, 1)  # what the screen shows
    h.tick(slack_s)
    h.send(DEV, "telemetry", READING)
    assert stored(h)[0] == h.clock.now_ms()  # a slack old: written


def test_the_offline_alarm_counts_from_the_newest_message_not_the_stored_one(h):
    sup = interval_s(h)
    slack_s = min(60, sup // 10)
    h.send(DEV, "telemetry", READING)
    h.tick(slack_s / 2)
    h.send(DEV, "telemetry", READING)  # not written: the stored deadline is early
    h.tick(sup - slack_s / 2 + 1)  # past the stored deadline, not the true one
    assert offline(h, DEV) == []
    h.tick(slack_s / 2)  # one interval (and a second) after the newest message
    assert offline(h, DEV)


def test_after_a_crash_a_silent_device_is_called_offline_at_most_a_slack_early(h):
    sup = interval_s(h)
    slack_s = min(60, sup // 10)
    h.send(DEV, "telemetry", READING)
    first = h.clock.now_ms()
    h.tick(slack_s - 1)
    h.send(DEV, "telemetry", READING)  # lost with the process: never stored
    h.restart()
    assert h.engine.heard_times() == {}
    h.tick(sup - slack_s + 2)  # one interval after the stored time
    assert offline(h, DEV)
    assert h.clock.now_ms() - first <= sup * 1000 + 2000


def test_a_device_back_after_its_last_will_is_stored_online_at_once(h):
    h.send(DEV, "telemetry", READING)
    h.tick(1)
    h.send(DEV, "status", '{"online":false}')
    assert h.conn.execute(
        "SELECT online FROM device_state WHERE device_id=?", (DEV,)
    ).fetchone() == (0,)
    h.tick(1)
    h.send(DEV, "telemetry", READING)  # within the slack of the stored time, but offline
    assert h.conn.execute(
        "SELECT online, last_seen_ms FROM device_state WHERE device_id=?", (DEV,)
    ).fetchone() == (1, h.clock.now_ms())
