"""The systems under test behind one interface, so every phase drives both the same way:
start and stop the whole stack, the MQTT port the load goes to, the telemetry points
stored, the process's peak RSS, kill -9 and restart, and what a webhook POST says (which
wearable's fall, which alert, which delivery)."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.host import proc_status_kb
from bench.servers import Influx, Service
from ingest.broker import MosquittoProcess


@dataclass(frozen=True)
class Arrival:
    """One webhook POST about a fall: the wearable, the alert it reports (None: the system
    has no alert identity, every POST is its own alert) and its delivery key (None: none)."""

    t: float
    device: str
    alert: str | None
    key: str | None


class System:
    """A system under test: mosquitto + InfluxDB + the process that commits and alerts."""

    name = "system"
    site = "bench"

    @property
    def mqtt_port(self) -> int:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def pid(self) -> int:
        raise NotImplementedError

    def reset_points(self) -> None:
        """Before a rate step: nothing left of the previous step in the count."""

    def count_points(self, t0_ms: int, t1_ms: int) -> int:
        """Telemetry points stored with device timestamps in [t0_ms, t1_ms]."""
        raise NotImplementedError

    def peak_rss_mb(self) -> float:
        """VmHWM of the process that commits and alerts: its peak since it started."""
        return proc_status_kb(self.pid(), "VmHWM") / 1024

    def kill9(self) -> None:
        raise NotImplementedError

    def restart(self) -> float:
        """Start the process again after kill9() on the same data and broker; seconds until
        it is up (CareWatch: /readyz 200, Node-RED: its port open)."""
        raise NotImplementedError

    def arrival(self, post: dict[str, Any]) -> Arrival | None:
        """A recorded POST (bench/peer/hook.py) as a fall's arrival; None if it is not one."""
        raise NotImplementedError


class CareWatch(System):
    """`carewatch serve` with `wearables` wearables w-0.. of site `bench`, its own mosquitto
    and influxd on free ports, every fall posted to `webhook_url`/pager (bench.servers)."""

    name = "carewatch"

    def __init__(self, wearables: int, webhook_url: str, workers: int = 0) -> None:
        self.wearables = wearables
        self.webhook_url = webhook_url
        self.workers = workers  # ingest worker processes (docs/scaling.md)
        self.tmp: Path | None = None
        self.broker: MosquittoProcess | None = None
        self.db: Influx | None = None
        self.service: Service | None = None

    @property
    def mqtt_port(self) -> int:
        assert self.broker is not None
        return self.broker.port

    def start(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="cw-peer-"))
        self.broker = MosquittoProcess(self.tmp / "mosquitto")
        self.broker.start()
        self.db = Influx(self.tmp / "influx")
        self.db.start()
        self.service = Service(
            self.tmp / "carewatch",
            self.broker.url,
            self.wearables,
            self.db.url,
            webhook_url=self.webhook_url,
            workers=self.workers,
        )
        self.service.start()
        self.service.wait_ready()

    def stop(self) -> None:
        """Everything it started, each step even if one fails."""
        try:
            if self.service is not None:
                self.service.close()
        finally:
            try:
                if self.db is not None:
                    self.db.stop()
            finally:
                if self.broker is not None:
                    self.broker.stop()
                if self.tmp is not None:
                    shutil.rmtree(self.tmp, ignore_errors=True)
                self.service = self.db = self.broker = None
                self.tmp = None

    def pid(self) -> int:
        assert self.service is not None
        return self.service.pid

    def count_points(self, t0_ms: int, t1_ms: int) -> int:
        assert self.db is not None
        return self.db.count_points(t0_ms, t1_ms)

    def kill9(self) -> None:
        assert self.service is not None
        assert self.service.proc is not None
        self.service.proc.send_signal(signal.SIGKILL)
        self.service.proc.wait()

    def restart(self) -> float:
        """The same config: the same data dir, broker and MQTT client id, so its persistent
        session gets back what the broker queued while it was down."""
        assert self.service is not None
        t = time.monotonic()
        self.service.start()
        self.service.wait_ready(poll_s=0.02)
        return time.monotonic() - t

    def arrival(self, post: dict[str, Any]) -> Arrival | None:
        body = post.get("body") or {}
        alert = body.get("alert") if isinstance(body, dict) else None
        if not isinstance(alert, dict) or alert.get("rule") != "fall":
            return None
        key = post.get("key") or body.get("key")
        return Arrival(post["t"], str(alert.get("device_id")), str(alert.get("id")), key)
