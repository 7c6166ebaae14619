"""What the benchmarks share: a private InfluxDB, `carewatch serve` as a child process with
its /metrics and /proc figures, the load-generator and bare-subscriber processes, big
generated sites, and statistics.

Everything runs on loopback with its data in a temp dir: mosquitto through
ingest.broker.MosquittoProcess, influxd like tests/servers.py starts it (copied, the tests
are not a library), the service as `python -m carewatch serve --config FILE`.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from ingest.broker import free_port, stop_process
from ingest.influx import influxd_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
SITE = "bench"
TOKEN = "bench-token-0123456789"  # noqa: S105 - a loopback benchmark's admin token
WEBHOOK_SECRET = "bench-secret-0123456789"  # noqa: S105 - a loopback test receiver's key
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOADGEN_CLIENT = "raw"  # bench/loadgen.py --client: raw (cheap) or paho (the simulators')


# --- statistics ---------------------------------------------------------------------------


def percentile(xs: Sequence[float], p: float) -> float:
    """Nearest-rank on the sorted values (p in 0..100)."""
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def spread(xs: Sequence[float]) -> dict[str, float]:
    """Median and range of a figure over runs."""
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over t (units of y per second)."""
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


# --- processes ----------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """utime + stime of a process (seconds), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def child_pids(pid: int) -> list[int]:
    """The live children of a process (its ingest workers), from /proc."""
    kids: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return kids


def proc_status_kb(pid: int, key: str) -> int:
    """A `kB` line of /proc/<pid>/status, e.g. VmHWM (peak RSS) or VmRSS."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def machine() -> dict[str, Any]:
    def first(path: str, prefix: str) -> str:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(prefix):
                        return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    def version(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    return {
        "nproc": os.cpu_count(),
        "cpu": first("/proc/cpuinfo", "model name"),
        "mem_total": first("/proc/meminfo", "MemTotal"),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "mosquitto": version(["/usr/sbin/mosquitto", "-h"]),
        "influxd": version(["influxd", "version"]),
    }


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
                raise RuntimeError("influxd exited:\n" + _tail(self.dir / "influxd.log"))
            try:
                if httpx.get(self.url + "/ping", timeout=0.5).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("influxd not ready:\n" + _tail(self.dir / "influxd.log"))

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


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


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
    """`python -m carewatch serve --config FILE` with a generated site, against a broker and
    (optionally) InfluxDB; the figures the benchmarks read from it."""

    def __init__(
        self,
        tmp: Path,
        mqtt_url: str,
        wearables: int,
        influx_url: str | None,
        webhook_url: str | None = None,
        workers: int = 0,
    ) -> None:
        self.dir = tmp
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        (tmp / "site.yaml").write_text(site_yaml(wearables), encoding="utf-8")
        (tmp / "rules.yaml").write_text(rules_yaml(webhook_url), encoding="utf-8")
        lines = [
            "site_file: site.yaml",
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
        self.started_at = 0.0
        self._http = httpx.Client(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
        env["BENCH_SECRET"] = WEBHOOK_SECRET
        log = (self.dir / "carewatch.log").open("ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "carewatch", "serve", "--config", str(self.config)],
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
                raise RuntimeError("carewatch exited:\n" + _tail(self.dir / "carewatch.log"))
            try:
                if self._http.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - self.started_at
            except httpx.HTTPError:
                pass
            time.sleep(poll_s)
        raise TimeoutError("carewatch not ready:\n" + _tail(self.dir / "carewatch.log"))

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

    def log_tail(self) -> str:
        return _tail(self.dir / "carewatch.log")

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, 30)
        self.proc = None

    def close(self) -> None:
        self.stop()
        self._http.close()


# --- load generators and the bare subscriber ----------------------------------------------


class _Lines:
    """A child process printing JSON lines; keeps the last one."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True
        )
        self.last: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            self.last = doc
            self.history.append(doc)

    def wait(self, timeout_s: float) -> int:
        code = self.proc.wait(timeout_s)
        self._reader.join(5)
        return code

    def stderr(self) -> str:
        return self.proc.stderr.read()[-2000:] if self.proc.stderr else ""

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM, 10)  # type: ignore[arg-type]


