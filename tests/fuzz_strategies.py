"""Hypothesis strategies of hostile input for the decoder (test_fuzz_decoder.py): topics
with at most one hostile part, and payloads of the contract's shape mixing valid values
for the device type with hostile tokens, wrapped (BOM, truncation, invalid UTF-8, padding
to exactly the size limit and one byte over...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import strategies as st

from devices.payload import FUTURE_SKEW_MS, MAX_EVENT_ID, MAX_PAYLOAD, PAST_SKEW_MS
from devices.profiles import DEVICE_TYPES, DeviceType, FieldKind
from tests.fuzz_cases import deep_json, fall_window
from tests.fuzz_oracle import DEVICES, KINDS, NOW, PREFIX, SITE

# ------------------------------------------------------------------- hypothesis: topics

ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
HOSTILE_IDS = [
    "+",
    "#",
    "",
    ".",
    "..",
    "../..",
    "alerts",
    "ALERTS",
    "$SYS",
    "w-101-1\n",
    "w-101-1\r\n",
    "w-101-1 ",
    " w-101-1",
    "w-101-1\x00",
    "\x00",
    "w-101-1\t",
    "w‐101‐1",  # U+2010 hyphens
    "ｗ-101-1",  # fullwidth w
    "w-101-1\u200b",
    "\u202ew-101-1",
    "w-101-1\ud800",
    "\udcff",
    "杜奶奶",
    "🔥",
    "a" * 64,
    "a" * 65,
    "%2e%2e",
    "w-101-1%00",
    "w-101-1'--",
    "*",
]
HOSTILE_SITES = ["other", "Sunrise", "sunrise ", "sunrise\n", "sun rise", "a" * 32, "a" * 33]
HOSTILE_KINDS = ["TELEMETRY", "config", "alerts", "telemetry ", "telemetry\n", "Event", "state"]

segment = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.text(max_size=40),
    st.text(alphabet=ID_CHARS, min_size=1, max_size=80),
    st.sampled_from([65, 300, 5_000, 70_000]).map(lambda n: "x" * n),
)


DEVICE_IDS = st.sampled_from([d.id for d in DEVICES])
HOSTILE_PREFIX = st.one_of(
    st.sampled_from(
        [
            "carewatch/v2",
            "Carewatch/v1",
            "/carewatch/v1",
            "carewatch",
            "",
            "#",
            "carewatch//v1",
            "+/v1",
            "carewatch/v1/",
            "carewatch/v1\x00",
        ]
    ),
    segment,
)
HOSTILE_SITE = st.one_of(st.sampled_from(HOSTILE_SITES), segment)
HOSTILE_DEVICE = st.one_of(segment, st.text(alphabet=ID_CHARS, min_size=1, max_size=64))
HOSTILE_KIND = st.one_of(st.sampled_from(HOSTILE_KINDS), segment)
HOSTILE_EXTRA = st.sampled_from(["/", "/x", "/#", "/+", "/telemetry", "/.."])
PARTS = st.sampled_from(["none", "prefix", "site", "device", "kind", "extra"])


@st.composite
def hostile_topic(draw: st.DrawFn) -> str:
    """A topic with at most one hostile part (a valid topic one time in six)."""
    prefix, site, kind, extra = PREFIX, SITE, draw(st.sampled_from(KINDS)), ""
    device = draw(DEVICE_IDS)
    part = draw(PARTS)
    if part == "prefix":
        prefix = draw(HOSTILE_PREFIX)
    elif part == "site":
        site = draw(HOSTILE_SITE)
    elif part == "device":  # look-alikes, unregistered well-formed ids, garbage
        device = draw(HOSTILE_DEVICE)
    elif part == "kind":
        kind = draw(HOSTILE_KIND)
    elif part == "extra":
        extra = draw(HOSTILE_EXTRA)
    return f"{prefix}/{site}/{device}/{kind}{extra}"


TOPIC_PAYLOADS = [b"{}", b'{"online":true}', b'{"event":"fall"}', b'{"battery_pct":50}', b"{x"]


# ----------------------------------------------------------------- hypothesis: payloads

NUMBER_TOKENS = [
    b"NaN",
    b"-NaN",
    b"Infinity",
    b"-Infinity",
    b"+1",
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"-0",
    b"-0.0",
    b"0.0",
    b"1e308",
    b"-1e308",
    b"9" * 400,
    b"-" + b"9" * 30,
    b"18446744073709551616",
    b"18446744073709551615",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"0x10",
    b"01",
    b"1.",
    b".5",
    b"1e",
    b"1E+2",
    b"5e-324",
    b"nan",
    b"inf",
]
OTHER_TOKENS = [
    b"true",
    b"false",
    b"null",
    b'""',
    b'"NaN"',
    b'"Infinity"',
    b'"\\u0000"',
    b'"\\ud800"',
    b'"\\udfff\\ud800"',
    b'"\xff"',
    b'"\xc0\x80"',
    b'"\xed\xa0\x80"',
    b'"\xe4\xb8"',
    b"[]",
    b"{}",
    b'"74"',
    b'"1e400"',
    b"tru",
    b"nul",
    b'"\t"',
    b'"a\nb"',
    b'"\\"',
    b'{"$ref":"#"}',
    b'{"__proto__":{"x":1}}',
    b"[1,2,",
    b'"2026-11-22T03:04:05Z"',
    b'"2026-11-22T03:04:05"',
    b'"yesterday"',
]
FIELD_NAMES = sorted(
    {n for t in DEVICE_TYPES.values() for n in t.fields}
    | {a for t in DEVICE_TYPES.values() for e in t.events.values() for a in e.choices}
    | {a for t in DEVICE_TYPES.values() for e in t.events.values() for a in e.ranges}
    | {"ts", "seq", "event", "id", "online", "accel", "", " ", "time", "_field", "a\nb", "杜奶奶"}
)
EVENT_NAMES = sorted({e for t in DEVICE_TYPES.values() for e in t.events})
CHOICES = sorted(
    {
        c
        for t in DEVICE_TYPES.values()
        for e in t.events.values()
        for v in e.choices.values()
        for c in v
    }
)


def _json(v: Any) -> bytes:
    return orjson.dumps(v)


hostile_token = st.one_of(
    st.sampled_from(NUMBER_TOKENS + OTHER_TOKENS),
    st.integers().map(lambda i: str(i).encode()),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda i: str(i).encode()),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    st.text(max_size=70).map(_json),
    st.builds(deep_json, st.integers(1, 10_000), st.sampled_from(["array", "object"])),
    st.sampled_from([MAX_PAYLOAD - 12, MAX_PAYLOAD, 9_000, 70_000, 1_048_576]).map(
        lambda n: b'"' + b"x" * n + b'"'
    ),
    st.binary(max_size=16),
    st.sampled_from(EVENT_NAMES + CHOICES).map(_json),  # valid words in the wrong place
    st.lists(st.sampled_from(NUMBER_TOKENS + OTHER_TOKENS), max_size=4).map(
        lambda xs: b"[" + b",".join(xs) + b"]"
    ),
)


ACCEL = st.one_of(  # `accel` of a wearable's telemetry (docs/protocol.md, "Raw acceleration")
    st.builds(
        lambda hz, mag: orjson.dumps({"hz": hz, "mag": mag}),
        st.floats(5, 400),
        st.lists(st.floats(0, 64), min_size=1, max_size=60),
    ),
    st.builds(
        lambda hz, g: orjson.dumps({"hz": hz, "g": g}),
        st.floats(5, 400),
        st.lists(st.lists(st.floats(-64, 64), min_size=3, max_size=3), min_size=1, max_size=20),
    ),
    st.integers(NOW - 60_000, NOW).map(fall_window),
    st.sampled_from(
        [
            orjson.dumps(a)
            for a in (
                {"hz": 50, "mag": []},
                {"hz": 1, "mag": [1]},
                {"hz": 50},
                {"hz": 50, "mag": [1], "g": [[1, 1, 1]]},
                {"hz": 50, "mag": [-1]},
                {"hz": 50, "mag": [65]},
                {"hz": "50", "mag": [1]},
                {"hz": 50, "mag": [1] * 2001},
                {"hz": 50, "g": [[1, 1]]},
                {"hz": 50, "g": [1, 1, 1]},
                {"hz": 50, "mag": [1], "x": 1},
                {"hz": 50, "mag": [True]},
                {"hz": 50, "t0": "yesterday", "mag": [1]},
                [1, 2, 3],
            )
        ]
        + [b'{"hz":50,"mag":[1,NaN]}', b'{"hz":Infinity,"mag":[1]}', b'{"hz":50,"mag":[1e400]}']
    ),
)
_VALID: dict[tuple[str, str], st.SearchStrategy[bytes]] = {}


def valid_token(dtype: DeviceType, name: str) -> st.SearchStrategy[bytes]:
    """A value the contract accepts for `name` on this device type (strategies are built
    once: building them is most of hypothesis' cost per case)."""
    key = (dtype.name, name)
    if key not in _VALID:
        _VALID[key] = _valid_token(dtype, name)
    return _VALID[key]


def _valid_token(dtype: DeviceType, name: str) -> st.SearchStrategy[bytes]:
    spec = dtype.fields.get(name)
    if spec is not None:
        if spec.kind is FieldKind.NUMBER:
            assert spec.min is not None and spec.max is not None
            return st.one_of(
                st.floats(spec.min, spec.max).map(lambda f: repr(f).encode()),
                st.integers(int(spec.min), int(spec.max)).map(lambda i: str(i).encode()),
            )
        if spec.kind is FieldKind.BOOL:
            return st.sampled_from([b"true", b"false"])
        return st.text(max_size=64).map(_json)
    if name == "ts":
        return st.one_of(
            st.integers(NOW - PAST_SKEW_MS - 10, NOW + FUTURE_SKEW_MS + 10).map(
                lambda i: str(i).encode()
            ),
            st.sampled_from([b'"2026-11-22T03:04:05.120Z"', b'"2026-11-22T11:04:05+08:00"']),
            st.just(b"null"),
        )
    if name == "seq":
        return st.integers(0, 2**64 - 1).map(lambda i: str(i).encode())
    if name == "id":
        return st.text(min_size=1, max_size=MAX_EVENT_ID).map(_json)
    if name == "event":
        return st.sampled_from(sorted(dtype.events)).map(_json)
    if name == "online":
        return st.sampled_from([b"true", b"false"])
    if name == "accel" and dtype.raw_accel:
        return ACCEL
    for e in dtype.events.values():
        if name in e.choices:
            return st.sampled_from(e.choices[name]).map(_json)
        if name in e.ranges:
            lo, hi = e.ranges[name]
            return st.floats(lo, hi).map(lambda f: repr(f).encode())
    return st.one_of(
        st.integers(-(2**63), 2**64 - 1).map(lambda i: str(i).encode()),
        st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
        st.text(max_size=30).map(_json),
        st.sampled_from([b"true", b"false", b"null", b"[1,2]", b'{"a":{"b":[]}}']),
    )


def _pad(body: bytes, size: int) -> bytes:
    """Whitespace before the closing brace up to exactly `size` bytes (still valid JSON)."""
    if len(body) >= size or not body.endswith(b"}"):
        return body
    return body[:-1] + b" " * (size - len(body)) + b"}"


def _flip(b: bytes, i: int) -> bytes:
    if not b:
        return b
    k = i % len(b)
    return b[:k] + bytes([b[k] ^ (1 << (i % 8))]) + b[k + 1 :]


WRAPPERS: dict[str, Callable[[bytes, int], bytes]] = {
    "none": lambda b, _i: b,
    "bom": lambda b, _i: b"\xef\xbb\xbf" + b,
    "space": lambda b, _i: b" \n\t" + b + b"\r\n ",
    "trailing": lambda b, i: b + [b" x", b"}", b",", b"\x00", b"{}"][i % 5],
    "truncate": lambda b, i: b[: i % max(1, len(b))],
    "invalid_utf8": lambda b, i: (
        b[: i % (len(b) + 1)]
        + [b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe4\xb8", b"\xf8\x88\x80\x80\x80"][i % 5]
        + b[i % (len(b) + 1) :]
    ),
    "array": lambda b, _i: b"[" + b + b"]",
    "exactly_limit": lambda b, _i: _pad(b, MAX_PAYLOAD),
    "one_over_limit": lambda b, _i: _pad(b, MAX_PAYLOAD + 1),
    "flip": lambda b, i: _flip(b, i),
}


NAMES = {
    t.name: st.one_of(
        st.sampled_from(sorted(t.fields)),
        st.sampled_from(["ts", "seq", "id", "event", "online"]),
        st.sampled_from(FIELD_NAMES),
        st.text(max_size=12),
    )
    for t in DEVICE_TYPES.values()
}
DEVICE_INDEX = st.integers(0, len(DEVICES) - 1)
KIND = st.sampled_from(KINDS)
TENTHS = st.integers(0, 9)
TWENTIETHS = st.integers(0, 19)
PAIRS_N = st.integers(0, 5)
BAD_KEYS = st.sampled_from([b"1", b"'a'", b"a", b"null", b'"a\x00"'])
WRAPPER_NAMES = st.sampled_from(["none"] * 8 + sorted(WRAPPERS))
POSITIONS = st.integers(0, 1 << 16)


@st.composite
def payload_case(draw: st.DrawFn) -> tuple[str, bytes, str]:
    dev = DEVICES[draw(DEVICE_INDEX)]  # indices: devices are not hashable, slow to sample
    dtype = dev.type
    kind = draw(KIND)
    topic = f"{PREFIX}/{dev.site}/{dev.id}/{kind}"
    pairs: list[tuple[bytes, bytes]] = []
    if kind == "event" and draw(TENTHS) < 8:
        pairs.append((b'"event"', draw(valid_token(dtype, "event"))))
    if kind == "status" and draw(TENTHS) < 8:
        pairs.append((b'"online"', draw(valid_token(dtype, "online"))))
    if dtype.raw_accel and kind == "telemetry" and draw(TENTHS) < 3:
        pairs.append((b'"accel"', draw(ACCEL)))
    for _ in range(draw(PAIRS_N)):
        name = draw(NAMES[dtype.name])
        key = _json(name) if draw(TWENTIETHS) else draw(BAD_KEYS)
        hostile = draw(TENTHS) < 4
        value = draw(hostile_token if hostile else valid_token(dtype, name))
        pairs.append((key, value))
    body = b"{" + b",".join(k + b":" + v for k, v in pairs) + b"}"
    wrapper = draw(WRAPPER_NAMES)
    return topic, WRAPPERS[wrapper](body, draw(POSITIONS)), wrapper
