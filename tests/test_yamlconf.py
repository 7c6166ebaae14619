"""devices/yamlconf.py: the data PyYAML's safe loader gives, duplicate keys refused, lines
for error messages; the fast event reader and PyYAML's own path agree."""

import pytest
import yaml

from devices.registry import load_site
from devices.yamlconf import ConfigError, load_yaml, located

TEXTS = [
    "a: [1, 2.5, true, null, ~, 2024-01-02, '03:10', 0x1f, 1_000, .inf, !!str 12, yes, '']\n"
    "b:\n  x: |\n    two\n    lines\n  y: >\n    folded\n",
    "base: &b {x: 1, y: [1, 2]}\nother: *b\nn: &n 5\nm: *n\n",
    "{1: a, 2.5: b, null: c, false: d}\n",
    "merge:\n  <<: {a: 1, b: 2}\n  b: 3\n",  # PyYAML's path: merged keys may be overridden
    "s: !!set {a, b}\n",
    "- &r [*r]\n",
    "42\n",
    "",
]


@pytest.mark.parametrize("text", TEXTS)
def test_data_is_what_the_safe_loader_gives(tmp_path, text):
    p = tmp_path / "f.yaml"
    p.write_text(text, encoding="utf-8")
    data, _ = load_yaml(p)
    assert repr(data) == repr(yaml.load(text, Loader=yaml.SafeLoader))


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("a: 1\nb:\n  c: 2\n  c: 3\n", 4, "'c'"),
        ("devices:\n  - {id: d1, id: d2}\n", 2, "'id'"),
        ("a: 1\n1: x\n1: y\n", 3, "1"),
        ("m:\n  <<: {a: 1}\n  b: 2\n  b: 3\n", 4, "'b'"),
    ],
)
def test_duplicate_keys_are_refused_with_their_line(tmp_path, text, line, key):
    p = tmp_path / "f.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_yaml(p)
    assert e.value.problems == [f"{p}:{line}: duplicate key {key}"]


@pytest.mark.parametrize(
    "text", ["a: [1, 2\nb: 3\n", "a: 1\n---\nb: 2\n", "a: *nowhere\n", "? [1]\n: 2\n", "a: !x 1\n"]
)
def test_bad_yaml_is_a_config_error(tmp_path, text):
    p = tmp_path / "f.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(p)


def test_lines_name_each_value(tmp_path):
    p = tmp_path / "f.yaml"
    p.write_text("a: 1\nb:\n  - x\n  - {c: 2,\n     d: 3}\n", encoding="utf-8")
    _, lines = load_yaml(p)
    assert dict(lines) == {
        (): 1,
        ("a",): 1,
        ("b",): 3,
        ("b", 0): 3,
        ("b", 1): 4,
        ("b", 1, "c"): 4,
        ("b", 1, "d"): 5,
    }
    assert located(p, lines, ("b", 1, "d", "e"), "bad") == f"{p}:5: b.1.d.e: bad"


def test_a_big_site_names_the_line_of_a_bad_device(tmp_path):
    rows = [f'  - {{id: w-{i}, type: wearable, room: "101"}}' for i in range(3000)]
    rows[2500] = '  - {id: w-2500, type: wearable, room: "101", colour: red}'
    p = tmp_path / "site.yaml"
    p.write_text(
        'id: s1\nname: H\nfloors: [{id: "1", rooms: [{id: "101"}]}]\ndevices:\n'
        + "\n".join(rows)
        + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as e:
        load_site(p)
    assert e.value.problems[0].startswith(f"{p}:2505: devices.2500.colour: ")
