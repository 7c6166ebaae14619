"""The machine the benchmarks run on: CPU time and memory of processes from /proc, what
the machine is, and how much CPU other processes use (the machine may be shared: figures
are recorded next to what others used meanwhile)."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import threading
import time
from typing import Any, Self

CLK_TCK = os.sysconf("SC_CLK_TCK")


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


class Sampler:
    """A thread that runs `_run` while the `with` block runs; `_stop` ends it. The shape of
    every watcher the benchmarks keep beside a load (CPU of others, a process's RSS)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        raise NotImplementedError


class CpuWatch(Sampler):
    """Cores busy with work that is not ours (other people's tests on a shared machine),
    sampled every `interval` seconds while running."""

    def __init__(self, interval: float = 1.0) -> None:
        super().__init__()
        self.samples: list[float] = []
        self._interval = interval

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
