"""The figures over runs (median [min-max]) and the one side-by-side table."""

from __future__ import annotations

from typing import Any

from bench.common import percentile
from bench.throughput.runs import fig


def summarize(runs: list[dict[str, Any]], system: str, loads: list[int]) -> dict[str, Any]:
    """Each figure of `system` over the runs that measured it."""
    mine = [r[system] for r in runs if system in r]
    out: dict[str, Any] = {}

    def put(name: str, xs: list[Any]) -> None:
        vals = [float(x) for x in xs if x is not None]
        if vals:
            out[name] = fig(vals)

    sus = [r["sustained"] for r in mine if "sustained" in r]
    put("sustained_msg_s", [s["rate"] for s in sus])
    if sus:
        out["sustained_capped_runs"] = sum(1 for s in sus if s.get("capped"))
    put("peak_rss_mb", [s["peak_rss_mb"] for s in sus])
    put("max_sampled_rss_mb", [s["max_sampled_rss_mb"] for s in sus])
    for load in loads:
        lat = [r["latency"][str(load)] for r in mine if str(load) in r.get("latency", {})]
        for q in ("p50_ms", "p99_ms", "max_ms", "missing"):
            put(f"latency_{load}_{q}", [x[q] for x in lat])
        # every run's falls together: a run's p99 of a few hundred falls rests on its two or
        # three slowest, so it swings more from run to run than the systems differ
        pooled = [ms for x in lat for ms in x.get("ms", [])]
        if pooled:
            out[f"latency_{load}_pooled_p99_ms"] = percentile(pooled, 99)
            out[f"latency_{load}_pooled_n"] = len(pooled)
    kill = [r["kill"] for r in mine if "kill" in r]
    for k in ("lost", "doubled", "repeated", "restart_s", "last_first_arrival_s"):
        put(f"kill_{k}", [x.get(k) for x in kill])
    return out


def cell(f: dict[str, float] | None, digits: int = 0) -> str:
    if not f:
        return "-"
    m, lo, hi = (f"{f[k]:.{digits}f}" for k in ("median", "min", "max"))
    return m if f["n"] == 1 or lo == hi else f"{m} [{lo}-{hi}]"


def _pooled(s: dict[str, Any], load: int) -> str:
    p = s.get(f"latency_{load}_pooled_p99_ms")
    return "-" if p is None else f"{p:.1f} (n={s[f'latency_{load}_pooled_n']})"


def table(summary: dict[str, dict[str, Any]], loads: list[int]) -> str:
    """Rows: the figures; columns: the systems."""
    names = list(summary)
    rows: list[tuple[str, list[str]]] = [
        ("sustained msg/s (kept up)", [cell(summary[n].get("sustained_msg_s")) for n in names]),
        (
            "  runs stopped by the harness, not it",
            [str(summary[n].get("sustained_capped_runs", "-")) for n in names],
        ),
        ("peak RSS, sustained (VmHWM) MB", [cell(summary[n].get("peak_rss_mb")) for n in names]),
        (
            "max sampled RSS, sustained MB",
            [cell(summary[n].get("max_sampled_rss_mb")) for n in names],
        ),
    ]
    for load in loads:
        for q in ("p50", "p99", "max"):
            rows.append(
                (
                    f"fall -> webhook @{load} msg/s {q} ms",
                    [cell(summary[n].get(f"latency_{load}_{q}_ms"), 1) for n in names],
                )
            )
        rows.append(
            (
                f"  p99 of all runs' falls @{load} ms",
                [_pooled(summary[n], load) for n in names],
            )
        )
        rows.append(
            (
                f"  falls not arrived @{load} msg/s",
                [cell(summary[n].get(f"latency_{load}_missing")) for n in names],
            )
        )
    for k, label in (
        ("lost", "kill -9: alarms lost"),
        ("doubled", "kill -9: alarms doubled (2 alerts)"),
        ("repeated", "kill -9: same alert re-delivered"),
        ("restart_s", "kill -9: restart to up, s"),
        ("last_first_arrival_s", "kill -9: last fall arrived after, s"),
    ):
        rows.append(
            (
                label,
                [cell(summary[n].get(f"kill_{k}"), 1 if k.endswith("_s") else 0) for n in names],
            )
        )
    w0 = max(len(r[0]) for r in rows)
    ws = [max(len(n), *(len(r[1][i]) for r in rows)) for i, n in enumerate(names)]
    lines = [" | ".join([" " * w0, *(n.rjust(w) for n, w in zip(names, ws, strict=True))])]
    lines.append("-+-".join(["-" * w0, *("-" * w for w in ws)]))
    for label, cells in rows:
        lines.append(
            " | ".join([label.ljust(w0), *(c.rjust(w) for c, w in zip(cells, ws, strict=True))])
        )
    return "\n".join(lines)
