"""Rules raised by checks outside the message stream (`kind: observed`): the day's
check-in not made, a welfare visit missed. The check says whether the rule holds for a
subject; the engine raises, audits, escalates and clears like any alert."""

from __future__ import annotations

from pathlib import Path

from alerting.defaults import default_rules
from alerting.items import Observed
from alerting.rules import ObservedRule
from alerting.ruleset import RuleSet
from tests.engine_harness import Harness


def _rules() -> RuleSet:
    return RuleSet(
        [*default_rules(), ObservedRule(name="welfare_probe", severity="low", priority="routine")]
    )


def test_an_observed_rule_raises_while_the_check_says_it_holds_and_clears_after(
    tmp_path: Path, registry
):
    h = Harness(tmp_path / "cw.db", registry, rules=_rules())
    dev = registry.devices()[0]
    r = h.engine.process(
        [Observed(dev.site, "welfare_probe", dev.id, True, "no check-in by 10:00")]
    )
    assert r.results[0].ok
    h.changes += r.changes
    [alert] = h.open("welfare_probe")
    assert (alert.device_id, alert.value, alert.severity) == (dev.id, "no check-in by 10:00", "low")
    assert alert.room == dev.room  # filed under the device: the screen places it
    # the escalation of its severity runs: the alert is the screen's first step
    assert [c.target for c in h.actions("escalate")] == ["duty_screen"]
    # the check repeats itself: still one alert
    h.engine.process([Observed(dev.site, "welfare_probe", dev.id, True, "no check-in by 10:00")])
    assert len(h.open("welfare_probe")) == 1
    h.engine.process([Observed(dev.site, "welfare_probe", dev.id, False)])
    assert [a.state for a in h.open("welfare_probe")] == ["cleared_unack"]
    # it survives a restart like any alert
    h.restart()
    assert [a.rule for a in h.engine.open_alerts()] == ["welfare_probe"]


def test_an_unknown_or_disabled_observed_rule_raises_nothing(tmp_path: Path, registry):
    off = ObservedRule(name="welfare_probe", severity="low", enabled=False)
    h = Harness(tmp_path / "cw.db", registry, rules=RuleSet([*default_rules(), off]))
    dev = registry.devices()[0]
    for name in ("welfare_probe", "no_such_rule", "fall"):
        h.engine.process([Observed(dev.site, name, dev.id, True)])
    assert h.engine.open_alerts() == []
