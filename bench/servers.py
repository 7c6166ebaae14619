"""The processes under test: InfluxDB (1.x) and `python -m carewatch serve` with a
generated site, on free loopback ports, and the figures the benchmarks read from them
(/metrics, /proc)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, tail
from bench.host import child_pids, proc_cpu_s, proc_status_kb
from ingest.broker import free_port, stop_process
from ingest.influx import influxd_config

SITE = "bench"
TOKEN = "bench-token-0123456789"  # noqa: S105 - a loopback benchmark's admin token
WEBHOOK_SECRET = "bench-secret-0123456789"  # noqa: S105 - a loopback test receiver's key


class Influx:
    """influxd (1.x) in the foreground on free loopback ports, data in `data_dir`."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.rpc_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20) -> None:
        conf = self.dir / "influxdb.conf"
        conf.write_text(influxd_config(self.dir, self.port, self.rpc_port))
        log = (self.dir / "influxd.log").open("ab")
        self.proc = subprocess.Popen(
            ["influxd", "-config", str(conf)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("influxd exited:\n" + tail(self.dir / "influxd.log"))
            try:
                if httpx.get(self.url + "/ping", timeout=0.5).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("influxd not ready:\n" + tail(self.dir / "influxd.log"))

    def query(self, db: str, q: str) -> list[list[Any]]:
        r = httpx.get(f"{self.url}/query", params={"db": db, "q": q, "epoch": "ms"}, timeout=60)
        r.raise_for_status()
        series = r.json()["results"][0].get("series", [])
        return [v for s in series for v in s["values"]]

    def count_points(self, t0_ms: int, t1_ms: int, measurement: str = "wearable") -> int:
        """Telemetry points with device timestamps in [t0_ms, t1_ms]."""
        rows = self.query(
            "carewatch",
            f'SELECT count("heart_rate_bpm") FROM "{measurement}"'
            f" WHERE time >= {t0_ms}ms AND time <= {t1_ms}ms",
        )
        return int(rows[0][1]) if rows else 0

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, 15)
        self.proc = None


# --- the site and the service -------------------------------------------------------------


def site_yaml(wearables: int, per_room: int = 10, rooms_per_floor: int = 50) -> str:
    """A home of `wearables` wearables `w-0`.. (devices of the load), `per_room` to a room."""
    rooms = (wearables + per_room - 1) // per_room
    floors = (rooms + rooms_per_floor - 1) // rooms_per_floor
    out = [f"id: {SITE}", "name: Bench Home", "address: 1 Test Road", "floors:"]
    for f in range(floors):
        out += [f'  - id: "{f + 1}"', "    rooms:"]
        out += [
            f'      - id: "r{r}"'
            for r in range(f * rooms_per_floor, min(rooms, (f + 1) * rooms_per_floor))
        ]
    out.append("devices:")
    out += [
        f'  - {{id: w-{i}, type: wearable, room: "r{i // per_room}"}}' for i in range(wearables)
    ]
    return "\n".join(out) + "\n"


def rules_yaml(webhook_url: str | None) -> str:
    """The default rules; with a webhook, every emergency alert (a fall) is posted to it at
    once: the emergency policy's first step names the target `pager`."""
    if webhook_url is None:
        return "builtin: true\n"
    return (
        "builtin: true\n"
        "notify:\n  targets:\n    pager:\n"
        f"      url: {webhook_url}/pager\n      format: json\n      secret_env: BENCH_SECRET\n"
        "escalation:\n  policies:\n    emergency:\n      steps:\n"
        "        - {after_s: 0, notify: pager}\n"
        "        - {after_s: 60, notify: supervisor}\n"
        "      repeat_s: 120\n"
    )


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text as {"name{labels}": value}."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line.strip())
        if m:
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class Service:
    """`python -m carewatch serve --config FILE` with a generated site (or the site file or
    folder `sites`: its `sites_dir`, CAREWATCH_SITES_DIR), against a broker and (optionally)
    InfluxDB; the figures the benchmarks read from it. Its HTTP client sends the service's
    admin token: reads may need one (`read_access: token`)."""

    def __init__(
        self,
        tmp: Path,
        mqtt_url: str,
        wearables: int,
        influx_url: str | None,
        webhook_url: str | None = None,
        workers: int = 0,
        sites: Path | None = None,
    ) -> None:
        self.dir = tmp
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        if sites is None:
            (tmp / "site.yaml").write_text(site_yaml(wearables), encoding="utf-8")
            where = "site_file: site.yaml"
        else:
            where = f"{'sites_dir' if sites.is_dir() else 'site_file'}: {sites.resolve()}"
        (tmp / "rules.yaml").write_text(rules_yaml(webhook_url), encoding="utf-8")
        lines = [
            where,
            "rules_file: rules.yaml",
            f"mqtt_url: {mqtt_url}",
            f"data_dir: {tmp / 'data'}",
            "http_host: 127.0.0.1",
            f"http_port: {self.port}",
            f"api_token: {TOKEN}",
            "log_level: WARNING",
        ]
        if influx_url:
            lines.append(f"influx_url: {influx_url}")
        if workers:  # ingest worker processes (docs/scaling.md)
            lines.append(f"ingest_workers: {workers}")
        self.config = tmp / "carewatch.yaml"
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None
        self.module = "carewatch"  # bench/hops.py runs bench.hops_serve: the same, timed
        self.env: dict[str, str] = {}
        self.started_at = 0.0
        self._http = httpx.Client(timeout=10, headers=self.auth)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        """The admin token's header: every read and write of the API takes it."""
        return {"Authorization": f"Bearer {TOKEN}"}

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
        env["BENCH_SECRET"] = WEBHOOK_SECRET
        env.update(self.env)
        log = (self.dir / "carewatch.log").open("ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )

    def wait_ready(self, timeout_s: float = 120, poll_s: float = 0.05) -> float:
        """Seconds from start() to the first /readyz 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError("carewatch exited:\n" + tail(self.dir / "carewatch.log"))
            try:
                if self._http.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - self.started_at
            except httpx.HTTPError:
                pass
            time.sleep(poll_s)
        raise TimeoutError("carewatch not ready:\n" + tail(self.dir / "carewatch.log"))

    def metrics(self) -> dict[str, float]:
        r = self._http.get(self.url + "/metrics")
        r.raise_for_status()
        return parse_metrics(r.text)

    def committed(self, m: dict[str, float] | None = None) -> int:
        """Messages the engine committed (accepted + duplicate + rejected)."""
        m = self.metrics() if m is None else m
        return int(sum(v for k, v in m.items() if k.startswith("carewatch_messages_total{")))

    def rejected(self, m: dict[str, float]) -> int:
        return int(
            sum(
                v
                for k, v in m.items()
                if k.startswith("carewatch_messages_total{") and 'outcome="rejected"' in k
            )
        )

    def cpu_s(self) -> float:
        """The service's CPU time, its live ingest workers' included."""
        total = proc_cpu_s(self.pid)
        for kid in child_pids(self.pid):
            with contextlib.suppress(OSError):
                total += proc_cpu_s(kid)
        return total

    def peak_rss_mb(self) -> float:
        return proc_status_kb(self.pid, "VmHWM") / 1024

    def rss_mb(self) -> float:
        return proc_status_kb(self.pid, "VmRSS") / 1024

    def get(self, path: str, **params: Any) -> Any:
        r = self._http.get(self.url + path, params=params)
        r.raise_for_status()
        return r.json()

    def logtail(self) -> str:
        return tail(self.dir / "carewatch.log")

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, 30)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self._http.close()
