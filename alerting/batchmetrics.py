"""A Prometheus histogram fed a batch at a time.

The engine observes every message's receipt-to-commit time. prometheus_client's
`Histogram.observe` takes a lock and walks the buckets in Python per call: at 10,000
msg/s that was about 3% of the interpreter's time (py-spy, docs/performance.md). Here a
batch is counted with `bisect` under one lock, and the registry reads the counts through
the public custom-collector API, so /metrics shows the same `_bucket`, `_count`, `_sum`.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector


class BatchHistogram(Collector):
    """A histogram without labels whose observations come in batches."""

    def __init__(
        self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry
    ) -> None:
        self._name = name
        self._doc = documentation
        self._bounds = sorted(float(b) for b in buckets)
        self._counts = [0] * (len(self._bounds) + 1)  # the last: above every bound (+Inf)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, amounts: Iterable[float]) -> None:
        """Count every amount in its bucket (an amount equal to a bound is in that bound's)."""
        find, bounds = bisect.bisect_left, self._bounds
        with self._lock:
            counts, total = self._counts, self._sum
            for a in amounts:
                counts[find(bounds, a)] += 1
                total += a  # in order, one by one: the same float sum as Histogram's
            self._sum = total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The cumulative buckets, as a Prometheus histogram (the registry calls this)."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, running = [], 0
        for bound, n in zip([*map(_le, self._bounds), "+Inf"], counts, strict=True):
            running += n
            cumulative.append((bound, running))
        yield HistogramMetricFamily(self._name, self._doc, buckets=cumulative, sum_value=total)


def _le(bound: float) -> str:
    return repr(bound) if bound != int(bound) else f"{bound:.1f}"
