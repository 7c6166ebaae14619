"""Every rule kind of the default rule set, driven by a fake clock (no sleeping)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from alerting.defaults import default_rules
from alerting.model import AlertState, Severity
from alerting.rules import ThresholdRule
from alerting.ruleset import Override, RuleSet
from devices.ports import FakeClock
from tests.engine_harness import Harness, alert_rows, offline

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_ms(hour: int, minute: int = 0) -> int:
    """Epoch ms of a site-local (Asia/Shanghai) wall-clock time on 2026-11-22."""
    return int(datetime(2026, 11, 22, hour, minute, tzinfo=SHANGHAI).timestamp() * 1000)


# --- event -----------------------------------------------------------------------------


def test_event_raises_at_once_with_the_rules_severity(h):
    h.send("w-101-1", "event", '{"event":"sos","id":"s1"}')
    a = h.one("sos")
    assert (a.severity, a.state, a.device_id) == (Severity.HIGH, AlertState.ACTIVE_UNACK, "w-101-1")
    assert a.raised_at == h.clock.now_ms()


def test_pendant_removed_raises_only_after_600_s_off_the_wrist(h):
    h.send("w-101-1", "event", '{"event":"removed","id":"r1"}')
    removed_at = h.clock.now_ms()
    h.tick(599)
    assert h.open("pendant_removed") == []
    h.tick(1)
    a = h.one("pendant_removed")
    assert a.severity is Severity.MEDIUM and a.raised_at == removed_at + 600_000


def test_pendant_put_back_on_within_600_s_raises_nothing(h):
    h.send("w-101-1", "event", '{"event":"removed","id":"r1"}')
    h.tick(300)
    h.send("w-101-1", "event", '{"event":"put_on","id":"p1"}')
    h.tick(900)
    assert h.open("pendant_removed") == []
    assert alert_rows(h, "pendant_removed") == 0


def test_pendant_put_on_after_the_alert_clears_it(h):
    h.send("w-101-1", "event", '{"event":"removed","id":"r1"}')
    h.tick(600)
    h.send("w-101-1", "event", '{"event":"put_on","id":"p1"}')
    assert h.one("pendant_removed").state is AlertState.CLEARED_UNACK


# --- threshold -------------------------------------------------------------------------


def test_threshold_on_delay_then_hysteresis_clear(h):
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.05}')
    h.tick(29.9)
    assert h.open("water_pressure_low") == []
    h.tick(0.1)
    a = h.one("water_pressure_low")
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.105}')  # above 0.10, below 0.11
    assert h.one("water_pressure_low").state is AlertState.ACTIVE_UNACK
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.11}')
    cleared = h.one("water_pressure_low")
    assert cleared.id == a.id and cleared.state is AlertState.CLEARED_UNACK


def test_threshold_dip_into_hysteresis_band_restarts_the_on_delay(h):
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.05}')
    h.tick(20)
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.105}')  # no longer below 0.10
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.05}')
    h.tick(29)
    assert h.open("water_pressure_low") == []
    h.tick(1)
    assert h.one("water_pressure_low").raised_at == h.clock.now_ms()


def _with_off_delay(clear_for_s: float) -> RuleSet:
    rules = [
        r.model_copy(update={"clear_for_s": clear_for_s})
        if isinstance(r, ThresholdRule) and r.name == "residual_current_high"
        else r
        for r in default_rules()
    ]
    return RuleSet(rules)


def test_threshold_off_delay_clears_only_after_clear_for_s_of_normal(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, rules=_with_off_delay(30))
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":320}')
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":100}')
    back_to_normal = h.clock.now_ms()
    h.tick(29)
    assert h.one("residual_current_high").state is AlertState.ACTIVE_UNACK
    h.tick(1)
    a = h.one("residual_current_high")
    assert a.state is AlertState.CLEARED_UNACK and a.cleared_at == back_to_normal + 30_000


def test_threshold_off_delay_is_cancelled_by_a_new_breach(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, rules=_with_off_delay(30))
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":320}')
    h.tick(5)
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":100}')
    h.tick(20)
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":350}')
    h.tick(60)
    a = h.one("residual_current_high")
    assert a.state is AlertState.ACTIVE_UNACK and a.occurrences == 1
    assert a.value == "residual_current_ma=350"
    assert h.actions("clear") == []


def test_threshold_off_delay_restarts_when_the_value_returns_into_the_band(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, rules=_with_off_delay(30))
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":320}')
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":100}')
    h.tick(10)
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":290}')  # not normal again
    h.tick(10)
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":100}')
    normal_again = h.clock.now_ms()
    h.tick(29)
    assert h.one("residual_current_high").state is AlertState.ACTIVE_UNACK
    h.tick(1)
    a = h.one("residual_current_high")
    assert a.state is AlertState.CLEARED_UNACK and a.cleared_at == normal_again + 30_000


def test_override_sets_a_threshold_for_one_device_only(tmp_path, registry):
    rules = RuleSet(
        default_rules(),
        [
            Override(
                rule="residual_current_high",
                device="e-2f-panel",
                set={"value": 200, "clear_value": 180},
            )
        ],
    )
    h = Harness(tmp_path / "cw.db", registry, rules=rules)
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":250}')
    h.send("e-2f-panel", "telemetry", '{"residual_current_ma":250}')
    assert [a.device_id for a in h.open("residual_current_high")] == ["e-2f-panel"]


def test_pendant_not_worn_needs_worn_false_for_600_s(h):
    h.send("w-101-1", "telemetry", '{"worn":false}')
    h.tick(300)
    h.send("w-101-1", "telemetry", '{"worn":false}')
    h.tick(299)
    assert h.open("pendant_not_worn") == []
    h.tick(1)
    a = h.one("pendant_not_worn")
    assert a.severity is Severity.MEDIUM and a.value == "worn=false"
    h.send("w-101-1", "telemetry", '{"worn":true}')
    assert h.one("pendant_not_worn").state is AlertState.CLEARED_UNACK


def test_pendant_worn_again_before_600_s_raises_nothing(h):
    h.send("w-101-1", "telemetry", '{"worn":false}')
    h.tick(500)
    h.send("w-101-1", "telemetry", '{"worn":true}')
    h.tick(200)
    h.send("w-101-1", "telemetry", '{"worn":true}')
    assert h.open("pendant_not_worn") == []


def test_heart_rate_high_at_rest_for_600_s_raises(h):
    for _ in range(10):
        h.send("w-101-1", "telemetry", '{"heart_rate_bpm":125,"steps":1000}')
        h.tick(60)
    a = h.one("heart_rate_high")
    assert a.severity is Severity.HIGH and a.value == "heart_rate_bpm=125"


def test_heart_rate_high_while_walking_raises_nothing(h):
    for i in range(15):
        h.send("w-101-1", "telemetry", f'{{"heart_rate_bpm":125,"steps":{1000 + 20 * i}}}')
        h.tick(60)
    assert h.open("heart_rate_high") == []


def test_heart_rate_on_delay_restarts_after_walking(h):
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":125,"steps":1000}')
    h.tick(300)
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":125,"steps":1050}')  # walked
    h.tick(1)
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":125,"steps":1050}')  # at rest again
    rest = h.clock.now_ms()
    h.tick(599)
    assert h.open("heart_rate_high") == []
    h.tick(1)
    assert h.one("heart_rate_high").raised_at == rest + 600_000


# --- rate ------------------------------------------------------------------------------


def test_water_pressure_falling_fast_raises(h):
    t0 = h.clock.now_ms()
    h.send("p-1f-riser", "telemetry", f'{{"pressure_mpa":0.40,"ts":{t0}}}')
    h.tick(5)
    h.send("p-1f-riser", "telemetry", f'{{"pressure_mpa":0.38,"ts":{t0 + 5000}}}')
    assert h.open("water_pressure_falling") == []  # span below 10 s: no slope yet
    h.tick(5)
    h.send("p-1f-riser", "telemetry", f'{{"pressure_mpa":0.36,"ts":{t0 + 10_000}}}')
    a = h.one("water_pressure_falling")  # 0.04 MPa in 10 s = 0.24 MPa/min
    assert a.severity is Severity.HIGH and a.value == "pressure_mpa -0.24/min"


def test_water_pressure_falling_uses_the_readings_timestamps(h):
    t0 = h.clock.now_ms() - 60_000
    # delivered together, measured 30 s apart: 0.03 MPa in 30 s = 0.06 MPa/min, too slow
    h.send("p-1f-riser", "telemetry", f'{{"pressure_mpa":0.40,"ts":{t0}}}')
    h.send("p-1f-riser", "telemetry", f'{{"pressure_mpa":0.37,"ts":{t0 + 30_000}}}')
    assert h.open("water_pressure_falling") == []
    # and 0.03 MPa in 10 s = 0.18 MPa/min, fast, though delivered in the same instant
    h.send("p-2f-riser", "telemetry", f'{{"pressure_mpa":0.40,"ts":{t0}}}')
    h.send("p-2f-riser", "telemetry", f'{{"pressure_mpa":0.37,"ts":{t0 + 10_000}}}')
    assert [a.device_id for a in h.open("water_pressure_falling")] == ["p-2f-riser"]


def test_water_pressure_slow_drift_raises_nothing(h):
    for i in range(20):
        h.send("p-1f-riser", "telemetry", f'{{"pressure_mpa":{0.40 - 0.001 * i:.3f}}}')
        h.tick(10)
    assert h.open("water_pressure_falling") == []


def test_water_pressure_falling_clears_a_minute_after_the_fall_stops(h):
    t0 = h.clock.now_ms()
    for v in (0.40, 0.36, 0.32):
        h.send("p-1f-riser", "telemetry", f'{{"pressure_mpa":{v}}}')
        h.tick(10)
    for _ in range(9):
        h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.32}')
        h.tick(10)
    # at 50 s the slope over the window drops to 0.096 MPa/min; clear 60 s later
    [c] = h.actions("clear")
    assert c.alert.rule == "water_pressure_falling" and c.at == t0 + 110_000
    assert h.one("water_pressure_falling").state is AlertState.CLEARED_UNACK


def test_temperature_rising_fast_on_a_smoke_detector(h):
    for v in (22, 26, 30):
        h.send("sd-101", "telemetry", f'{{"temperature_c":{v}}}')
        h.tick(10)
    a = h.one("temperature_rising")  # 8 °C in 20 s = 24 °C/min
    assert (a.device_id, a.severity, a.priority) == ("sd-101", Severity.HIGH, "emergency")


def test_temperature_rising_slowly_raises_nothing(h):
    for i in range(10):
        h.send("sd-101", "telemetry", f'{{"temperature_c":{22 + i * 0.5}}}')  # 3 °C/min
        h.tick(10)
    assert h.open("temperature_rising") == []


# --- absence ---------------------------------------------------------------------------


def test_supervision_deadline_raises_device_offline(h):
    h.tick(100)
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":70}')
    h.tick(500)
    assert offline(h, "w-101-2") and not offline(h, "w-101-1")
    h.tick(100)
    [a] = offline(h, "w-101-1")
    assert a.value == "silent > 600 s" and a.priority == "trouble"


def test_last_will_raises_offline_at_once_and_the_next_message_clears_it(h):
    h.send("w-101-1", "status", '{"online":false}')
    [a] = offline(h, "w-101-1")
    assert a.value == "last will: offline" and a.severity is Severity.MEDIUM
    h.send("w-101-1", "status", '{"online":true}')
    [a] = offline(h, "w-101-1")
    assert a.state is AlertState.CLEARED_UNACK


def test_per_device_supervision_override(tmp_path, registry):
    rules = RuleSet(
        default_rules(),
        [Override(rule="device_offline", device="w-101-1", set={"supervision_s": 120})],
    )
    h = Harness(tmp_path / "cw.db", registry, rules=rules)
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":70}')
    h.send("w-101-2", "telemetry", '{"heart_rate_bpm":70}')
    h.tick(119)
    assert not offline(h, "w-101-1")
    h.tick(1)
    [a] = offline(h, "w-101-1")
    assert a.value == "silent > 120 s"
    h.tick(479)
    assert not offline(h, "w-101-2")
    h.tick(1)
    assert offline(h, "w-101-2")


# --- time window -----------------------------------------------------------------------


def test_night_wandering_out_of_own_room_at_night_raises(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, clock=FakeClock(local_ms(23, 30)))
    h.send("w-101-1", "telemetry", '{"zone":"101"}')
    assert h.open("night_wandering") == []
    h.send("w-101-1", "telemetry", '{"zone":"corridor-1"}')
    a = h.one("night_wandering")
    assert (a.severity, a.priority, a.value) == (Severity.HIGH, "emergency", "zone=corridor-1")


def test_night_wandering_window_spans_midnight(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, clock=FakeClock(local_ms(5, 50)))
    h.send("w-101-1", "telemetry", '{"zone":"corridor-1"}')
    assert h.one("night_wandering").device_id == "w-101-1"
    h.tick(15 * 60)  # 06:05: the window is over
    h.send("w-101-2", "telemetry", '{"zone":"corridor-1"}')
    assert [a.device_id for a in h.open("night_wandering")] == ["w-101-1"]


def test_out_of_own_room_in_the_daytime_raises_nothing(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, clock=FakeClock(local_ms(14)))
    h.send("w-101-1", "telemetry", '{"zone":"corridor-1"}')
    h.tick(60)
    h.send("w-101-1", "telemetry", '{"zone":"garden"}')
    assert h.open("night_wandering") == []
    h.clock.t = local_ms(21, 59)
    h.send("w-101-1", "telemetry", '{"zone":"garden"}')
    assert h.open("night_wandering") == []
    h.clock.t = local_ms(22, 0)
    h.send("w-101-1", "telemetry", '{"zone":"garden"}')
    assert h.one("night_wandering").raised_at == local_ms(22, 0)


def test_night_wandering_clears_when_back_in_own_room(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, clock=FakeClock(local_ms(2)))
    h.send("w-101-1", "telemetry", '{"zone":"102"}')  # another resident's room
    assert h.one("night_wandering").state is AlertState.ACTIVE_UNACK
    h.tick(120)
    h.send("w-101-1", "telemetry", '{"zone":"101"}')
    assert h.one("night_wandering").state is AlertState.CLEARED_UNACK


# --- correlation -----------------------------------------------------------------------


def test_two_smoke_detectors_on_one_floor_confirm_a_fire(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    assert h.open("fire_confirmed") == []
    h.tick(90)
    h.send("sd-105", "event", '{"event":"smoke_alarm","id":"s2"}')
    h.tick(10)
    h.send("sd-110", "event", '{"event":"smoke_alarm","id":"s3"}')
    [a] = h.open("fire_confirmed")
    assert (a.device_id, a.severity, a.latched) == ("floor:1", Severity.CRITICAL, True)
    assert (a.floor, a.group_key, a.value) == ("1", "floor:1", "sd-101, sd-105")
    assert alert_rows(h, "fire_confirmed") == 1


def test_smoke_on_two_floors_confirms_nothing(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    h.send("sd-201", "event", '{"event":"smoke_alarm","id":"s2"}')
    assert len(h.open("smoke")) == 2
    assert h.open("fire_confirmed") == []


def test_one_smoke_detector_twice_confirms_nothing(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    h.tick(30)
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s2"}')
    assert h.open("fire_confirmed") == []


def test_smoke_more_than_120_s_apart_confirms_nothing(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    h.tick(121)
    h.send("sd-102", "event", '{"event":"smoke_alarm","id":"s2"}')
    assert h.open("fire_confirmed") == []


def test_smoke_and_fast_heat_in_one_room_confirm_a_fire(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    for v in (22, 30, 38):
        h.tick(10)
        h.send("sd-101", "telemetry", f'{{"temperature_c":{v}}}')
    [a] = h.open("smoke_and_heat")
    assert (a.device_id, a.severity, a.room) == ("room:101", Severity.CRITICAL, "101")


def test_smoke_and_heat_in_different_rooms_confirm_nothing(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    for v in (22, 30, 38):
        h.tick(10)
        h.send("sd-102", "telemetry", f'{{"temperature_c":{v}}}')
    assert h.one("temperature_rising").device_id == "sd-102"
    assert h.open("smoke_and_heat") == []


# --- repetition ------------------------------------------------------------------------


def _press_and_cancel(h: Harness, device: str, n: int) -> None:
    h.send(device, "event", f'{{"event":"press","id":"{device}-p{n}"}}')
    h.tick(60)
    h.send(device, "event", f'{{"event":"cancel","id":"{device}-c{n}"}}')


def test_three_calls_within_30_min_raise_frequent_calls(h):
    for n in range(2):
        _press_and_cancel(h, "cb-101-1", n)
        h.tick(600)
    assert h.open("frequent_calls") == []
    h.send("cb-101-1", "event", '{"event":"press","id":"p-last"}')
    a = h.one("frequent_calls")
    assert (a.device_id, a.severity, a.priority) == ("cb-101-1", Severity.MEDIUM, "routine")
    assert a.value == "3x in 1800 s"


def test_three_calls_spread_over_more_than_30_min_raise_nothing(h):
    for n in range(3):
        _press_and_cancel(h, "cb-101-1", n)
        h.tick(900)
    assert h.open("frequent_calls") == []


def test_calls_from_different_buttons_do_not_add_up(h):
    for n, dev in enumerate(("cb-101-1", "cb-101-2", "cb-102-1")):
        _press_and_cancel(h, dev, n)
    assert h.open("frequent_calls") == []


# --- system ----------------------------------------------------------------------------


def test_store_unhealthy_for_60_s_raises_store_unreachable(h):
    h.health("store", False)
    h.tick(30)
    h.health("store", False)
    h.tick(29.9)
    assert h.open("store_unreachable") == []
    h.tick(0.1)
    a = h.one("store_unreachable")
    assert (a.device_id, a.severity, a.priority) == ("system:store", Severity.HIGH, "trouble")


def test_store_healthy_again_before_60_s_raises_nothing(h):
    h.health("store", False)
    h.tick(45)
    h.health("store", True)
    h.tick(120)
    assert h.open("store_unreachable") == []


def test_store_healthy_after_the_alert_clears_it(h):
    h.health("store", False)
    h.tick(60)
    a = h.one("store_unreachable")
    h.tick(30)
    h.health("store", True)
    cleared = h.one("store_unreachable")
    assert cleared.id == a.id and cleared.state is AlertState.CLEARED_UNACK
