"""The precomputed verdict of a threshold rule says exactly what its general methods say,
for every kind of rule and value: it only skips their type checks."""

from __future__ import annotations

import pydantic
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from alerting.rules import ThresholdRule, threshold_verdict

VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-1000, 1000),
    st.booleans(),
    st.text(max_size=5),
)


@settings(max_examples=500, deadline=None)
@given(
    op=st.sampled_from(["lt", "le", "gt", "ge", "eq", "ne"]),
    value=st.one_of(st.floats(-200, 200), st.booleans(), st.sampled_from(["on", "off"])),
    clear=st.none() | st.floats(-200, 200),
    readings=st.lists(VALUES, min_size=1, max_size=20),
)
def test_the_verdict_is_breached_and_cleared(op, value, clear, readings):
    try:
        rule = ThresholdRule(
            name="r", device_types=["wearable"], severity="high", field="f",
            op=op, value=value, clear_value=clear,
        )  # fmt: skip
    except pydantic.ValidationError:
        assume(False)  # not a rule a file could hold
        return
    verdict = threshold_verdict(rule)
    for v in readings:
        assert verdict(v) == (rule.breached(v), rule.cleared(v)), v
