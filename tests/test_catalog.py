"""The one catalog: complete in every language, and covering every table that names things."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alerting.defaults import default_rules
from devices.catalog import Catalog, fill, load_catalog, read_catalog
from devices.profiles import DEVICE_TYPES


def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    cat = load_catalog()
    assert cat.languages()[0] == "zh"
    assert "en" in cat.languages()
    assert cat.problems() == []


def test_every_device_type_field_and_default_rule_is_named_in_every_language() -> None:
    cat = load_catalog()
    keys = cat.keys()
    missing = [f"device_type.{t}" for t in DEVICE_TYPES if f"device_type.{t}" not in keys]
    for t in DEVICE_TYPES.values():
        missing += [f"field.{f}" for f in t.fields if f"field.{f}" not in keys]
    missing += [f"rule.{r.name}" for r in default_rules() if f"rule.{r.name}" not in keys]
    assert missing == []


def test_a_missing_text_falls_back_to_chinese_and_a_missing_key_shows_itself(
    tmp_path: Path,
) -> None:
    (tmp_path / "zh.json").write_text(json.dumps({"a": {"b": "第{n}条", "c": "只有中文"}}))
    (tmp_path / "en.json").write_text(json.dumps({"a": {"b": "item {n}"}}))
    cat = read_catalog(tmp_path)
    assert cat.text("en", "a.b", n=3) == "item 3"
    assert cat.text("en-GB", "a.b", n=3) == "item 3"
    assert cat.text("fr", "a.b", n=3) == "第3条"
    assert cat.text("en", "a.c") == "只有中文"
    assert cat.text("en", "a.zzz") == "a.zzz"
    assert cat.problems() == ["en: missing a.c"]


def test_placeholders_that_differ_between_languages_are_reported(tmp_path: Path) -> None:
    (tmp_path / "zh.json").write_text(json.dumps({"k": "{a}和{b}"}))
    (tmp_path / "en.json").write_text(json.dumps({"k": "{a} and {c}"}))
    assert read_catalog(tmp_path).problems() == [
        "en: k has placeholders ['a', 'c'], not ['a', 'b']"
    ]


def test_fill_leaves_unknown_placeholders_visible() -> None:
    assert fill("{n} of {m}", {"n": 2}) == "2 of {m}"


def test_a_catalog_without_the_default_language_is_refused() -> None:
    with pytest.raises(ValueError, match="default language"):
        Catalog({"en": {"k": "v"}})


def test_device_types_and_rules_take_their_names_from_the_catalog() -> None:
    from alerting.ruleset import RuleSet

    cat = load_catalog()
    for t in DEVICE_TYPES.values():
        for lang in cat.languages():
            assert t.label(lang) == cat.text(lang, f"device_type.{t.name}")
    assert DEVICE_TYPES["call_point"].label("en") == "manual call point"
    assert DEVICE_TYPES["call_point"].label("zh") == "手动报警按钮"
    rules = RuleSet.defaults()
    for name in rules.rules:
        assert rules.title(name, "en") == cat.text("en", f"rule.{name}")
