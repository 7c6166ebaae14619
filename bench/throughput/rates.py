"""Keeping up: one rate step offered to a consumer (the ceiling's bare subscriber or the
service, measured alike), and the search for the highest rate it keeps up with."""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.common import slope, wait_until
from bench.host import CpuWatch, proc_cpu_s
from bench.loads import Load, Sink
from bench.throughput.runs import log
from bench.throughput.stack import Stack


class Consumer:
    """What a rate step watches: a count of messages handled (acked after handling), and
    for the service its queue, spool and InfluxDB."""

    name = "consumer"

    def count(self) -> int:
        raise NotImplementedError

    def gauges(self) -> dict[str, float]:
        return {}

    def cpu_s(self) -> float:
        raise NotImplementedError

    def stored(self, t0_ms: int, t1_ms: int) -> int | None:
        """Telemetry points stored in InfluxDB with device times in [t0_ms, t1_ms]."""
        return None


class SinkConsumer(Consumer):
    name = "bare subscriber"

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def count(self) -> int:
        return self.sink.count()  # its own report, at most 0.25 s old

    def cpu_s(self) -> float:
        return proc_cpu_s(self.sink.proc.pid)


class ServiceConsumer(Consumer):
    name = "carewatch"

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._last: dict[str, float] = {}

    def count(self) -> int:
        self._last = self.stack.service.metrics()
        return self.stack.service.committed(self._last)

    def gauges(self) -> dict[str, float]:
        m = self._last
        return {
            "engine_queue": m.get("carewatch_engine_queue", 0.0),
            "spool": m.get("carewatch_spool_backlog", 0.0),
            "rejected": float(self.stack.service.rejected(m)),
        }

    def cpu_s(self) -> float:
        return self.stack.service.cpu_s()

    def stored(self, t0_ms: int, t1_ms: int) -> int | None:
        assert self.stack.db is not None
        return self.stack.db.count_points(t0_ms, t1_ms)


def step(consumer: Consumer, port: int, rate: int, duration: float) -> dict[str, Any]:
    """Offer `rate` msg/s for `duration` s: does the consumer keep up?

    Backlog = messages the broker acknowledged to the publishers - messages the consumer
    handled: the broker's queue for the consumer plus what is in flight or queued inside
    it. Keeps up when the publishers kept the rate, the backlog and the spool did not grow
    over the second half by more than half a second of load (their least-squares trend:
    the counts read are up to 0.25 s old), the backlog at the end is at most a second of
    load (or 5,000), and afterwards every message is handled (and, for the service, none
    rejected and every point in InfluxDB)."""
    c0 = consumer.count()
    g0 = consumer.gauges()
    cpu0 = consumer.cpu_s()
    load = Load(port, rate, 10_000, duration_s=duration)
    samples: list[dict[str, Any]] = []
    t_start = time.time()
    nxt = time.monotonic() + 1
    with CpuWatch() as others:
        while any(c.proc.poll() is None for c in load.children):
            time.sleep(max(0.0, nxt - time.monotonic()))
            nxt += 1
            handled = consumer.count() - c0
            s = {"t": time.time(), "acked": load.acked(), "handled": handled}
            s["lag"] = s["acked"] - handled
            s.update(consumer.gauges())
            samples.append(s)
            if s["t"] - t_start > 10 and s["lag"] > rate * 10:
                load.stop()
                first = samples[min(3, len(samples) - 1)]
                return {
                    "rate": rate,
                    "keeps_up": False,
                    "why": f"backlog {s['lag']} > 10 s of load after {s['t'] - t_start:.0f} s",
                    "aborted": True,
                    "handled_rate": (s["handled"] - first["handled"])
                    / max(1e-9, s["t"] - first["t"]),
                    "max_lag": max(x["lag"] for x in samples),
                    "others_cpu": others.summary(),
                    "samples": samples,
                }
    res = load.wait()
    t_end = time.monotonic()
    all_handled = wait_until(lambda: consumer.count() - c0 >= res["published"], 60, 0.2)
    if "spool" in g0:  # count() reads /metrics, gauges() what it read
        wait_until(lambda: consumer.count() >= 0 and consumer.gauges()["spool"] == 0, 60, 0.2)
    drain_s = time.monotonic() - t_end
    handled = consumer.count() - c0
    g1 = consumer.gauges()
    cpu = consumer.cpu_s() - cpu0
    tail = [s for s in samples if s["t"] >= t_start + duration / 2]
    lag_slope = slope([(s["t"], s["lag"]) for s in tail])
    spool_slope = slope([(s["t"], s.get("spool", 0.0)) for s in tail])
    window = [s for s in samples if t_start + 3 <= s["t"] <= t_start + duration - 1]
    rate_in = (
        (window[-1]["handled"] - window[0]["handled"]) / (window[-1]["t"] - window[0]["t"])
        if len(window) >= 2
        else 0.0
    )
    span = tail[-1]["t"] - tail[0]["t"] if len(tail) >= 2 else 0.0
    allowed = max(0.5 * rate, 1000)  # growth over the second half within the noise
    checks = {
        "publisher_kept_rate": res["achieved_rate"] >= 0.97 * rate,
        "backlog_flat": lag_slope * span <= allowed,
        "backlog_small_at_end": (tail[-1]["lag"] if tail else 0) <= max(5000, rate),
        "spool_flat": spool_slope * span <= allowed,
        "all_handled": all_handled and handled == res["published"],
    }
    points = consumer.stored(int(res["t0"] * 1000) - 1, int(res["t1"] * 1000) + 1)
    if "rejected" in g0:
        checks["none_rejected"] = g1["rejected"] == g0["rejected"]
    if points is not None:
        checks["all_in_influx"] = points == res["published"]
    why = [k for k, v in checks.items() if not v]
    return {
        "rate": rate,
        "keeps_up": not why,
        "why": ", ".join(why),
        "checks": checks,
        "published": res["published"],
        "published_rate": res["achieved_rate"],
        "handled_rate": rate_in,
        "handled": handled,
        "influx_points": points,
        "lag_slope_per_s": lag_slope,
        "spool_slope_per_s": spool_slope,
        "max_lag": max((s["lag"] for s in samples), default=0),
        "max_engine_queue": max((s.get("engine_queue", 0) for s in samples), default=0),
        "max_spool": max((s.get("spool", 0) for s in samples), default=0),
        "drain_after_s": drain_s,
        "cpu_s_per_1000": cpu / handled * 1000 if handled else None,
        "loadgen_cpu_s_per_1000": res["cpu_s"] / res["published"] * 1000,
        "others_cpu": others.summary(),
        "samples": samples,
    }


