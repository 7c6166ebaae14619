"""Ingest worker processes: MQTT + decode in N children, the engine in the parent.

With `ingest_workers: N` the telemetry lane is read by N child processes (multiprocessing,
"spawn"), each one persistent MQTT session `<client id>-w<k>` subscribed to the telemetry
topics as the shared subscription `$share/<service id>/<topic>`: the broker gives each
message to one member of the group, and the GIL is per process. The group is named for
the deployment (`Settings.service_id`), so the workers of two services on one broker are
never members of one group. A child decodes and sends
what it decoded to the parent in batches (up to `MAX_ITEMS`, or every `FLUSH_S`) over a
pipe, each item with the child's sequence number; the parent hands them to the engine
(`deliver(decoded, ack)`). The engine's ack only records the sequence number; after the
batch committed, `WorkerPool.flush_acks` (the runner's after-acks hook) sends the recorded
numbers back, one message per child, and the child sends the PUBACKs. So nothing is acked
before it is committed, and a crash of either side is a redelivery by the broker.

A child dies with the parent (its ack pipe reaches EOF; on Linux also PR_SET_PDEATHSIG),
and the parent restarts a child that died (log line, `carewatch_ingest_worker_restarts`).
docs/scaling.md says why the engine then needs its stale-reading rule.
"""

from __future__ import annotations

import array
import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from devices.decode import Decoder
from devices.model import Decoded
from devices.ports import SystemClock
from devices.registry import load_sites
from ingest.mqtt import Ack, Deliver, MqttSource

log = logging.getLogger("carewatch.ingest.workers")

MAX_ITEMS = 500  # items per batch to the parent
FLUSH_S = 0.002  # a batch waits at most this long for more items
RESTART_DELAY_S = 1.0  # between restarts of one worker slot
_BATCH = "B"
_STATE = "C"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """The MQTT side's configuration (ingest/intake.py): the broker, client id and share
    group of every session, and what a child needs (picklable: it crosses the spawn)."""

    site_file: Path  # a site file or a folder of them, as the service's
    mqtt_url: str
    client_id: str  # the service's; a worker connects as `<client_id>-w<k>`
    share: str  # the share group: the service id
    mqtt_prefix: str
    zigbee_prefix: str
    falls: Any  # devices.falls.FallSettings
    ca_file: Path | None = None
    # per worker client id: filters of an earlier setting to remove (ingest/sessions.py)
    stale: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    log_level: str = "INFO"
    log_setup: Callable[[str], None] | None = None  # carewatch.logs.setup_logging


# --- the child --------------------------------------------------------------------------