class Load:
    """`procs` load-generator processes sharing `rate` msg/s and the devices 0..devices-1."""

    def __init__(
        self,
        port: int,
        rate: float,
        devices: int,
        duration_s: float | None = None,
        count: int | None = None,
        procs: int = 2,
        tag: str = "lg",
        client: str | None = None,
    ) -> None:
        self.rate = rate
        self.t0 = time.time()
        self.children = []
        per = devices // procs
        for i in range(procs):
            argv = [
                sys.executable,
                "-m",
                "bench.loadgen",
                "--port",
                str(port),
                "--rate",
                str(rate / procs),
                "--devices",
                f"{i * per}:{(i + 1) * per if i < procs - 1 else devices}",
                "--id",
                f"{tag}-{i}-{os.getpid()}",
                "--client",
                client or LOADGEN_CLIENT,
            ]
            if count is not None:
                argv += ["--count", str(count // procs + (1 if i < count % procs else 0))]
            else:
                argv += ["--duration", str(duration_s)]
            self.children.append(_Lines(argv))

    def acked(self) -> int:
        return sum(int(c.last.get("acked", 0)) for c in self.children)

    def wait(self, timeout_s: float = 120) -> dict[str, Any]:
        """Totals once every generator has finished and its messages are acked."""
        for c in self.children:
            if c.wait(timeout_s) != 0:
                raise RuntimeError(f"load generator failed: {c.last} {c.stderr()}")
        done = [c.last for c in self.children]
        return {
            "published": sum(int(d["published"]) for d in done),
            "acked": sum(int(d["acked"]) for d in done),
            "t0": min(float(d["t0"]) for d in done),
            "t1": max(float(d["t"]) for d in done),
            "achieved_rate": sum(float(d["achieved_rate"]) for d in done),
            "elapsed_s": max(float(d["elapsed_s"]) for d in done),
            "cpu_s": sum(float(d["cpu_s"]) for d in done),
        }

    def stop(self) -> None:
        for c in self.children:
            c.stop()


class Sink(_Lines):
    """The ceiling's bare subscriber (bench/sink.py)."""

    def __init__(self, port: int) -> None:
        super().__init__([sys.executable, "-m", "bench.sink", "--port", str(port)])

    def count(self) -> int:
        return int(self.last.get("count", 0))


def wait_until(pred: Any, timeout_s: float, poll_s: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(poll_s)
    return bool(pred())


def write_result(name: str, doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2))
    return path


# --- the machine is shared: how much CPU did others use? ----------------------------------


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    total = sum(vals[:8])  # user nice system idle iowait irq softirq steal
    return total - vals[3] - vals[4], total


def own_cpu_s() -> float:
    """CPU seconds of this process and its children, live or reaped."""
    t = os.times()
    mine = t.user + t.system + t.children_user + t.children_system
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:  # ppid
            mine += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return mine


class CpuWatch:
    """Cores busy with work that is not ours (other people's tests on a shared machine),
    sampled every `interval` seconds while running."""

    def __init__(self, interval: float = 1.0) -> None:
        self.samples: list[float] = []
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        busy0, _ = _busy_jiffies()
        mine0, t0 = own_cpu_s(), time.monotonic()
        while not self._stop.wait(self._interval):
            busy1, _ = _busy_jiffies()
            mine1, t1 = own_cpu_s(), time.monotonic()
            foreign = ((busy1 - busy0) / CLK_TCK - (mine1 - mine0)) / (t1 - t0)
            self.samples.append(max(0.0, foreign))
            busy0, mine0, t0 = busy1, mine1, t1

    def summary(self) -> dict[str, float]:
        xs = self.samples or [0.0]
        return {"mean_cores": statistics.fmean(xs), "max_cores": max(xs)}


def foreign_cores(seconds: float = 2.0) -> float:
    busy0, _ = _busy_jiffies()
    mine0, t0 = own_cpu_s(), time.monotonic()
    time.sleep(seconds)
    busy1, _ = _busy_jiffies()
    mine1, t1 = own_cpu_s(), time.monotonic()
    return max(0.0, ((busy1 - busy0) / CLK_TCK - (mine1 - mine0)) / (t1 - t0))


def wait_quiet(max_wait_s: float, threshold: float = 0.25) -> float:
    """Wait (up to `max_wait_s`) until other processes use less than `threshold` cores;
    returns what they used at the end."""
    deadline = time.monotonic() + max_wait_s
    while True:
        f = foreign_cores()
        if f < threshold or time.monotonic() >= deadline:
            return f
