"""Rule sets as data: overrides per site/floor/room/device, and check-config's messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerting.defaults import default_policies, default_rules
from alerting.rulecheck import check_file, load_rules, rule_problems
from alerting.ruleset import RuleSet
from carewatch.cli import main
from devices.yamlconf import ConfigError
from tests.conftest import DEMO_SITE, ROOT
from tests.engine_harness import Harness

EXAMPLE_RULES = ROOT / "examples" / "rules.yaml"

RULE_HEAD = """\
rules:
  - kind: threshold
    name: pressure_check
    title_zh: 水压
    title_en: Pressure
    device_types: [water_pressure]
    field: pressure_mpa
    op: lt
    severity: high
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def check(capsys, path: Path) -> tuple[int, list[str]]:
    rc = main(["check-config", str(path), "--site", str(DEMO_SITE)])
    return rc, capsys.readouterr().err.strip().splitlines()


def test_every_default_rule_fits_the_device_table():
    names = [r.name for r in default_rules()]
    for r in default_rules():
        assert rule_problems(r, names, default_policies()) == [], r.name


def test_the_example_rules_file_is_accepted(capsys):
    rc = main(["check-config", str(EXAMPLE_RULES), "--site", str(DEMO_SITE)])
    out = capsys.readouterr().out
    assert rc == 0 and "ok" in out and "4 overrides" in out


def test_unknown_field_is_named_with_file_and_line(tmp_path, capsys):
    p = write(tmp_path, RULE_HEAD + "    value: 0.1\n    colour: red\n")
    rc, err = check(capsys, p)
    assert rc == 1
    assert err == [f"{p}:11: rules.0.colour: Extra inputs are not permitted"]


def test_wrong_unit_is_named_with_its_line(tmp_path, capsys):
    p = write(tmp_path, RULE_HEAD + "    value: 0.1\n    unit: kPa\n")
    rc, err = check(capsys, p)
    assert rc == 1
    assert err == [
        f"{p}:11: rules.0.unit: wrong unit: water_pressure.pressure_mpa is in 'MPa', not 'kPa'"
    ]


def test_impossible_threshold_is_named_with_its_line(tmp_path, capsys):
    p = write(tmp_path, RULE_HEAD + "    value: 70\n")
    rc, err = check(capsys, p)
    assert rc == 1
    assert err == [
        f"{p}:10: rules.0.value: impossible threshold pressure_mpa lt 70: range is 0..4 MPa"
    ]


def test_override_problems_name_the_override(tmp_path, capsys):
    p = write(
        tmp_path,
        "overrides:\n"
        "  - rule: water_pressure_low\n"
        '    floor: "9"\n'
        "    set: {value: 0.07, clear_value: 0.08}\n"
        "  - rule: no_such_rule\n"
        "    set: {value: 1}\n"
        "  - rule: fall\n"
        "    device: p-1f-riser\n"
        "    set: {severity: high}\n"
        "  - rule: residual_current_high\n"
        "    set: {value: 20000, clear_value: 270}\n",
    )
    rc, err = check(capsys, p)
    assert rc == 1
    assert f"{p}:3: overrides.0.floor: unknown floor '9'" in err
    assert f"{p}:5: overrides.1.rule: unknown rule 'no_such_rule'" in err
    assert (
        f"{p}:8: overrides.2.device: p-1f-riser is a water_pressure; fall does not watch it" in err
    )
    assert any(e.startswith(f"{p}:11: overrides.3.set") for e in err), err


def test_unknown_time_zone_and_signal_are_rejected(tmp_path):
    p = write(
        tmp_path,
        "timezone: Mars/Olympus\n",
    )
    with pytest.raises(ConfigError, match=r"rules.yaml:1: timezone: .*unknown time zone"):
        load_rules(p)
    p = write(
        tmp_path,
        "rules:\n"
        "  - kind: repetition\n"
        "    name: many\n"
        "    title_zh: 多次\n"
        "    title_en: Many\n"
        "    signals: [fal]\n"
        "    count: 2\n"
        "    within_s: 60\n"
        "    severity: low\n",
    )
    _, problems = check_file(p)
    assert problems == [f"{p}:6: rules.0.signals.0: unknown rule 'fal'"]