class _Collector:
    """In the child: decoded messages to the parent in batches; acks back to paho."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()  # items, pending, seq
        self._send_lock = threading.Lock()  # batches leave in the order they were taken
        self._items: list[tuple[int, Decoded]] = []
        self._pending: dict[int, Ack] = {}
        self._seq = 0
        self._wake = threading.Event()

    def deliver(self, decoded: Decoded, ack: Ack | None) -> None:
        """paho's thread."""
        with self._lock:
            seq = -1
            if ack is not None:
                self._seq += 1
                seq = self._seq
                self._pending[seq] = ack
            self._items.append((seq, decoded))
            n = len(self._items)
        if n >= MAX_ITEMS:
            self.flush()
        elif n == 1:
            self._wake.set()

    def flush(self) -> None:
        with self._send_lock:
            with self._lock:
                items, self._items = self._items, []
            if items:
                self._send((_BATCH, items))

    def _send(self, msg: tuple[str, object]) -> None:
        self._conn.send_bytes(pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL))

    def send_state(self, connected: bool) -> None:
        with self._send_lock:
            self._send((_STATE, connected))

    def flush_loop(self, source: MqttSource) -> None:
        """Batches out every FLUSH_S while messages come; the connection state on change."""
        connected: bool | None = None
        while True:
            if self._wake.wait(0.2):
                self._wake.clear()
                time.sleep(FLUSH_S)
                self.flush()
            if source.connected != connected:
                connected = source.connected
                self.send_state(connected)

    def ack_loop(self, conn: Connection, source: MqttSource) -> None:
        """Sequence numbers the parent committed -> PUBACKs. Returns at EOF (parent gone)."""
        while True:
            try:
                buf = conn.recv_bytes()
            except (EOFError, OSError):
                return
            seqs = array.array("q")
            seqs.frombytes(buf)
            with self._lock:
                acks = [self._pending.pop(s, None) for s in seqs]
            for ack in acks:
                if ack is not None:
                    try:
                        ack()
                    except Exception:  # not acked = redelivered
                        log.exception("ack failed")
            source.flush_acks()


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def worker_main(cfg: WorkerConfig, index: int, data: Connection, acks: Connection) -> None:
    """The child process: the service's registry and decoder (a device of another site is
    `wrong_site` here too), one shared-subscription MQTT session."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent stops us in order
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if cfg.log_setup is not None:
        cfg.log_setup(cfg.log_level)
    gc.disable()  # as cli._built: the registry's objects are kept, collections only cost
    try:
        registry = load_sites(cfg.site_file, cfg.zigbee_prefix)
    finally:
        gc.enable()
        gc.collect()
        gc.freeze()
    decoder = Decoder(registry, cfg.mqtt_prefix, cfg.zigbee_prefix, cfg.falls)
    collector = _Collector(data)
    client_id = f"{cfg.client_id}-w{index}"
    source = MqttSource(
        cfg.mqtt_url,
        client_id,
        decoder,
        collector.deliver,
        SystemClock(),
        ca_file=cfg.ca_file,
        lane="telemetry",
        share=cfg.share,
        stale=cfg.stale.get(client_id, ()),
    )
    source.start()
    threading.Thread(target=collector.flush_loop, args=(source,), name="flush", daemon=True).start()
    log.info("ingest worker started", extra={"worker": index, "client_id": client_id})
    collector.ack_loop(acks, source)  # until the parent closes the pipe (stop) or dies
    stopper = threading.Thread(target=source.stop, daemon=True)  # send queued PUBACKs
    stopper.start()
    stopper.join(3.0)
    os._exit(0)


# --- the parent ---------------------------------------------------------------------------


class _Worker:
    """One incarnation of one worker slot, seen from the parent."""

    def __init__(self, index: int, proc: BaseProcess, data: Connection, acks: Connection) -> None:
        self.index = index
        self.proc = proc
        self.data = data
        self.acks = acks
        self.acked: list[int] = []  # sequence numbers the engine acked (engine thread)
        self.outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.connected = False
        self.dead = False
        self.started = time.monotonic()


class WorkerPool:
    """N ingest worker processes, their readers and ack senders, and their restarts."""

    def __init__(
        self, cfg: WorkerConfig, count: int, deliver: Deliver, metrics: CollectorRegistry
    ) -> None:
        self._cfg = cfg
        self._count = count
        self._deliver = deliver
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker | None] = [None] * count
        self._stopping = threading.Event()
        self._ever_connected: set[int] = set()
        self._supervisor: threading.Thread | None = None
        self._restarts = Counter(
            "carewatch_ingest_worker_restarts",
            "Ingest worker processes restarted after they died",
            registry=metrics,
        )
        Gauge(
            "carewatch_ingest_workers_connected",
            "Ingest worker processes connected to the MQTT broker",
            registry=metrics,
        ).set_function(lambda: float(sum(1 for w in self._workers if w and w.connected)))

    def connected(self) -> bool:
        """Every worker is up and connected to the broker (readiness)."""
        return all(w is not None and w.connected and not w.dead for w in self._workers)

    def ever_connected(self) -> bool:
        """Every worker slot has been connected at least once since the start (the
        watchdog's start-up grace ends there)."""
        return len(self._ever_connected) == self._count

    def start(self) -> None:
        """Spawn the worker processes and the supervisor thread that restarts a worker that died."""
        for k in range(self._count):
            self._workers[k] = self._spawn(k)
        self._supervisor = threading.Thread(
            target=self._supervise, name="ingest-workers", daemon=True
        )
        self._supervisor.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """After the engine's last commit: send the last acks, let the children disconnect."""
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(2.0)
        workers = [w for w in self._workers if w is not None]
        for w in workers:
            w.outbox.put(None)  # the sender closes the ack pipe after the last acks
        deadline = time.monotonic() + timeout_s
        for w in workers:
            w.proc.join(max(0.1, deadline - time.monotonic()))
            if w.proc.is_alive():
                log.warning("ingest worker did not stop; killing it", extra={"worker": w.index})
                w.proc.kill()
                w.proc.join(1.0)
            w.dead = True

    def alive(self) -> bool:
        """The supervising thread runs (it restarts a child that died): the service
        watchdog's test of the worker pool."""
        return self._supervisor is not None and self._supervisor.is_alive()

    # the engine thread, after each batch's acks ------------------------------------------

    def flush_acks(self) -> None:
        """The sequence numbers acked by the batch just committed: one message per child."""
        for w in self._workers:
            if w is not None and w.acked:
                seqs = array.array("q", w.acked)
                w.acked.clear()
                if not w.dead:
                    w.outbox.put(seqs.tobytes())

    # threads -------------------------------------------------------------------------

    def _spawn(self, k: int) -> _Worker:
        data_r, data_w = self._ctx.Pipe(duplex=False)
        ack_r, ack_w = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=worker_main,
            args=(self._cfg, k, data_w, ack_r),
            name=f"carewatch-ingest-w{k}",
            daemon=True,
        )
        proc.start()
        data_w.close()  # the child's ends: EOF on either side when the other is gone
        ack_r.close()
        w = _Worker(k, proc, data_r, ack_w)
        threading.Thread(target=self._read, args=(w,), name=f"ingest-w{k}", daemon=True).start()
        threading.Thread(target=self._send, args=(w,), name=f"acks-w{k}", daemon=True).start()
        log.info("ingest worker spawned", extra={"worker": k, "pid": proc.pid})
        return w

    def _read(self, w: _Worker) -> None:
        deliver = self._deliver
        append = w.acked.append
        while True:
            try:
                buf = w.data.recv_bytes()
            except (EOFError, OSError):
                break
            kind, payload = pickle.loads(buf)  # noqa: S301 (our own child, a private pipe)
            if kind == _BATCH:
                for seq, decoded in payload:
                    deliver(decoded, partial(append, seq) if seq >= 0 else None)
            elif kind == _STATE:
                w.connected = bool(payload)
                if w.connected:
                    self._ever_connected.add(w.index)
        w.connected = False
        w.data.close()  # here, not by another thread: its descriptor may be reused at once

    def _send(self, w: _Worker) -> None:
        while True:
            buf = w.outbox.get()
            if buf is None:
                break
            try:
                w.acks.send_bytes(buf)
            except OSError:  # the child is gone: its messages are redelivered
                break
        w.acks.close()

    def _supervise(self) -> None:
        while not self._stopping.wait(0.25):
            for k, w in enumerate(self._workers):
                if w is None or w.proc.is_alive():
                    continue
                if not w.dead:
                    w.dead = True
                    w.connected = False
                    w.outbox.put(None)
                    log.error(
                        "ingest worker died; restarting it",
                        extra={"worker": k, "pid": w.proc.pid, "exitcode": w.proc.exitcode},
                    )
                if time.monotonic() - w.started < RESTART_DELAY_S:
                    continue  # a worker that dies at once is not restarted in a busy loop
                self._restarts.inc()
                self._workers[k] = self._spawn(k)
