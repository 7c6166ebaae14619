"""docs/latency-vs-load.png from a bench.throughput result.

    python -m bench.plot [bench/results/throughput-....json] [--out docs/latency-vs-load.png]

Without a file: the newest bench/results/throughput-*.json that has a latency phase. Alarm
latency p50 (solid) and p99 (dashed) against the background load, per path (publish ->
committed, -> SSE client, -> webhook), medians of the runs with their min-max as bars;
the issue's p99 targets as crosses; the measured sustained rate and ceiling as vertical
lines.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from bench.common import RESULTS, ROOT

STYLE = {  # path: label, colour, x offset (factor) so that the bars do not overlap
    "commit": ("committed", "tab:blue", 0.94),
    "sse": ("SSE client", "tab:green", 1.0),
    "webhook": ("webhook", "tab:red", 1.06),
}


def newest() -> Path:
    for path in sorted(RESULTS.glob("throughput-*.json"), reverse=True):
        if "latency" in json.loads(path.read_text()):
            return path
    raise SystemExit("no bench/results/throughput-*.json with a latency phase: run make bench")


def plot(doc: dict[str, Any], out: Path) -> None:
    lat = doc["latency"]
    loads = sorted(int(k) for k in lat)
    xs = [max(x, 100) for x in loads]  # log axis: 0 msg/s is drawn at 100
    fig, ax = plt.subplots(figsize=(8, 5.4), dpi=110)
    for path, (label, color, dx) in STYLE.items():
        for q, ls in (("p50_ms", "-"), ("p99_ms", "--")):
            pts = [
                (x, lat[str(load)][path][q])
                for x, load in zip(xs, loads, strict=True)
                if q in lat[str(load)].get(path, {})
            ]
            if not pts:
                continue
            med = [p["median"] for _, p in pts]
            err = [
                [p["median"] - p["min"] for _, p in pts],
                [p["max"] - p["median"] for _, p in pts],
            ]
            ax.errorbar(
                [x * dx for x, _ in pts],
                med,
                yerr=err,
                fmt="o" + ls,
                color=color,
                capsize=3,
                markersize=4,
                label=f"{label} {q[:3]}",
            )
    targets = doc.get("targets", {}).get("latency_p99_ms", {})
    for i, (load, ms) in enumerate(sorted((int(k), v) for k, v in targets.items())):
        ax.plot([load], [ms], "kx", markersize=10, mew=2, label="p99 target" if i == 0 else None)
    for key, name, ls in (("sustained", "sustained", ":"), ("ceiling", "ceiling", "-.")):
        rate = doc.get(key, {}).get("rate", {}).get("median")
        if rate:
            ax.axvline(rate, color="grey", ls=ls, lw=1, label=f"{name} {rate:,.0f} msg/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels(["0" if x == 0 else f"{x:,}" for x in loads])
    ax.set_xlabel("background telemetry, msg/s (QoS 1)")
    ax.set_ylabel("alarm latency from publish, ms")
    m = doc["machine"]
    runs = doc["settings"]["runs"]
    others = [r["others_cpu"]["mean_cores"] for d in lat.values() for r in d["runs"]]
    busy = f"; other processes used {sum(others) / len(others):.1f} cores" if others else ""
    ax.set_title(
        f"CareWatch: alarm (fall) latency from publish, against background load\n"
        f"{m['nproc']} cores, Python {m['python']}{busy}\n"
        f"median of {runs} runs at 1k and 10k/s, bars min-max; p50 solid, p99 dashed"
        f" ({doc['name']})",
        fontsize=9,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=3, loc="upper left")
    save(fig, out)


def save(fig: Figure, out: Path) -> None:
    """Lay the figure out, write it to `out` (its folder made) and free it."""
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def cli(
    default_out: str, find: Callable[[], Path], draw: Callable[[dict[str, Any], Path], None]
) -> None:
    """`[result] [--out docs/<default_out>]`: draw the given result, else the newest."""
    ap = argparse.ArgumentParser()
    ap.add_argument("result", nargs="?", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / default_out)
    args = ap.parse_args()
    path = args.result or find()
    draw(json.loads(path.read_text()), args.out)
    print(f"wrote {args.out} from {path}")


def main() -> None:
    cli("latency-vs-load.png", newest, plot)


if __name__ == "__main__":
    main()