def test_a_settings_file_checks_the_site_and_rules_it_names(tmp_path, capsys):
    bad = write(tmp_path, "overrides:\n  - rule: fall\n    set: {severity: urgent}\n")
    cfg = tmp_path / "carewatch.yaml"
    cfg.write_text(f"site_file: {DEMO_SITE}\nrules_file: {bad.name}\n", encoding="utf-8")
    assert main(["check-config", str(cfg)]) == 1
    assert "overrides.0.set.severity" in capsys.readouterr().err


def test_overrides_apply_by_site_then_floor_room_device(registry):
    rules = load_rules(EXAMPLE_RULES, registry)
    p1, p3 = registry.by_id("p-1f-riser"), registry.by_id("p-3f-riser")
    assert rules.for_device(p1).by_name["water_pressure_low"].value == 0.07  # site-wide
    assert rules.for_device(p3).by_name["water_pressure_low"].value == 0.10  # device
    assert "pendant_not_worn" not in rules.for_device(registry.by_id("w-101-2")).by_name
    assert "pendant_not_worn" in rules.for_device(registry.by_id("w-101-1")).by_name
    assert rules.for_device(registry.by_id("w-113-1")).by_name["night_wandering"].start == "20:00"
    assert rules.for_device(registry.by_id("w-112-1")).by_name["night_wandering"].start == "22:00"
    # devices without overrides share one resolved index
    assert rules.for_device(registry.by_id("w-102-1")) is rules.for_device(
        registry.by_id("w-103-1")
    )


def test_the_engine_follows_each_devices_own_threshold(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, rules=load_rules(EXAMPLE_RULES, registry))
    for dev in ("p-1f-riser", "p-3f-riser"):
        h.send(dev, "telemetry", '{"pressure_mpa": 0.09}')
    h.tick(31)
    assert [a.device_id for a in h.open("water_pressure_low")] == ["p-3f-riser"]
    h.send("sd-101", "telemetry", '{"temperature_c": 65}')
    h.tick(31)
    assert h.one("kitchen_hot").value == "temperature_c=65"


def test_a_disabled_rule_raises_nothing(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, rules=load_rules(EXAMPLE_RULES, registry))
    for dev in ("w-101-1", "w-101-2"):
        h.send(dev, "telemetry", '{"worn": false}')
    h.tick(601)
    assert [a.device_id for a in h.open("pendant_not_worn")] == ["w-101-1"]


def test_rule_titles_exist_in_both_languages():
    rules = RuleSet.defaults()
    assert rules.title("fall") == "老人跌倒" and rules.title("fall", "en") == "Resident fell"


def test_titles_come_from_the_catalog_unless_the_rules_file_gives_its_own(tmp_path):
    rules = RuleSet.defaults()
    assert all(r.title_zh is None and r.title_en is None for r in rules.rules.values())
    assert rules.title("smoke", "en") == "Smoke alarm" and rules.title("smoke") == "烟雾报警"
    assert rules.title("smoke", "en-GB") == "Smoke alarm"
    assert rules.title("no_such_rule", "en") == "no_such_rule"
    p = write(
        tmp_path,
        "overrides:\n  - rule: smoke\n    set: {title_zh: 厨房烟雾, title_en: Kitchen smoke}\n",
    )
    own = load_rules(p)
    assert (own.title("smoke"), own.title("smoke", "en")) == ("厨房烟雾", "Kitchen smoke")
    assert own.title("fall", "en") == "Resident fell"


def test_a_custom_rule_without_titles_is_named_by_file_and_line(tmp_path):
    p = write(
        tmp_path,
        "rules:\n"
        "  - kind: event\n"
        "    name: pantry_door\n"
        "    device_types: [call_button]\n"
        "    events: [press]\n"
        "    severity: low\n"
        "  - kind: event\n"
        "    name: pantry_light\n"
        "    title_zh: 储藏室灯\n"
        "    device_types: [call_button]\n"
        "    events: [press]\n"
        "    severity: low\n"
        "  - kind: event\n"
        "    name: fall\n"
        "    device_types: [wearable]\n"
        "    events: [fall]\n"
        "    severity: critical\n",
    )
    _, problems = check_file(p)
    assert problems == [
        f"{p}:3: rules.0.name: rule 'pantry_door' has no title: the catalog has no "
        "rule.pantry_door, so give title_zh and title_en",
        f"{p}:8: rules.1.name: rule 'pantry_light' has no title: the catalog has no "
        "rule.pantry_light, so give title_en",
    ]
    with pytest.raises(ConfigError, match="pantry_door"):
        load_rules(p)
