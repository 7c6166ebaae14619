"""The Node-RED peer (/work/shared/peers/nodered) as a system under test: its own scripts
start and stop mosquitto, influxd and Node-RED on the fixed ports of its ports.env (stop is
by PID, from its PID files), and its flow POSTs to our receiver on the webhook port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.common import wait_until
from bench.district import wearable
from bench.loadgen import RawPublisher
from bench.peer.systems import Arrival, System


def env_file(path: Path) -> dict[str, str]:
    """The plain `NAME=value` lines of ports.env (what the scripts source)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^([A-Z_]+)=([^\s#]+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


class NodeRed(System):
    """mosquitto -> Node-RED -> InfluxDB 1.x (db `peer`, measurement `telemetry`) + webhook."""

    name = "node-red"

    def __init__(self, peer_dir: Path) -> None:
        self.dir = peer_dir
        env = env_file(peer_dir / "ports.env")
        self.home = Path(os.environ.get("PEER", "/tmp/peer"))  # noqa: S108 - the peer's own default (ports.env)
        self.ports = {k: int(v) for k, v in env.items() if k.endswith("_PORT")}
        self.influx_url = f"http://127.0.0.1:{self.ports['INFLUX_HTTP_PORT']}"
        self.started: list[str] = []

    @property
    def mqtt_port(self) -> int:
        return self.ports["MQTT_PORT"]

    @property
    def hook_port(self) -> int:
        return self.ports["HOOK_PORT"]

    def busy_ports(self) -> list[int]:
        """Ports of the stack already taken (another run, or the peer's own bench)."""
        return [p for k, p in self.ports.items() if k != "INFLUX_RPC_PORT" and port_open(p)]

    def install(self) -> None:
        """install.sh is idempotent: quick when the peer is already under /tmp/peer."""
        self._script("install.sh", timeout_s=900)

    def _script(self, name: str, *args: str, timeout_s: float = 120) -> None:
        r = subprocess.run(
            ["bash", str(self.dir / name), *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if r.returncode:
            raise RuntimeError(f"{name} {' '.join(args)} failed:\n{r.stdout[-2000:]}{r.stderr}")

    def start(self) -> None:
        for what in ("mosquitto", "influxd", "nodered"):
            self.started.append(what)
            self._script("start_stack.sh", what)
        self.reset_points()
        self.wait_flowing()
        self.reset_points()

    def wait_flowing(self, timeout_s: float = 60) -> None:
        """Until a reading lands in InfluxDB: Node-RED's port opens before its flow has
        subscribed (on a first start no session at the broker keeps messages for it yet)."""
        pub = RawPublisher("127.0.0.1", self.mqtt_port, f"peer-probe-{os.getpid()}")
        t0 = int(time.time() * 1000) - 1000
        try:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                ts = int(time.time() * 1000)
                topic = f"carewatch/v1/{self.site}/probe/telemetry"
                pub.publish_all(iter([(topic, wearable(ts, 0, 0))]), 1000)
                if wait_until(partial(self.landed, t0, ts + 1000), 2, 0.2):
                    return
        finally:
            pub.close()
        raise TimeoutError(f"no telemetry reached InfluxDB through Node-RED in {timeout_s} s")

    def stop(self) -> None:
        if self.started:
            self._script("stop_stack.sh", *reversed(dict.fromkeys(self.started)))
            self.started = []

    def pid(self) -> int:
        return int((self.home / "pids" / "nodered.pid").read_text().strip())

    def _query(self, q: str, db: str | None = None) -> list[list[Any]]:
        params = {"q": q, "epoch": "ms"} | ({"db": db} if db else {})
        r = httpx.post(f"{self.influx_url}/query", params=params, timeout=60)
        r.raise_for_status()
        series = r.json()["results"][0].get("series", [])
        return [v for s in series for v in s["values"]]

    def landed(self, t0_ms: int, t1_ms: int) -> bool:
        return self.count_points(t0_ms, t1_ms) > 0

    def reset_points(self) -> None:
        """Drop and recreate db `peer`: a count over an empty database."""
        self._query("DROP DATABASE peer")
        self._query("CREATE DATABASE peer")

    def count_points(self, t0_ms: int, t1_ms: int) -> int:
        rows = self._query(
            'SELECT count("heart_rate_bpm") FROM "telemetry"'
            f" WHERE time >= {t0_ms}ms AND time <= {t1_ms}ms",
            db="peer",
        )
        return int(rows[0][1]) if rows else 0

    def kill9(self) -> None:
        """SIGKILL to the PID start_stack.sh recorded (not our child: init reaps it)."""
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.01)

    def restart(self) -> float:
        t = time.monotonic()
        self._script("start_stack.sh", "nodered")
        return time.monotonic() - t

    def arrival(self, post: dict[str, Any]) -> Arrival | None:
        body = post.get("body") or {}
        if not isinstance(body, dict) or body.get("alert") != "fall":
            return None
        return Arrival(post["t"], str(body.get("device")), None, None)


def _alive(pid: int) -> bool:
    """Running and not a zombie (ps shows Z until init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
