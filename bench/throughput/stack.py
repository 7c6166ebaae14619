"""A stack of real processes for one run: mosquitto, influxd, optionally a webhook
receiver, and the service; all in a fresh temp dir."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from alerting.notify.receiver import Receiver
from bench.host import proc_cpu_s
from bench.servers import WEBHOOK_SECRET, Influx, Service
from ingest.broker import MosquittoProcess


@dataclass
class Stack:
    tmp: Path
    wearables: int
    influx: bool = True
    webhook: bool = False
    workers: int = 0
    sites: Path | None = None  # a site file or folder instead of `wearables` generated ones
    broker_options: dict[str, str] | None = None  # mosquitto.conf lines over ingest.broker's
    broker: MosquittoProcess = field(init=False)
    db: Influx | None = field(init=False, default=None)
    receiver: Receiver | None = field(init=False, default=None)
    service: Service = field(init=False)

    def __enter__(self) -> Stack:
        self.broker = MosquittoProcess(self.tmp / "mosquitto", extra=self.broker_options)
        self.broker.start()
        if self.influx:
            self.db = Influx(self.tmp / "influx")
            self.db.start()
        if self.webhook:
            self.receiver = Receiver("127.0.0.1", 0, WEBHOOK_SECRET.encode()).start()
        self.service = Service(
            self.tmp / "carewatch",
            self.broker.url,
            self.wearables,
            self.db.url if self.db else None,
            self.receiver.url.rstrip("/") if self.receiver else None,
            workers=self.workers,
            sites=self.sites,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.service.close()
        if self.receiver is not None:
            self.receiver.stop()
        if self.db is not None:
            self.db.stop()
        self.broker.stop()

    def broker_cpu_s(self) -> float:
        assert self.broker.proc is not None
        return proc_cpu_s(self.broker.proc.pid)

    def influx_cpu_s(self) -> float:
        return proc_cpu_s(self.db.proc.pid) if self.db and self.db.proc else 0.0


@contextlib.contextmanager
def fresh() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as d:
        yield Path(d)
