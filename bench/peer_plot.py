"""docs/peer-vs-nodered.png from a bench.peer result: CareWatch beside the Node-RED peer.

    python -m bench.peer_plot [bench/results/peer-....json] [--out docs/peer-vs-nodered.png]

Without a file: the newest bench/results/peer-*.json with both systems. Left: alarm
(fall) publish -> webhook p50 and p99 at each background load, medians of the runs with
their min-max as bars, the issue's 5 ms p99 goal at 1,000 msg/s as a line. Right: the
sustained rate each system kept up with, and the alarms lost on kill -9 written above.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import Patch

from bench.common import RESULTS
from bench.plot import cli, save

COLOURS = {"carewatch": "tab:blue", "node-red": "tab:orange"}
NAMES = {"carewatch": "CareWatch", "node-red": "Node-RED peer"}


def newest() -> Path:
    for path in sorted(RESULTS.glob("peer-*.json"), reverse=True):
        if len(json.loads(path.read_text()).get("summary", {})) >= 2:
            return path
    raise SystemExit("no bench/results/peer-*.json with both systems: run make bench-peer")


def _bar(ax: Any, x: float, f: dict[str, float] | None, colour: str, hatch: str = "") -> None:
    if not f:
        return
    err = [[f["median"] - f["min"]], [f["max"] - f["median"]]]
    ax.bar(x, f["median"], 0.18, yerr=err, color=colour, hatch=hatch, capsize=3, alpha=0.85)


def plot(doc: dict[str, Any], out: Path) -> None:
    summary: dict[str, dict[str, Any]] = doc["summary"]
    systems = [s for s in ("carewatch", "node-red") if s in summary]
    loads = [int(x) for x in doc["args"]["loads"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6), dpi=110, width_ratios=[2, 1])
    for i, load in enumerate(loads):
        for j, s in enumerate(systems):
            for k, (q, hatch) in enumerate((("p50", ""), ("p99", "//"))):
                x = i + (j * 2 + k - 1.5) * 0.2
                _bar(left, x, summary[s].get(f"latency_{load}_{q}_ms"), COLOURS[s], hatch)
    left.axhline(5, color="k", ls=":", lw=1)
    left.text(-0.45, 5.2, "p99 goal 5 ms at 1,000 msg/s", fontsize=7)
    left.set_xticks(range(len(loads)))
    left.set_xticklabels([f"{x:,} msg/s" for x in loads])
    left.set_ylabel("fall: publish -> webhook arrival, ms")
    left.set_title("alarm latency under telemetry (plain p50, hatched p99)", fontsize=9)
    left.legend(handles=[Patch(color=COLOURS[s], label=NAMES[s]) for s in systems], fontsize=8)
    left.grid(True, axis="y", alpha=0.3)
    for j, s in enumerate(systems):
        f = summary[s].get("sustained_msg_s")
        _bar(right, j, f, COLOURS[s])
        lost = summary[s].get("kill_lost")
        if f and lost:
            right.text(
                j, f["max"] * 1.02, f"kill -9: {lost['median']:.0f} lost", ha="center", fontsize=7
            )
    right.set_xticks(range(len(systems)))
    right.set_xticklabels([NAMES[s] for s in systems], fontsize=8)
    right.set_ylabel("sustained telemetry, msg/s (kept up)")
    right.set_title("throughput", fontsize=9)
    right.grid(True, axis="y", alpha=0.3)
    m = doc["machine"]
    runs = doc["args"].get("runs")
    fig.suptitle(
        f"CareWatch beside the Node-RED peer, one run after the other on one machine"
        f" ({m['nproc']} cores); median of {runs} runs, bars min-max ({out.stem})",
        fontsize=9,
    )
    save(fig, out)


def main() -> None:
    cli("peer-vs-nodered.png", newest, plot)


if __name__ == "__main__":
    main()
