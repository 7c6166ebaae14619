"""The watchdog's view of the service's own parts, with a fake clock and plain probes."""

from __future__ import annotations

from alerting.items import Health
from alerting.watchdog import Limits, Probes, Watchdog
from devices.ports import FakeClock


class World:
    def __init__(self) -> None:
        self.connected = True
        self.store = True
        self.last_msg: int | None = None
        self.backlog = 0
        self.lag = 0
        self.queue = 0
        self.last_batch: int | None = None
        self.seen: list[Health] = []

    def probes(self, devices: int = 10) -> Probes:
        return Probes(
            broker_connected=lambda: self.connected,
            store_healthy=lambda: self.store,
            last_message_ms=lambda: self.last_msg,
            spool_backlog=lambda: self.backlog,
            engine_lag_ms=lambda: self.lag,
            engine_queue=lambda: self.queue,
            engine_last_batch_ms=lambda: self.last_batch,
            devices_registered=devices,
        )


def make(devices: int = 10) -> tuple[World, FakeClock, Watchdog]:
    w, clock = World(), FakeClock()
    dog = Watchdog(w.probes(devices), clock, w.seen.append, Limits())
    return w, clock, dog


def state(dog: Watchdog) -> dict[str, bool]:
    return {h.component: h.ok for h in dog.look()}


def test_first_look_reports_every_part_then_only_changes():
    w, _, dog = make()
    assert {h.component for h in dog.check()} == {"broker", "store", "ingest", "spool", "engine"}
    assert dog.check() == []
    w.connected = False
    assert [(h.component, h.ok) for h in dog.check()] == [("broker", False)]
    assert w.seen[-1] == Health("broker", False, "not connected")


def test_ingest_is_silent_after_30_s_without_messages_only_with_devices_registered():
    w, clock, dog = make()
    w.last_msg = clock.now_ms()
    clock.advance(29)
    assert state(dog)["ingest"] is True
    clock.advance(2)
    assert state(dog)["ingest"] is False
    w.last_msg = clock.now_ms()
    assert state(dog)["ingest"] is True
    _, clock2, empty = make(devices=0)
    clock2.advance(3600)
    assert "ingest" not in state(empty)


def test_spool_backlog_is_a_fault_only_when_large_and_still_growing():
    w, clock, dog = make()
    w.backlog = 50_000
    assert state(dog)["spool"] is True  # large, but no history yet
    clock.advance(30)
    w.backlog = 60_000
    assert state(dog)["spool"] is True
    clock.advance(31)
    w.backlog = 70_000
    assert state(dog)["spool"] is False  # larger than a minute ago
    clock.advance(61)
    w.backlog = 20_000
    assert state(dog)["spool"] is True  # draining


def test_engine_lag_or_stall_is_a_fault():
    w, clock, dog = make()
    w.lag = 2500
    assert state(dog)["engine"] is False
    w.lag, w.queue, w.last_batch = 0, 5, clock.now_ms()
    clock.advance(4)
    assert state(dog)["engine"] is True
    clock.advance(2)
    assert state(dog)["engine"] is False  # items waiting, no batch for 6 s


def test_parts_that_do_not_exist_are_not_watched():
    w, clock = World(), FakeClock()
    p = w.probes()
    p = Probes(
        None,
        None,
        p.last_message_ms,
        None,
        p.engine_lag_ms,
        p.engine_queue,
        p.engine_last_batch_ms,
        10,
    )
    assert set(state(Watchdog(p, clock, w.seen.append))) == {"ingest", "engine"}
