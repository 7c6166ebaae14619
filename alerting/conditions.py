"""What a condition that lasts says: thresholds, rates and time windows over readings, and
any rule with an on-delay, each kept by on-delay, hysteresis and off-delay.

Split from the engine so the engine reads as its batch and this module as the level
logic. The delays are deadlines (rows), so a restart resumes them; the rate windows and
the inactivity counters are in memory only, and a restart starts them afresh
(docs/rules.md).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo

from alerting.deadlines import OFF, ON, Deadline, Deadlines
from alerting.lifecycle import CALM, Lifecycle
from alerting.rules import (
    AnyRule,
    EventRule,
    LevelRule,
    RateRule,
    ThresholdRule,
    TimeWindowRule,
    threshold_verdict,
)
from devices.model import Reading, Scalar
from devices.registry import Device

Judge = Callable[[float | bool | str], tuple[bool, bool]]  # v -> (breached, cleared)

# raise(rule, site, subject, now, value text, device or None): the engine's raising
Raise = Callable[[AnyRule, str, str, int, str, Device | None], None]


def fmt(v: Scalar) -> str:
    """A reading's value as the alert shows it (`pressure_mpa=0.08`)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"{v:g}" if isinstance(v, float) else str(v)


class Conditions:
    """Level-like rules of one engine: fed readings (and events with an on-delay), they
    raise through `raise_` and clear through the lifecycle."""

    def __init__(
        self, life: Lifecycle, deadlines: Deadlines, zone: Callable[[str], tzinfo], raise_: Raise
    ) -> None:
        self._life = life
        self._deadlines = deadlines
        self._zone = zone  # a site's time zone (time-window rules)
        self._raise = raise_
        self._samples: dict[tuple[str, str, str], deque[tuple[int, float]]] = {}
        self._counters: dict[tuple[str, str, str], float] = {}
        # a threshold rule's verdict function (rules.threshold_verdict), by the rule's id
        self._verdicts: dict[int, tuple[ThresholdRule, Judge]] = {}

    def remember_counters(self, levels: Sequence[LevelRule], dev: Device, d: Reading) -> None:
        """After every rule has seen a reading: its inactivity counters (e.g. steps) become
        the values the next reading is compared with."""
        for level in levels:
            if isinstance(level, ThresholdRule) and level.inactive_field:
                v = d.fields.get(level.inactive_field)
                if isinstance(v, float):
                    self._counters[(dev.site, dev.id, level.inactive_field)] = v

    def reading(
        self, rule: ThresholdRule | RateRule | TimeWindowRule, dev: Device, d: Reading, now: int
    ) -> None:
        """One rule's verdict on one reading of the field it watches."""
        v = d.fields.get(rule.field)
        if v is None:
            return
        if isinstance(rule, ThresholdRule):
            known = self._verdicts.get(id(rule))
            if known is None or known[0] is not rule:  # the rule itself kept: ids not reused
                known = self._verdicts[id(rule)] = (rule, threshold_verdict(rule))
            breached, cleared = known[1](v)
            breached = breached and not self._moved(rule, dev, d)
            key = (rule.name, dev.site, dev.id)
            if cleared and not breached and not self._life.is_clearable(key):
                # the usual reading: normal, nothing open; only a pending on-delay to drop
                self._deadlines.cancel((ON, *key))
                return
            text = f"{rule.field}={fmt(v)}" if breached else ""  # shown only when raised
            self.level(
                rule,
                dev.site,
                dev.id,
                breached,
                cleared,
                text,
                now,
                rule.for_s,
                rule.clear_for_s,
                dev,
            )
        elif isinstance(rule, RateRule):
            if not isinstance(v, float):
                return
            rate = self._rate(rule, dev, d.ts_ms, v)
            if rate is None:
                return
            breached = (
                rate <= -rule.per_min if rule.direction == "falling" else rate >= rule.per_min
            )
            text = f"{rule.field} {rate:+.3g}/min"
            self.level(
                rule, dev.site, dev.id, breached, not breached, text, now, 0, rule.clear_for_s, dev
            )
        else:
            allowed = {a.replace("{room}", dev.room) for a in rule.allowed}
            inside = fmt(v) in allowed or str(v) in allowed  # a bool as `true` / `false`
            local = datetime.fromtimestamp(now / 1000, self._zone(dev.site)).time()
            breached = not inside and rule.contains(local)
            text = f"{rule.field}={fmt(v)}"
            self.level(rule, dev.site, dev.id, breached, inside, text, now, rule.for_s, 0, dev)

    def _moved(self, rule: ThresholdRule, dev: Device, d: Reading) -> bool:
        """The inactivity counter (e.g. steps) rose since the device's previous reading."""
        if rule.inactive_field is None:
            return False
        cur = d.fields.get(rule.inactive_field)
        prev = self._counters.get((dev.site, dev.id, rule.inactive_field))
        return isinstance(cur, float) and prev is not None and cur > prev

    def _rate(self, rule: RateRule, dev: Device, ts: int, v: float) -> float | None:
        """Units per minute over the rule's window, once it spans at least min_span_s."""
        samples = self._samples.setdefault((rule.name, dev.site, dev.id), deque())
        if samples and ts <= samples[-1][0]:
            return None  # out of order or repeated: no slope from it
        samples.append((ts, v))
        horizon = ts - int(rule.window_s * 1000)
        while samples and samples[0][0] < horizon:
            samples.popleft()
        t0, v0 = samples[0]
        span = ts - t0
        if span < rule.min_span_s * 1000:
            return None
        return (v - v0) / (span / 60_000)

    def level(
        self,
        rule: LevelRule | EventRule,
        site: str,
        subject: str,
        breached: bool,
        cleared: bool,
        text: str,
        now: int,
        for_s: float,
        clear_for_s: float,
        dev: Device | None,
    ) -> None:
        """A condition that holds for a while: on-delay to raise, hysteresis or off-delay
        to clear. Both delays are deadlines, so they survive a restart."""
        key = (rule.name, site, subject)
        if breached:
            if self._life.update_value(key, text, now):
                return
            if for_s <= 0:
                self._raise(rule, site, subject, now, text, dev)
                return
            pending = self._deadlines.get((ON, *key))
            if pending is None:
                due = now + int(for_s * 1000)
                self._deadlines.set(Deadline(ON, rule.name, site, subject, due, now, text))
            else:
                pending.value = text
            return
        self._deadlines.cancel((ON, *key))
        if not cleared:  # inside the hysteresis band: not normal, the off-delay starts over
            off = self._deadlines.get((OFF, *key))
            if off is not None and off.value != CALM:
                self._deadlines.cancel((OFF, *key))
            return
        if self._life.is_clearable(key):
            if clear_for_s <= 0:
                self._life.condition_gone(rule.name, site, subject, now)
            elif self._deadlines.get((OFF, *key)) is None:
                due = now + int(clear_for_s * 1000)
                self._deadlines.set(Deadline(OFF, rule.name, site, subject, due, now, "off"))
