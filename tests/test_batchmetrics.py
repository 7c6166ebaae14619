"""The engine's batch histogram shows on /metrics exactly what prometheus_client's own
Histogram would, fed the same amounts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from alerting.batchmetrics import BatchHistogram

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def _exposed(registry: CollectorRegistry) -> list[str]:
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(
        st.lists(
            st.one_of(st.sampled_from(BUCKETS), st.floats(0, 20, allow_nan=False)), max_size=30
        ),
        max_size=5,
    )
)
def test_batches_show_the_same_buckets_count_and_sum_as_one_by_one(batches):
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    one_by_one = Histogram("lag_seconds", "lag", buckets=BUCKETS, registry=theirs)
    batched = BatchHistogram("lag_seconds", "lag", BUCKETS, ours)
    for batch in batches:
        for amount in batch:
            one_by_one.observe(amount)
        batched.observe_many(batch)
    assert _exposed(ours) == _exposed(theirs)
