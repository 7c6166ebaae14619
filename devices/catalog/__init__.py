"""The one bilingual catalog: every text a person reads, in every language, in one place.

Each language is one JSON file beside this module (`zh.json`, `en.json`): adding a language
is adding a file. Keys are dotted paths into namespaces:

- shared vocabulary: `device_type.<type>`, `field.<name>`, `rule.<rule>`, `severity.*`,
  `priority.*`, `state.*`, `target.*`;
- one namespace per reader: `screen.*` (the duty screen, served to the browser as JSON),
  `handover.*` (the handover panel), `report.*` (the printable report), `cap.*` (the texts
  of CAP 1.2 notices).

Texts take named placeholders, `{n}`, replaced by `text(..., n=3)` here and by the screen's
i18n module in the browser (the same syntax on both sides). A language that lacks a key
falls back to the default language (zh), so a half-translated file never shows a bare key;
`Catalog.problems()` lists what a file lacks, and a test keeps every file complete.

Reading the files is deferred to the first `load_catalog()` call (no import-time I/O).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_LANG = "zh"
_DIR = Path(__file__).parent
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

Table = Mapping[str, Any]


def _flatten(table: Table, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in table.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, str):
            out[key] = v
        else:
            raise TypeError(f"catalog entry {key!r} is {type(v).__name__}, not text")
    return out


def fill(template: str, values: Mapping[str, object]) -> str:
    """Replace `{name}` placeholders; an unknown name stays as written (a visible slip, not
    a crash in the middle of an alarm)."""
    return _PLACEHOLDER.sub(
        lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template
    )


class Catalog:
    """All languages' texts. `tables` maps a language code to its nested table."""

    def __init__(self, tables: Mapping[str, Table], default: str = DEFAULT_LANG) -> None:
        if default not in tables:
            raise ValueError(f"catalog has no default language {default!r}")
        self.tables = tables
        self.default = default
        self._flat = {lang: _flatten(t) for lang, t in tables.items()}

    def languages(self) -> list[str]:
        """Language codes, the default first."""
        return [self.default, *sorted(k for k in self.tables if k != self.default)]

    def lang(self, wanted: str | None) -> str:
        """The language to use for a request: `wanted` if the catalog has it, else the
        default. Accepts 'zh-CN', 'en-GB' and the like by their first part."""
        if wanted:
            base = wanted.split("-")[0].split("_")[0].lower()
            if base in self.tables:
                return base
        return self.default

    def table(self, lang: str) -> Table:
        """One language's nested table (served to the browser as it is)."""
        return self.tables[self.lang(lang)]

    def get(self, lang: str, key: str) -> str | None:
        """The text of `key` in `lang`, falling back to the default language; None if
        neither has it."""
        flat = self._flat
        got = flat[self.lang(lang)].get(key)
        return got if got is not None else flat[self.default].get(key)

    def text(self, lang: str, key: str, /, **values: object) -> str:
        """The filled text of `key`; the key itself when no language has it."""
        got = self.get(lang, key)
        return key if got is None else fill(got, values)

    def keys(self, lang: str | None = None) -> set[str]:
        """Every key of one language (the default when None)."""
        flat = self._flat
        return set(flat[lang or self.default])

    def problems(self) -> list[str]:
        """What each language lacks or adds against the default, and placeholders that
        differ; empty when every file is complete."""
        flat = self._flat
        base = flat[self.default]
        out: list[str] = []
        for lang, texts in flat.items():
            if lang == self.default:
                continue
            out += [f"{lang}: missing {k}" for k in sorted(base.keys() - texts.keys())]
            out += [f"{lang}: unknown {k}" for k in sorted(texts.keys() - base.keys())]
            for k in sorted(base.keys() & texts.keys()):
                a = set(_PLACEHOLDER.findall(base[k]))
                b = set(_PLACEHOLDER.findall(texts[k]))
                if a != b:
                    out.append(f"{lang}: {k} has placeholders {sorted(b)}, not {sorted(a)}")
        for lang, texts in flat.items():
            out += [f"{lang}: empty {k}" for k, v in sorted(texts.items()) if not v.strip()]
        return out


def read_catalog(directory: Path) -> Catalog:
    """Every `<lang>.json` in `directory` (tests pass a folder of their own)."""
    tables: dict[str, Table] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a catalog file is one JSON object")
        tables[path.stem] = data
    return Catalog(tables)


@cache
def load_catalog() -> Catalog:
    """The shipped catalog, read once on first use."""
    return read_catalog(_DIR)
