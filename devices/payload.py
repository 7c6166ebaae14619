"""The values inside a device's JSON payload, checked against its type's table (PROTOCOL.md):
the body itself, its time stamp, telemetry fields, event attributes. Pure: devices/decode.py
reads the topic and calls these; `Bad` carries the stable rejection reason."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson

from devices.model import Scalar, as_json_scalar
from devices.profiles import DeviceType, FieldKind

MAX_PAYLOAD = 8 * 1024
MAX_EVENT_ID = 64
FUTURE_SKEW_MS = 5 * 60 * 1000
PAST_SKEW_MS = 24 * 3600 * 1000
_RESERVED = frozenset({"ts", "seq"})
_EVENT_RESERVED = frozenset({"ts", "seq", "event", "id"})


class Bad(Exception):
    """A message refused: the stable reason (REASONS in devices/decode.py) and what was
    wrong, for the dead-letter log; the site and device where the topic names them."""

    def __init__(
        self, reason: str, detail: str, site: str | None = None, device_id: str | None = None
    ) -> None:
        self.reason = reason
        self.detail = detail
        self.site = site  # where the topic names them
        self.device_id = device_id


def parse_ts(value: Any, received_ms: int) -> tuple[int, bool]:
    """A device timestamp in epoch ms and whether it was replaced for clock skew."""
    if value is None:
        return received_ms, True
    if isinstance(value, bool):
        raise Bad("wrong_type", "ts must be RFC 3339 text or integer epoch milliseconds")
    if isinstance(value, int):
        ts = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise Bad("wrong_type", f"ts is not RFC 3339: {value[:40]!r}") from None
        if parsed.tzinfo is None:
            raise Bad("wrong_type", "ts has no time zone")
        ts = int(parsed.timestamp() * 1000)
    else:
        raise Bad("wrong_type", "ts must be RFC 3339 text or integer epoch milliseconds")
    if ts > received_ms + FUTURE_SKEW_MS or ts < received_ms - PAST_SKEW_MS:
        return received_ms, True
    return ts, False


def seq_of(value: Any) -> int | None:
    """The optional `seq` counter: orders readings of one millisecond."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Bad("wrong_type", "seq must be a non-negative integer")
    return value


def _number(name: str, value: Any, lo: float | None, hi: float | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Bad("wrong_type", f"{name} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise Bad("not_finite", f"{name} is not finite")
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        lo_text = "" if lo is None else f"{lo:g}"
        hi_text = "" if hi is None else f"{hi:g}"
        raise Bad("out_of_range", f"{name}={number:g} outside {lo_text}..{hi_text}")
    return number


def _extra(name: str, value: Any) -> Scalar:
    try:
        return as_json_scalar(value)
    except orjson.JSONEncodeError:
        raise Bad("wrong_type", f"{name} is nested too deeply") from None


def fields_of(dtype: DeviceType, body: dict[str, Any]) -> dict[str, Scalar]:
    """Telemetry fields checked against the type's table (kind, range, allowed texts);
    fields the table does not know are kept as sent (scalars only)."""
    out: dict[str, Scalar] = {}
    fields = dtype.fields
    for name, value in body.items():
        if name in _RESERVED:
            continue
        spec = fields.get(name)
        if spec is None:
            if value is not None:
                out[name] = _extra(name, value)
            continue
        if spec.kind is FieldKind.NUMBER:
            kind = type(value)
            if kind is int or kind is float:  # the usual case, checked inline
                lo, hi = spec.min, spec.max
                number = float(value)
                if (lo is None or number >= lo) and (hi is None or number <= hi):
                    out[name] = number  # orjson gives no NaN or infinity
                    continue
            out[name] = _number(name, value, spec.min, spec.max)
        elif spec.kind is FieldKind.BOOL:
            if not isinstance(value, bool):
                raise Bad("wrong_type", f"{name} must be true or false")
            out[name] = value
        else:
            if not isinstance(value, str) or len(value) > 64:
                raise Bad("wrong_type", f"{name} must be text of at most 64 characters")
            if spec.choices and value not in spec.choices:
                # a pump's "AUTO" would otherwise stand as "not auto" for good
                raise Bad("out_of_range", f"{name} must be one of {', '.join(spec.choices)}")
            out[name] = value
    return out


def event_attrs(dtype: DeviceType, event: str, body: dict[str, Any]) -> dict[str, Scalar]:
    """An event's attributes checked against its EventSpec: what it must name is strict, a
    bad description is dropped (it never costs the alarm)."""
    spec = dtype.events[event]
    attrs: dict[str, Scalar] = {}
    for name in spec.required:
        if body.get(name) is None:
            raise Bad("missing_field", f"{event} needs {name!r}")
    for name, value in body.items():
        if name in _EVENT_RESERVED:
            continue
        if name in spec.texts:
            if value is None:
                continue  # an optional text sent as null: not given
            longest = spec.texts[name]
            if (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and name not in (spec.required)
            ):
                value = str(value)  # a gateway's floor 3 for "3"
            if not isinstance(value, str) or not value.strip() or len(value) > longest:
                if name in spec.required:
                    raise Bad("wrong_type", f"{name} must be text of 1 to {longest} characters")
                # a bad description (a zone, a text, who read a tag) never costs the alarm:
                # the event is kept without it
                continue
            attrs[name] = value
        elif name in spec.choices:
            if value not in spec.choices[name]:
                raise Bad("out_of_range", f"{name} must be one of {', '.join(spec.choices[name])}")
            attrs[name] = value
        elif name in spec.ranges:
            lo, hi = spec.ranges[name]
            attrs[name] = _number(name, value, lo, hi)
        elif value is not None:
            attrs[name] = _extra(name, value)
    return attrs


def load_body(payload: bytes) -> dict[str, Any]:
    """The payload as a JSON object, or Bad with why not (size, encoding, NaN, shape)."""
    if len(payload) > MAX_PAYLOAD:
        raise Bad("too_large", f"{len(payload)} bytes, limit {MAX_PAYLOAD}")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        text = str(exc)
        if "UTF-8" in text or "surrogate" in text:
            raise Bad("bad_encoding", "payload is not valid UTF-8") from None
        # the token where parsing stopped, not any "NaN" text elsewhere (e.g. in a string)
        if "infinity" in text or exc.doc[exc.pos :].lstrip("+-").startswith(("NaN", "Infinity")):
            raise Bad("not_finite", "NaN or infinite number") from None
        raise Bad("bad_json", text[:120]) from None
    if not isinstance(body, dict):
        raise Bad("not_object", "payload must be a JSON object")
    return body
