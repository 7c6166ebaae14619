"""What every phase does alike: log lines, a figure's median and range over runs, a run
measured when the machine is quiet, and the search phases' runs (later runs start where
the earlier ones ended)."""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import spread
from bench.host import CpuWatch, wait_quiet


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fig(xs: list[float]) -> dict[str, float]:
    return spread([x for x in xs if x is not None and not math.isnan(x)])


def run_search(
    args: argparse.Namespace,
    what: str,
    one: Callable[[argparse.Namespace, int | None], dict[str, Any]],
    duration: float,
) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        quiet = wait_quiet(args.wait_quiet)
        # later runs start where the earlier ones ended, without the probe
        start = None
        if runs:
            start = max(args.step, int(statistics.median(r["rate"] for r in runs)))
            start = start // args.step * args.step
        r = one(args, start)
        r["others_cpu_before"] = quiet
        runs.append(r)
        log(f"{what} run {i + 1}: keeps up at {r['rate']} msg/s")
    best = [r["at_best"] for r in runs if r.get("at_best")]
    return {
        "runs": runs,
        "rate": fig([r["rate"] for r in runs]),
        # runs that found a rate the consumer could not keep up with, above its best
        "fell_behind": sum(1 for r in runs if r.get("fell_behind_at") is not None),
        # at each run's best step: CPU per message, and what others used meanwhile
        "cpu_s_per_1000": fig([b["cpu_s_per_1000"] for b in best]) if best else None,
        "others_cores": fig([b["others_cpu"]["mean_cores"] for b in best]) if best else None,
        "step": args.step,
        "duration_s": duration,
    }


def measured(
    args: argparse.Namespace, fn: Callable[..., dict[str, Any]], *a: Any
) -> dict[str, Any]:
    """One run when the machine is quiet (or after --wait-quiet s), with the CPU that other
    processes used meanwhile."""
    quiet = wait_quiet(args.wait_quiet)
    with CpuWatch() as others:
        r = fn(args, *a)
    r["others_cpu"] = others.summary() | {"before_cores": quiet}
    return r
