"""Server-side fall detection: the detector on a synthetic set shaped like the
public datasets (sensitivity and specificity printed: `pytest -s`), streaming windows
joined across messages, and the decoder turning raw acceleration into a `fall` event."""

from __future__ import annotations

import math
from collections import Counter

import orjson
import pytest
from pydantic import ValidationError

from devices.decode import Decoder
from devices.falls import AccelWindow, FallSettings, FallWatch, detect, parse_accel
from devices.model import DeviceEvent, Reading, Rejection
from simulators.accel import FALLS, Trace, synthetic_set, trace

NOW = 1_795_316_645_000
T = "carewatch/v1/sunrise/w-101-1/telemetry"
PER_KIND = 40


def window(t: Trace, t0: int = NOW - 60_000) -> AccelWindow:
    xyz = tuple((x, y, z) for x, y, z in t.xyz)
    return AccelWindow(t0, t.hz, tuple(math.sqrt(x * x + y * y + z * z) for x, y, z in xyz), xyz)


def chunks(t: Trace, seconds: float, t0: int = NOW - 60_000) -> list[AccelWindow]:
    n = round(seconds * t.hz)
    out = []
    for i in range(0, len(t.xyz), n):
        part = Trace(t.kind, t.fall, t.hz, t.xyz[i : i + n])
        out.append(window(part, t0 + round(i * 1000 / t.hz)))
    return out


@pytest.fixture(scope="module")
def traces() -> list[Trace]:
    return synthetic_set(PER_KIND, seed=8)


def _evaluate(traces: list[Trace], settings: FallSettings) -> tuple[Counter[str], Counter[str]]:
    detected: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for t in traces:
        total[t.kind] += 1
        if detect(window(t), settings):
            detected[t.kind] += 1
    return detected, total


def _rates(traces: list[Trace], settings: FallSettings) -> dict[str, float]:
    detected, total = _evaluate(traces, settings)
    falls = sum(total[k] for k in FALLS)
    adl = [k for k in total if k not in FALLS]
    fp = sum(detected[k] for k in adl)
    fp_worn = sum(detected[k] for k in adl if k != "drop_device")  # dropped: worn=false
    n_adl = sum(total[k] for k in adl)
    print(f"\n  {settings.model_dump(exclude_defaults=True) or 'default settings'}")
    for k in total:
        print(f"    {k:24} {'fall' if k in FALLS else 'ADL '}  detected {detected[k]:3}/{total[k]}")
    rates = {
        "sensitivity": sum(detected[k] for k in FALLS) / falls,
        "specificity": (n_adl - fp) / n_adl,
        "specificity_with_worn": (n_adl - fp_worn) / n_adl,
    }
    print("    " + ", ".join(f"{k} {v:.1%}" for k, v in rates.items()))
    return rates


def test_no_fall_of_the_synthetic_set_is_missed_at_the_defaults(traces):
    """Sensitivity and specificity on 160 falls and 240 other activities (docs/protocol.md
    reports these numbers)."""
    rates = _rates(traces, FallSettings())
    assert rates["sensitivity"] == 1.0
    # threshold methods confuse sitting down hard, stopping after a stumble or a jog, and
    # a device dropped on the floor with a fall; measured: 70.4 %, 87.1 % when the
    # wearable reports that it is not worn (its `worn` field) while it is dropped
    assert rates["specificity"] >= 0.70
    assert rates["specificity_with_worn"] >= 0.87


def test_the_posture_check_trades_falls_that_end_sitting_for_specificity(traces):
    rates = _rates(traces, FallSettings(posture_change_deg=50))
    detected, _ = _evaluate(traces, FallSettings(posture_change_deg=50))
    for kind in ("fall_forward", "fall_backward", "fall_sideways"):
        assert detected[kind] == PER_KIND
    assert detected["fall_backward_sitting"] < PER_KIND // 4  # why it is off by default
    assert rates["specificity"] > 0.85


