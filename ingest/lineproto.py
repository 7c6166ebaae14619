"""InfluxDB line protocol built straight from spool rows (no per-point objects).

Layout (docs/storage.md): telemetry in a measurement per device type, events in
`device_event`, status in `device_status`, alert transitions in `alert_change`; tags site,
device, room, floor (and event); numbers always as floats so a field never changes type.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import orjson

from devices.profiles import DEVICE_TYPES
from ingest.spool import KIND_ALERT, KIND_EVENT, KIND_STATUS, KIND_TELEMETRY

_CONTROL = {i: "_" for i in (*range(32), 127)}
# backslashes in names would escape the next character: they become "/"
_TAG_ESC = str.maketrans({**_CONTROL, "\\": "/", ",": r"\,", "=": r"\=", " ": r"\ "})
_MEAS_ESC = str.maketrans({**_CONTROL, "\\": "/", ",": r"\,", " ": r"\ "})
_STR_ESC = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " ", "\r": " "})
RESERVED_KEYS = frozenset({"time", "site", "device", "room", "floor", "event", "type"})

TagLookup = Callable[[str, str], tuple[str, str]]  # (site, device) -> (room, floor)


# Names, tag values and a type's field names repeat from row to row: each is worked out
# once (bounded by the registry's devices, rooms and the types' fields).
@lru_cache(maxsize=1 << 14)
def _key(name: str) -> str:
    if name in RESERVED_KEYS:
        name += "_"
    if name.startswith("_"):  # _measurement, _field... are InfluxDB 2.x's own
        name = "x" + name
    return name.translate(_TAG_ESC) or "_"


@lru_cache(maxsize=1 << 18)
def _tag(value: str) -> str:
    return value.translate(_TAG_ESC) or "-"


def _value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.translate(_STR_ESC) + '"'
    return None


def _fields(data: dict[str, Any]) -> str:
    parts = []
    for k, v in data.items():
        text = _value(v)
        if text is not None:
            parts.append(f"{_key(k)}={text}")
    return ",".join(parts)


def event_time_ns(ts_ms: int, key: str) -> int:
    """Distinct events at the same millisecond get distinct, stable timestamps."""
    return ts_ms * 1_000_000 + zlib.crc32(key.encode()) % 1_000_000


ALERT_TAGS = ("rule", "severity", "priority", "action", "state", "floor", "room")


def alert_time_ns(at_ms: int, alert_id: int, action: str, occurrences: int = 0) -> int:
    """Two transitions in one millisecond are two points (repeats of one alert in one batch,
    e.g. a backlog after an outage, differ by their count); a re-sent one is the same point."""
    key = f"{alert_id}:{action}" if action != "repeat" else f"{alert_id}:repeat:{occurrences}"
    return event_time_ns(at_ms, key)


def _alert_line(ts_ms: int, site: str, device: str, data: dict[str, Any]) -> str:
    tags = [f"site={_tag(site)}"]
    for k in ALERT_TAGS:
        v = data.get(k)
        if v is not None and v != "":
            tags.append(f"{k}={_tag(str(v))}")
    fields = [
        f"alert_id={float(data['alert_id'])!r}",
        f"occurrences={float(data['occurrences'])!r}",
        f'device="{device.translate(_STR_ESC)}"',
    ]
    if data.get("value") is not None:
        fields.append(f'value="{str(data["value"]).translate(_STR_ESC)}"')
    at = alert_time_ns(
        ts_ms, int(data["alert_id"]), str(data["action"]), int(data.get("occurrences", 0))
    )
    return f"alert_change,{','.join(tags)} {','.join(fields)} {at}"


@lru_cache(maxsize=1024)
def _names(dtype: str, event: str | None) -> frozenset[str]:
    """The fields a type's table (or its event's spec) fixes."""
    t = DEVICE_TYPES.get(dtype)
    if t is None:
        return frozenset()
    if event is None:
        return frozenset(t.fields)
    spec = t.events.get(event)
    return frozenset({*spec.choices, *spec.ranges}) if spec is not None else frozenset()


@lru_cache(maxsize=1024)
def _measurement(dtype: str) -> str:
    return dtype.translate(_MEAS_ESC)


def _split(dtype: str, data: dict[str, Any], event: str | None = None) -> list[dict[str, Any]]:
    """The device-type table's fields (types fixed), then a device's unknown extra fields.
    InfluxDB refuses a line whose field changed type (an extra sent as text, then as a
    number): on a line of their own (the same point: same series and time), the extras
    cannot take the table's fields of the same reading down with them."""
    names = _names(dtype, event)
    if data.keys() <= names:  # the usual case: no extras
        return [data]
    known = {k: v for k, v in data.items() if k in names}
    return [known, {k: v for k, v in data.items() if k not in names}]


@lru_cache(maxsize=1 << 16)
def _series(site: str, device: str, room: str, floor: str) -> str:
    """A device's tags, escaped: the same for every one of its rows."""
    return f"site={_tag(site)},device={_tag(device)},room={_tag(room)},floor={_tag(floor)}"


def to_lines(
    rows: Iterable[tuple[int, int, str, str, str, int, str]], tags_of: TagLookup
) -> list[str]:
    """Spool rows (id, ts_ms, site, device, type, kind, data) -> line protocol, ns precision."""
    lines = []
    for _id, ts_ms, site, device, dtype, kind, raw in rows:
        data = orjson.loads(raw)
        if kind == KIND_ALERT:  # its own tags: where the alert is, not a device lookup
            lines.append(_alert_line(ts_ms, site, device, data))
            continue
        tags = _series(site, device, *tags_of(site, device))
        if kind == KIND_TELEMETRY:
            for part in _split(dtype, data):
                fields = _fields(part)
                if fields:
                    lines.append(f"{_measurement(dtype)},{tags} {fields} {ts_ms * 1_000_000}")
        elif kind == KIND_EVENT:
            event = str(data.pop("event"))
            key = str(data.pop("key"))
            parts = _split(dtype, data, event)
            known = dict(parts[0])
            known["event_key"] = key
            head = f"device_event,{tags},type={_tag(dtype)},event={_tag(event)}"
            for part in (known, *parts[1:]):
                fields = _fields(part)
                if fields:
                    lines.append(f"{head} {fields} {event_time_ns(ts_ms, key)}")
        elif kind == KIND_STATUS:
            lines.append(
                f"device_status,{tags},type={_tag(dtype)} {_fields(data)} {ts_ms * 1_000_000}"
            )
    return lines
