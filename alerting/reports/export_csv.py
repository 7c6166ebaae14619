"""The site export as CSV: one row per figure of the JSON document (docs/export.md), so a
regulator's spreadsheet or database takes many sites and days as one table.

Columns (`COLUMNS`): service_id, site_id, date (the watch day), figure (the figure's path
in the JSON document, e.g. `answers.emergency.median_ack_s`), key (for a figure of a list
item, the item: a rule, a device type, `<device id>.<field>`, an outcome code, a
community worker), value (a number with a `.`
decimal point, true/false, or empty for none) and unit (count, s, ratio 0..1, bool, or a
reading's unit such as MPa). Texts (titles, notes) and lists of device ids are in the JSON
only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping
from typing import Any

COLUMNS = ("service_id", "site_id", "date", "figure", "key", "value", "unit")
SECTIONS = ("alarms", "answers", "fire", "devices", "hazards", "home_beds")  # if present


def _equipment_key(item: Mapping[str, Any]) -> str:
    return f"{item['device_id']}.{item['field']}"


# the lists of figures, by path: how an item is keyed
KEYED: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    "alarms.by_rule": lambda i: str(i["rule"]),
    "fire.equipment": _equipment_key,
    "fire.faults.by_rule": lambda i: str(i["rule"]),
    "devices.by_type": lambda i: str(i["device_type"]),
    "home_beds.outcomes": lambda i: str(i["code"]),
    "home_beds.visits.by_worker": lambda i: str(i["worker"]),
}
COUNTED = frozenset({"hazards.open", "hazards.items"})  # lists given as their length
TEXTS = frozenset({"home_beds.visits.worker"})  # a text that may be null: JSON only
# 0..1 besides the share_* figures
RATIOS = frozenset({"availability", "share", "rate", "closure_rate", "closure_rate_due"})


FLAGS = frozenset({"ok"})  # true/false, empty when unknown


def _unit(name: str, value: Any, item: Mapping[str, Any] | None) -> str:
    if isinstance(value, bool) or name in FLAGS:
        return "bool"
    if name.endswith("_s"):
        return "s"
    if name.startswith("share_") or name in RATIOS:
        return "ratio"
    if item is not None and name in ("limit", "min", "max") and "unit" in item:
        return str(item["unit"])
    return "count"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _rows(
    path: str, value: Any, key: str = "", item: Mapping[str, Any] | None = None
) -> Iterator[tuple[str, str, str, str]]:
    """(figure, key, value, unit) for every number, flag and empty figure under `path`."""
    if path in TEXTS:
        return
    if isinstance(value, Mapping):
        for name, v in value.items():
            yield from _rows(f"{path}.{name}", v, key, item)
    elif isinstance(value, list):
        if path in KEYED:
            for it in value:
                k = KEYED[path](it)
                for name, v in it.items():
                    if isinstance(v, int | float | bool) or v is None:
                        yield f"{path}.{name}", k, _text(v), _unit(name, v, it)
        elif path in COUNTED:
            yield path, "", str(len(value)), "count"
    elif isinstance(value, int | float | bool) or value is None:
        yield path, key, _text(value), _unit(path.rsplit(".", 1)[-1], value, item)


def export_csv(doc: Mapping[str, Any]) -> str:
    """The export document as CSV text (the header first); a file written from it starts
    with a UTF-8 byte-order mark, as the watch report's CSV does."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    ident = (doc["service_id"], doc["site"]["id"], doc["period"]["date"])
    for section in (s for s in SECTIONS if s in doc):
        for row in _rows(section, doc[section]):
            w.writerow((*ident, *row))
    return out.getvalue()
