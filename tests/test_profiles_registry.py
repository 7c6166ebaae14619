from __future__ import annotations

from pathlib import Path

import pytest

from devices.profiles import DEVICE_TYPES, FieldKind, validate_table
from devices.registry import load_site
from devices.yamlconf import ConfigError


def test_every_device_type_entry_is_sound():
    assert validate_table(DEVICE_TYPES) == []
    assert set(DEVICE_TYPES) == {
        "call_button",
        "wearable",
        "smoke_detector",
        "call_point",
        "water_pressure",
        "electrical_monitor",
        "water_leak",  # Zigbee sensors
        "motion_sensor",
        "vibration_sensor",
        *("home_terminal", "gas_detector", "door_contact", "bed_presence"),  # home-bed kit
        *("fire_panel", "fire_pump", "sprinkler_flow", "signal_valve"),  # fire installations
        *("fire_tank", "smoke_fan", "fire_door", "emergency_light"),
        "tag_reader",  # fire patrols' checkpoint tags (docs/fire-duty.md)
    }
    for t in DEVICE_TYPES.values():
        for name, spec in t.fields.items():
            if spec.kind is FieldKind.NUMBER:
                assert spec.unit, name


def test_table_validation_finds_broken_entries():
    from dataclasses import replace

    wearable = DEVICE_TYPES["wearable"]
    bad_field = replace(wearable.fields["heart_rate_bpm"], min=300)
    broken = replace(
        wearable, supervision_s=0, fields={**wearable.fields, "heart_rate_bpm": bad_field}
    )
    problems = validate_table({"wearable": broken})
    assert any("supervision" in p for p in problems)
    assert any("heart_rate_bpm" in p and "range" in p for p in problems)


def test_demo_site_is_a_believable_home(registry):
    types = [d.type.name for d in registry.devices()]
    floors = registry.site.floors
    assert len(floors) == 3
    assert sum(len(f.rooms) for f in floors) >= 40
    assert types.count("call_button") == types.count("wearable") >= 60
    assert types.count("water_pressure") == types.count("electrical_monitor") == 3


def _site(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "site.yaml"
    p.write_text(body)
    return p


def test_site_errors_name_file_line_and_field(tmp_path):
    p = _site(
        tmp_path,
        """id: s1
name: Home
floors:
  - id: "1"
    rooms:
      - id: "101"
        colour: red
devices: []
""",
    )
    with pytest.raises(ConfigError) as e:
        load_site(p)
    [problem] = e.value.problems
    assert problem.startswith(f"{p}:7: floors.0.rooms.0.colour")


def test_site_rejects_unknown_device_type_and_room(tmp_path):
    base = 'id: s1\nname: H\nfloors: [{id: "1", rooms: [{id: "101"}]}]\n'
    with pytest.raises(ConfigError, match="unknown type 'toaster'"):
        load_site(_site(tmp_path, base + "devices: [{id: d1, type: toaster, room: '101'}]\n"))
    with pytest.raises(ConfigError, match="unknown room '999'"):
        load_site(_site(tmp_path, base + "devices: [{id: d1, type: wearable, room: '999'}]\n"))
