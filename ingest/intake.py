"""The service's MQTT side: which persistent sessions it runs, and the tidying of those it
ran before.

The sessions (docs/scaling.md): one (`<client id>`, every topic), or telemetry and events
apart (`<client id>` and `<client id>-events`), or the events session here and telemetry
in N worker processes (`<client id>-w<k>`, share group `<service id>`). Every one
subscribes to the watched sites' topics only. At start, `SessionBook.plan` compares them
with every session this data directory ran before: a remembered session not run now is
retired (ingest/sessions.py), and a current one drops the filters of an earlier setting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from prometheus_client import CollectorRegistry

from devices.decode import Decoder, Lane
from devices.ports import Clock
from ingest.mqtt import Deliver, MqttSource
from ingest.sessions import QUIET_S, Retirement, Session, SessionBook, legacy_sessions, shared
from ingest.workers import WorkerConfig, WorkerPool


class Intake:
    """The live sessions, the worker pool and the retirements of one service."""

    def __init__(
        self,
        cfg: WorkerConfig,
        decoder: Decoder,
        deliver: Deliver,
        clock: Clock,
        metrics: CollectorRegistry,
        book: SessionBook,
        workers: int = 0,
        event_session: bool = True,
        quiet_s: float = QUIET_S,
    ) -> None:
        """`cfg`: the broker, client id, share group (the service id) and, for `workers`
        > 0, what the worker processes load; `event_session`: Settings.mqtt_event_session."""
        cid = cfg.client_id
        lanes: list[tuple[str, Lane]] = [(cid, "all")]
        if event_session:
            lanes = [(cid, "telemetry"), (f"{cid}-events", "events")]
        worker_ids: list[str] = []
        if workers > 0:
            # telemetry in N processes; the events lane (alarms) stays here, unshared
            lanes = [(f"{cid}-events", "events")]
            worker_ids = [f"{cid}-w{k}" for k in range(workers)]
        telemetry = shared(decoder.subscriptions("telemetry"), cfg.share)
        current = [Session(w, telemetry) for w in worker_ids]
        current += [Session(c, shared(decoder.subscriptions(lane), None)) for c, lane in lanes]
        legacy = legacy_sessions(
            cid,
            cfg.mqtt_prefix,
            decoder.subscriptions("events"),
            decoder.subscriptions("telemetry"),
            max(book.legacy_workers(), workers),
        )
        plan = book.plan(current, legacy)

        def source(client_id: str, lane: Lane, stale: tuple[str, ...], retire: bool) -> MqttSource:
            return MqttSource(
                cfg.mqtt_url, client_id, decoder, deliver, clock,
                ca_file=cfg.ca_file, lane=lane, stale=stale, retire=retire,
            )  # fmt: skip

        self.sources = [source(c, lane, plan.stale[c], False) for c, lane in lanes]
        retiring = [source(s.client_id, "all", s.filters, True) for s in plan.retire]
        self.retirement = Retirement(retiring, book, metrics, quiet_s)
        self.pool: WorkerPool | None = None
        if worker_ids:
            stale = {w: plan.stale[w] for w in worker_ids}
            self.pool = WorkerPool(replace(cfg, stale=stale), workers, deliver, metrics)
        self._ack_hooks: list[Callable[[], None]] = [s.flush_acks for s in self.sources]
        self._ack_hooks += [s.flush_acks for s in retiring]
        if self.pool is not None:
            self._ack_hooks.append(self.pool.flush_acks)

    def ack_hooks(self) -> list[Callable[[], None]]:
        """What sends the PUBACKs of each committed batch (the runner's after-acks hooks)."""
        return list(self._ack_hooks)

    def start(self) -> None:
        """Connect the sessions, start the retirements and the worker processes."""
        for s in self.sources:
            s.start()
        self.retirement.start()
        if self.pool is not None:
            self.pool.start()

    def stop(self) -> None:
        """After the engine's last commit and acks: disconnect everything (sessions kept)."""
        for s in self.sources:
            s.stop()
        self.retirement.stop()
        if self.pool is not None:
            self.pool.stop()

    def connected(self) -> bool:
        """Every live session and worker is connected and holds its session alone
        (retiring ones do not count)."""
        return all(s.connected and not s.contested() for s in self.sources) and (
            self.pool is None or self.pool.connected()
        )

    def ever_connected(self) -> bool:
        """The broker took every live session at least once, the workers' too (the
        watchdog's start-up grace ends there)."""
        return all(s.ever_connected for s in self.sources if not s.retiring) and (
            self.pool is None or self.pool.ever_connected()
        )

    def alive(self) -> bool:
        """The network threads run and the worker pool is supervised."""
        return all(s.alive() for s in self.sources) and (self.pool is None or self.pool.alive())

    def wait_subscribed(self, timeout_s: float) -> bool:
        """Until the broker acknowledged the live sessions' subscriptions."""
        deadline = time.monotonic() + timeout_s
        return all(s.subscribed.wait(max(0.0, deadline - time.monotonic())) for s in self.sources)
