"""Hostile and valid messages built with `random.Random` (no hypothesis): the builders of
the raw-bytes fuzz loop (test_fuzz_decoder.py) and of the service flood
(test_fuzz_service.py)."""

from __future__ import annotations

import random
import time
from typing import Any

import orjson

from devices.decode import MAX_PAYLOAD
from devices.profiles import FieldKind
from devices.registry import Device
from tests.fuzz_oracle import DEVICES, KINDS, PREFIX, SITE

PROBE = "w-313-2"  # never in the flood: the fall sent after it raises a new alert
STORE_PROBE = "e-3f-panel"  # never in the flood: its readings after it are counted in InfluxDB
FLOOD_DEVICES = [d for d in DEVICES if d.id not in (PROBE, STORE_PROBE)]


def deep_json(depth: int, kind: str) -> bytes:
    """`depth` nested arrays or objects: past the decoder's and Python's depth limits."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


def fall_window(t0: int) -> bytes:
    """Raw acceleration of a fall at 50 Hz: standing, free fall, impact, lying still."""
    mag = [1.0] * 100 + [0.3] * 10 + [3.5] + [1.0 + 0.2 * (i % 5 - 2) for i in range(50)]
    return orjson.dumps({"hz": 50, "t0": t0, "mag": [*mag, *[1.0] * 150]})


def valid_message(rng: random.Random, dev: Device, now: int) -> tuple[str, bytes]:
    """A message the contract accepts, on a registered device."""
    dtype = dev.type
    kinds = ["telemetry"] * 6 + ["event"] * 3 * bool(dtype.events) + ["status"]
    kind = rng.choice(kinds)
    body: dict[str, Any] = {}
    if rng.random() < 0.7:
        body["ts"] = now - rng.randint(0, 60_000)
    if kind == "telemetry":
        for name, spec in dtype.fields.items():
            if rng.random() < 0.5:
                continue
            if spec.kind is FieldKind.NUMBER:
                assert spec.min is not None and spec.max is not None
                body[name] = round(rng.uniform(spec.min, spec.max), 3)
            elif spec.kind is FieldKind.BOOL:
                body[name] = rng.random() < 0.5
            else:
                body[name] = rng.choice(spec.choices or ("bed", "bathroom", "corridor", "dining"))
        if rng.random() < 0.2:
            body["fw"] = "1.2.3"
    elif kind == "event":
        event = rng.choice(sorted(dtype.events))
        spec = dtype.events[event]
        body["event"] = event
        body["id"] = f"fz-{rng.getrandbits(48):012x}"
        for attr, values in spec.choices.items():
            body[attr] = rng.choice(values)
        for attr, (lo, hi) in spec.ranges.items():
            body[attr] = round(rng.uniform(lo, hi), 3)
        for attr, longest in spec.texts.items():  # a fire panel's point, floor, zone...
            if attr in spec.required or rng.random() < 0.3:
                body[attr] = rng.choice(["L1-001", "2", "east wing", "感烟探测器"])[:longest]
    else:
        body["online"] = rng.random() < 0.95
    return f"{PREFIX}/{dev.site}/{dev.id}/{kind}", orjson.dumps(body)


def garbage(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def _known_number_field(rng: random.Random, dev: Device) -> str:
    numbers = [n for n, s in dev.type.fields.items() if s.kind is FieldKind.NUMBER]
    return rng.choice(numbers)


# hostile payloads for a registered device, each at most `cap` bytes
def _nonfinite(rng: random.Random, dev: Device, _cap: int) -> bytes:
    token = rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999", b"9" * 400])
    return b'{"' + _known_number_field(rng, dev).encode() + b'":' + token + b"}"


def _huge_int(rng: random.Random, dev: Device, _cap: int) -> bytes:
    n = rng.choice([2**63, 2**64 - 1, 2**64, -(2**63) - 1, 10**30, -(10**300)])
    name = rng.choice([_known_number_field(rng, dev), "seq", "ts", "x"])
    return b'{"' + name.encode() + b'":' + str(n).encode() + b"}"


def _neg_zero(rng: random.Random, dev: Device, _cap: int) -> bytes:
    return (
        b'{"' + _known_number_field(rng, dev).encode() + b'":' + rng.choice([b"-0", b"-0.0"]) + b"}"
    )


def _deep_nesting(rng: random.Random, _dev: Device, cap: int) -> bytes:
    kind = rng.choice(["array", "object"])
    most = (cap - 10) // (2 if kind == "array" else 6)  # bytes per level
    depth = rng.choice([255, 256, 1024, 1025, 10_000, rng.randint(1, most)])
    return b'{"x":' + deep_json(min(depth, most), kind) + b"}"


def _oversized(rng: random.Random, _dev: Device, cap: int) -> bytes:
    n = rng.choice([MAX_PAYLOAD - 8, MAX_PAYLOAD - 7, rng.randint(MAX_PAYLOAD, cap - 8)])
    return b'{"x":"' + b"x" * n + b'"}'


def _invalid_utf8(rng: random.Random, dev: Device, _cap: int) -> bytes:
    bad = rng.choice([b"\xff", b"\xfe\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe4\xb8", b"\x80"])
    field = "zone" if "zone" in dev.type.fields else "fw"
    return b'{"' + field.encode() + b'":"ab' + bad + b'cd"}'


def _bom(rng: random.Random, dev: Device, _cap: int) -> bytes:
    return b"\xef\xbb\xbf" + valid_message(rng, dev, int(time.time() * 1000))[1]


def _duplicate_keys(rng: random.Random, dev: Device, _cap: int) -> bytes:
    name = _known_number_field(rng, dev)
    spec = dev.type.fields[name]
    assert spec.max is not None
    return b'{"%s":%d,"%s":%d}' % (name.encode(), 1, name.encode(), int(spec.max) * 10 + 1)


def _wrong_type(rng: random.Random, dev: Device, _cap: int) -> bytes:
    name = rng.choice([*dev.type.fields, "ts", "seq"])
    value = rng.choice([b'"74"', b"[]", b"{}", b"true", b"1.5", b'"x"', b"-1"])
    return b'{"' + name.encode() + b'":' + value + b"}"


def _not_object(rng: random.Random, _dev: Device, _cap: int) -> bytes:
    return rng.choice([b"[]", b"[1,2]", b'"x"', b"42", b"null", b"true", b"-0"])


def _bad_json(rng: random.Random, _dev: Device, _cap: int) -> bytes:
    return rng.choice(
        [b"", b"{", b'{"a":', b"{'a':1}", b'{"a":1,}', b'{"a" 1}', b'{"a":1} x', b'{"a":"\x01"}']
    )


def _event_trouble(rng: random.Random, _dev: Device, _cap: int) -> bytes:
    return rng.choice(
        [
            b'{"id":"x"}',
            b'{"event":42}',
            b'{"event":"explode"}',
            b'{"event":"press","button":"roof"}',
            b'{"event":"fall","confidence":3}',
            b'{"event":"fall","id":""}',
            b'{"event":"fall","id":7}',
            b'{"event":"fall","id":"' + b"i" * 65 + b'"}',
            b'{"online":"yes"}',
            b"{}",
        ]
    )


def _random_bytes(rng: random.Random, _dev: Device, cap: int) -> bytes:
    return garbage(rng, min(cap, int(rng.expovariate(1 / 200))))


def mutated(rng: random.Random, dev: Device, _cap: int) -> bytes:
    b = bytearray(valid_message(rng, dev, int(time.time() * 1000))[1])
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[pos % len(b)] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[pos:pos] = rng.choice([b"NaN", b"\xff", b"1e400", b",", b"{", b'"', b"\\"])
        elif op == 2 and b:
            del b[pos % len(b)]
        else:
            b[pos:pos] = garbage(rng, rng.randint(1, 8))
    return bytes(b)


def _name_in_payload(rng: random.Random, dev: Device, _cap: int) -> bytes:
    # devices never know names; one sending text where a number belongs is rejected
    return orjson.dumps({_known_number_field(rng, dev): rng.choice(["杜奶奶", "姚奶奶"])})


HOSTILE_PAYLOADS = [
    _nonfinite,
    _huge_int,
    _neg_zero,
    _deep_nesting,
    _oversized,
    _invalid_utf8,
    _bom,
    _duplicate_keys,
    _wrong_type,
    _not_object,
    _bad_json,
    _event_trouble,
    _random_bytes,
    mutated,
    _name_in_payload,
]


def hostile_topic_rng(rng: random.Random, broker_safe: bool) -> str:
    """A topic with one hostile part; `broker_safe` keeps to what an MQTT broker accepts
    from a publisher (no wildcards, NUL, control characters or lone surrogates)."""
    dev = rng.choice(FLOOD_DEVICES)
    unsafe = ["+", "#", "\x00", "w-101-1\n", "\ud800", "\x7f", "a\u0085"]
    ids = [
        "alerts",
        "..",
        ".",
        "ｗ-101-1",
        "w‐101‐1",
        "w-101-1\u200b",
        "\u202ew-101-1",
        "杜奶奶",
        "🔥",
        "a b",
        "a" * 65,
        "x" * rng.randint(66, 1_500),
        f"ghost-{rng.getrandbits(32):08x}",
        f"W-{rng.randint(100, 399)}-1",
    ]
    if not broker_safe:
        ids += unsafe
    pick = rng.randrange(6)
    if pick == 0:
        return f"{PREFIX}/{SITE}/{rng.choice(ids)}/{rng.choice(KINDS)}"
    if pick == 1:
        site = rng.choice(["other", "Sunrise", "a" * 33, "sün", "..", *ids[:4]])
        return f"{PREFIX}/{site}/{dev.id}/{rng.choice(KINDS)}"
    if pick == 2:
        kind = rng.choice(["TELEMETRY", "Event", "telemetry ", "status\u200b"])
        return f"{PREFIX}/{SITE}/{dev.id}/{kind}"
    if pick == 3:  # not matching any subscription: the broker never delivers these
        return rng.choice(
            [
                f"{PREFIX}/{SITE}/{dev.id}/telemetry/extra",
                f"{PREFIX}/{SITE}/{dev.id}",
                f"carewatch/v2/{SITE}/{dev.id}/event",
                f"{PREFIX}//{dev.id}/x",
            ]
        )
    if pick == 4:
        return f"{PREFIX}/{SITE}//{rng.choice(KINDS)}"
    return f"{PREFIX}/{SITE}/ghost-{rng.randint(0, 9_999_999)}/{rng.choice(KINDS)}"


def hostile_message(rng: random.Random, cap: int, broker_safe: bool) -> tuple[str, bytes]:
    """One hostile message: a hostile payload on a registered device, or a hostile topic."""
    dev = rng.choice(FLOOD_DEVICES)
    if rng.random() < 0.25:
        payload = rng.choice([b"{}", b'{"battery_pct":50}', b'{"event":"fall","id":"h"}'])
        return hostile_topic_rng(rng, broker_safe), payload
    kind = rng.choice(KINDS)
    return f"{PREFIX}/{SITE}/{dev.id}/{kind}", rng.choice(HOSTILE_PAYLOADS)(rng, dev, cap)
