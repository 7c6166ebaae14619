"""Load-generator processes (bench/loadgen.py) and the ceiling's bare subscriber
(bench/sink.py), each a child process reporting JSON lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT
from ingest.broker import stop_process

LOADGEN_CLIENT = "raw"  # bench/loadgen.py --client: raw (cheap) or paho (the simulators')


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
    """`procs` load-generator processes sharing `rate` msg/s and the devices 0..devices-1
    (the bench site's wearables, or the devices of `sites`: bench/loadgen.py --sites)."""

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
        sites: Path | None = None,
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
            if sites is not None:
                argv += ["--sites", str(sites)]
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
