"""The watch watches itself (DIN VDE 0834: a fault not noticed in time is the hazard).

Every second the watchdog looks at the broker link, the time-series store, the flow of
device messages, the spool and the engine, and hands each change of health to the
engine as a `Health` item. The system rules (alerting/defaults.py) turn a part unhealthy
for long enough into an alert with the same lifecycle as any other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from alerting.items import Health
from devices.ports import Clock


@dataclass(frozen=True, slots=True)
class Probes:
    """What the watchdog can see; None = that part does not exist in this setup."""

    broker_connected: Callable[[], bool] | None
    store_healthy: Callable[[], bool] | None
    last_message_ms: Callable[[], int | None]
    spool_backlog: Callable[[], int] | None
    engine_lag_ms: Callable[[], int]
    engine_queue: Callable[[], int]
    engine_last_batch_ms: Callable[[], int | None]
    devices_registered: int


@dataclass(frozen=True, slots=True)
class Limits:
    """When a part of the service counts as unhealthy: silence, spool backlog, engine lag and stall.
    The system rules' `for_s` comes on top."""

    silent_s: float = 30  # ingest: no message for this long is "not ok" (rule adds for_s)
    backlog_rows: int = 10_000  # spool: above this and still growing after backlog_window_s
    backlog_window_s: float = 60
    lag_ms: int = 2_000  # engine: receipt to commit
    stall_s: float = 5  # engine: items waiting but no batch for this long


class Watchdog:
    """Turns what the probes show into `Health` items for the engine, only on a change; `check` is
    called every second by the composition root."""

    def __init__(
        self,
        probes: Probes,
        clock: Clock,
        observe: Callable[[Health], None],
        limits: Limits | None = None,
    ) -> None:
        self._p = probes
        self._clock = clock
        self._observe = observe
        self._limits = limits or Limits()
        self._last: dict[str, bool] = {}
        self._backlog: deque[tuple[int, int]] = deque()
        self._started_ms = clock.now_ms()

    def look(self) -> list[Health]:
        """Current health of every part there is."""
        now = self._clock.now_ms()
        lim = self._limits
        out: list[Health] = []
        p = self._p
        if p.broker_connected is not None:
            ok = p.broker_connected()
            out.append(Health("broker", ok, "connected" if ok else "not connected"))
        if p.store_healthy is not None:
            ok = p.store_healthy()
            out.append(Health("store", ok, "accepting writes" if ok else "not accepting writes"))
        if p.devices_registered:
            last = p.last_message_ms()
            silent_ms = now - (last if last is not None else self._started_ms)
            out.append(
                Health(
                    "ingest", silent_ms < lim.silent_s * 1000, f"last message {silent_ms} ms ago"
                )
            )
        if p.spool_backlog is not None:
            rows = p.spool_backlog()
            self._backlog.append((now, rows))
            window_ms = lim.backlog_window_s * 1000
            while len(self._backlog) > 1 and self._backlog[1][0] <= now - window_ms:
                self._backlog.popleft()
            then_t, then_rows = self._backlog[0]
            growing = now - then_t >= window_ms and rows > then_rows
            out.append(
                Health(
                    "spool",
                    not (rows > lim.backlog_rows and growing),
                    f"{rows} rows waiting",
                )
            )
        lag = p.engine_lag_ms()
        last_batch = p.engine_last_batch_ms()
        stalled = (
            p.engine_queue() > 0
            and last_batch is not None
            and now - last_batch > lim.stall_s * 1000
        )
        ok = lag < lim.lag_ms and not stalled
        out.append(Health("engine", ok, f"lag {lag} ms, queue {p.engine_queue()}"))
        return out

    def check(self) -> list[Health]:
        """Look, and hand the engine every part whose health changed since the last look."""
        changed = []
        for h in self.look():
            if self._last.get(h.component) != h.ok:
                self._last[h.component] = h.ok
                self._observe(h)
                changed.append(h)
        return changed