def settle(consumer: Consumer, timeout_s: float = 180) -> bool:
    """After a failed step: until the consumer has worked off what the broker holds for it
    (its count stands still for 2 s, its queue and spool are empty)."""

    def still() -> bool:
        a = consumer.count()
        time.sleep(2)
        b = consumer.count()
        g = consumer.gauges()
        return a == b and g.get("engine_queue", 0) == 0 and g.get("spool", 0) == 0

    return wait_until(still, timeout_s, 0)


NO_CAP = 1_000_000  # a guard, not a limit: loopback MQTT is far below it


def search(
    consumer: Consumer,
    port: int,
    args: argparse.Namespace,
    duration: float,
    start: int | None,
    cap: int | None = None,
) -> dict[str, Any]:
    """The highest rate (multiple of --step) at which the consumer keeps up for `duration`.

    Without a `start`, a probe first climbs --probe-rates (--probe-duration each) to the
    last one kept up with; then full-length steps go up from there while it keeps up, or
    down while it does not. `cap` stops the climb (the service's search, --max-rate);
    without one it goes on until the consumer falls behind: a ceiling that never fell
    behind is not a ceiling, so `fell_behind_at` says where it did (None: it did not)."""
    cap = NO_CAP if cap is None else cap
    probe: list[dict[str, Any]] = []
    if start is None:
        start = args.step
        for rate in args.probe_rates:
            r = step(consumer, port, rate, args.probe_duration)
            probe.append(r)
            log(f"  probe {rate} msg/s: {'ok' if r['keeps_up'] else 'behind: ' + r['why']}")
            if not r["keeps_up"]:
                settle(consumer)
                break
            start = rate
    tested: dict[int, dict[str, Any]] = {}
    rate = start
    while args.step <= rate <= cap and rate not in tested:
        r = step(consumer, port, rate, duration)
        tested[rate] = r
        log(
            f"  {rate} msg/s for {duration:.0f} s: "
            f"{'keeps up' if r['keeps_up'] else 'falls behind'}"
            f" (handled {r.get('handled_rate', 0):.0f} msg/s, max backlog {r.get('max_lag', 0)},"
            f" others' CPU {r['others_cpu']['mean_cores']:.2f} cores) {r['why']}"
        )
        if r["keeps_up"]:
            rate += args.step
        else:
            if not settle(consumer):
                log("  backlog did not drain in 180 s: this run ends")
                break
            rate -= args.step
        if rate in tested:
            break
    passing = [r for r, v in tested.items() if v["keeps_up"]]
    best = max(passing, default=0)
    behind = [r for r, v in tested.items() if not v["keeps_up"] and r > best]
    return {
        "rate": best,
        "fell_behind_at": min(behind, default=None),
        "at_best": tested.get(best),
        "steps": [tested[r] for r in sorted(tested)],
        "probe": probe,
    }
