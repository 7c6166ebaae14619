"""What every benchmark shares: where results go, the statistics of a figure over runs,
and waiting for a condition. The parts by role: bench/host.py (the machine: /proc figures
and the CPU other processes use), bench/servers.py (InfluxDB and `carewatch serve` as child
processes, generated sites), bench/loads.py (load-generator and bare-subscriber processes).

Everything runs on loopback with its data in a temp dir: mosquitto through
ingest.broker.MosquittoProcess, influxd like tests/servers.py starts it (copied, the tests
are not a library), the service as `python -m carewatch serve --config FILE`.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"


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


def tail(path: Path, n: int = 3000) -> str:
    """The end of a child process's log, for an error message."""
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"