def test_each_stage_matters():
    fall = window(trace("fall_sideways", 2))
    assert detect(fall, FallSettings())
    assert not detect(fall, FallSettings(impact_g=9.0)), "no impact this hard"
    assert not detect(fall, FallSettings(free_fall_g=0.05)), "no free fall this deep"
    assert not detect(fall, FallSettings(still_std_g=0.005)), "never this still"
    walking = window(trace("walking", 2))
    assert not detect(walking, FallSettings())


def test_a_detected_fall_is_the_impact_with_its_measurements():
    t = trace("fall_forward", 7)
    [f] = detect(window(t, t0=1000), FallSettings())
    peak = max(range(len(t.xyz)), key=lambda i: math.dist((0, 0, 0), t.xyz[i]))
    assert f.ts_ms == 1000 + round(peak * 1000 / t.hz)
    assert f.impact_g > 2.5 and f.free_fall_g < 0.6 and f.still_std_g < 0.1
    assert f.posture_change_deg is not None and f.posture_change_deg > 60  # face down


@pytest.mark.parametrize("seconds", [0.5, 2.0, 3.3])
def test_windows_streamed_one_by_one_find_the_same_falls_once_each(traces, seconds):
    for i, t in enumerate(traces[:: PER_KIND // 4]):  # 4 of every kind
        whole = detect(window(t), FallSettings())
        watch = FallWatch()
        streamed = [f for w in chunks(t, seconds) for f in watch.feed(i, w)]
        assert [f.ts_ms for f in streamed] == [f.ts_ms for f in whole[:1]], t.kind


def test_overlapping_windows_and_redelivery_do_not_report_a_fall_twice():
    t = trace("fall_backward", 3)
    watch = FallWatch()
    found = []
    n = len(t.xyz)
    for start in range(0, n, 50):  # 2 s windows every 1 s: each sample sent twice
        part = Trace(t.kind, t.fall, t.hz, t.xyz[start : start + 100])
        found += watch.feed("w", window(part, 1000 + start * 20))
    assert len(found) == 1
    again = watch.feed("w", window(Trace(t.kind, t.fall, t.hz, t.xyz[:200]), 1000))
    assert again == []  # an old window once more (QoS 1 redelivery)


def test_a_gap_in_the_stream_is_not_bridged_and_taking_it_off_forgets():
    t = trace("fall_forward", 4)
    whole = window(t, 0)
    p = max(range(len(whole.mag)), key=lambda i: whole.mag[i])  # the impact
    before = Trace(t.kind, t.fall, t.hz, t.xyz[: p + 5])
    after = Trace(t.kind, t.fall, t.hz, t.xyz[p + 5 :])
    after_t0 = round((p + 5) * 1000 / t.hz)

    joined = FallWatch()
    assert joined.feed("w", window(before, 0)) == []  # not lying still yet
    assert len(joined.feed("w", window(after, after_t0))) == 1

    gap = FallWatch()
    gap.feed("w", window(before, 0))
    assert gap.feed("w", window(after, after_t0 + 60_000)) == [], "a minute apart: not one fall"

    taken_off = FallWatch()
    taken_off.feed("w", window(before, 0))
    taken_off.forget("w")
    assert taken_off.feed("w", window(after, after_t0)) == []


# --- the accel format and the decoder --------------------------------------------------


def _telemetry(t: Trace, start: int, step: int, t0: int, **extra: object) -> bytes:
    samples = [[round(v, 2) for v in s] for s in t.xyz[start : start + step]]
    body = {
        "ts": t0 + round(len(samples) * 1000 / t.hz),
        "heart_rate_bpm": 88,
        "worn": True,
        "accel": {"hz": t.hz, "t0": t0, "g": samples},
        **extra,
    }
    return orjson.dumps(body)


def _stream(dec: Decoder, t: Trace, **extra: object) -> list[object]:
    t0 = NOW - 30_000
    out = []
    for i in range(0, len(t.xyz), 100):
        body = _telemetry(t, i, 100, t0 + round(i * 1000 / t.hz), **extra)
        assert len(body) < 8 * 1024
        out.append(dec.decode(T, body, NOW))
    return out


def test_a_wearable_streaming_acceleration_raises_one_fall_event(registry):
    out = _stream(Decoder(registry), trace("fall_forward", 7))
    falls = [m for m in out if isinstance(m, DeviceEvent)]
    assert len(falls) == 1 and all(isinstance(m, Reading) for m in out if m not in falls)
    f = falls[0]
    assert (f.device_id, f.event, f.attrs["detector"]) == ("w-101-1", "fall", "server")
    assert f.key == f"accel:{f.ts_ms}" and NOW - 30_000 < f.ts_ms < NOW
    assert f.attrs["heart_rate_bpm"] == 88.0 and f.attrs["impact_g"] > 2.5
    readings = [m for m in out if isinstance(m, Reading)]
    assert all("accel" not in m.fields for m in readings)  # raw samples are not stored
    # the service restarts and the broker redelivers: the same key, one alert
    again = _stream(Decoder(registry), trace("fall_forward", 7))
    assert [m.key for m in again if isinstance(m, DeviceEvent)] == [f.key]


def test_a_pendant_that_is_not_worn_does_not_fall(registry):
    out = _stream(Decoder(registry), trace("drop_device", 1), worn=False)
    assert all(isinstance(m, Reading) for m in out)


def test_magnitudes_alone_are_enough():
    t = trace("fall_sideways", 5)
    mags = [round(math.sqrt(sum(v * v for v in s)), 2) for s in t.xyz]
    w = parse_accel({"hz": 50, "mag": mags}, 0)
    assert detect(w, FallSettings())
    assert not detect(w, FallSettings(posture_change_deg=45)), "posture needs 3 axes"


@pytest.mark.parametrize(
    ("accel", "reason"),
    [
        ([1, 2], "wrong_type"),
        ({"g": [[0, 1, 0]]}, "missing_field"),
        ({"hz": 50}, "missing_field"),
        ({"hz": 50, "g": [[0, 1, 0]], "mag": [1]}, "missing_field"),
        ({"hz": "50", "mag": [1]}, "wrong_type"),
        ({"hz": 1, "mag": [1]}, "out_of_range"),
        ({"hz": 50, "mag": []}, "wrong_type"),
        ({"hz": 50, "mag": [1, "x"]}, "wrong_type"),
        ({"hz": 50, "mag": [1, -1]}, "out_of_range"),
        ({"hz": 50, "mag": [1, 1e300]}, "out_of_range"),
        ({"hz": 50, "g": [[0, 1]]}, "wrong_type"),
        ({"hz": 50, "g": [[0, 1, True]]}, "wrong_type"),
        ({"hz": 50, "mag": [1] * 2001}, "out_of_range"),
        ({"hz": 50, "mag": [1], "extra": 1}, "wrong_type"),
        ({"hz": 50, "mag": [1], "t0": "yesterday"}, "wrong_type"),
    ],
)
def test_malformed_acceleration_is_rejected_with_a_reason(registry, accel, reason):
    m = Decoder(registry).decode(T, orjson.dumps({"heart_rate_bpm": 70, "accel": accel}), NOW)
    assert isinstance(m, Rejection) and m.reason == reason, m


def test_accel_is_an_ordinary_extra_field_for_other_types(registry):
    m = Decoder(registry).decode(
        "carewatch/v1/sunrise/p-1f-riser/telemetry", b'{"pressure_mpa":0.3,"accel":[1]}', NOW
    )
    assert isinstance(m, Reading) and m.fields["accel"] == "[1]"


def test_settings_are_validated():
    with pytest.raises(ValidationError):
        FallSettings(impact_g=0.5)
    with pytest.raises(ValidationError):
        FallSettings(free_fall=0.4)  # type: ignore[call-arg]
    assert FallSettings().context_s >= 8
