"""The home-bed kit's default rules on a fake clock (docs/home-beds.md): the one-touch
terminal's call, call-back and check-in, gas, the entrance door at night, no activity in
daytime, the day's check-in, the terminal offline and its battery."""

from __future__ import annotations

from datetime import datetime
from itertools import count
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from alerting.defaults import default_rules
from alerting.items import Incoming
from alerting.rulebook import Rulebook
from alerting.ruleset import RuleSet
from devices.ports import FakeClock
from devices.registry import Registry
from devices.siteconfig import SiteConfig
from tests.engine_harness import Harness

SHANGHAI = ZoneInfo("Asia/Shanghai")
_ids = count(1)


def home(site: str = "hb-t", **resident: Any) -> SiteConfig:
    """A home bed with the kit; `resident` sets no_activity_h / checkin_by."""
    return SiteConfig.model_validate(
        {
            "id": site,
            "kind": "home_bed",
            "name": "test home",
            "address": "1 Test Road",
            "residents": [{"id": "r-1", "display_name": "Test Resident", **resident}],
            "devices": [
                {"id": f"{site}-term", "type": "home_terminal", "room": "home", "resident": "r-1"},
                {"id": f"{site}-gas", "type": "gas_detector", "room": "home"},
                {"id": f"{site}-door", "type": "door_contact", "room": "home"},
                {"id": f"{site}-bed", "type": "bed_presence", "room": "home", "resident": "r-1"},
                {"id": f"{site}-pir", "type": "motion_sensor", "room": "home"},
            ],
        }
    )


def at(day: int, hh: int, mm: int = 0, ss: int = 0, zone: ZoneInfo = SHANGHAI) -> int:
    """Epoch ms of 2026-12-<day> hh:mm:ss in `zone`."""
    return int(datetime(2026, 12, day, hh, mm, ss, tzinfo=zone).timestamp() * 1000)


def harness(tmp_path: Path, start: int, zone: str = "Asia/Shanghai", **resident: Any) -> Harness:
    reg = Registry([home(**resident)])
    rules = Rulebook(RuleSet(default_rules()), zones={"hb-t": zone})
    return Harness(tmp_path / "cw.db", reg, FakeClock(start), rules)  # type: ignore[arg-type]


def send(h: Harness, device: str, kind: str, body: dict[str, Any]) -> None:
    if kind == "event":
        body = {"id": f"e-{next(_ids)}", **body}
    d = h.decoder.decode(f"carewatch/v1/hb-t/{device}/{kind}", orjson.dumps(body), h.clock.now_ms())
    h.changes += h.engine.process([Incoming(d)]).changes


def until(h: Harness, ms: int) -> None:
    """Move the fake clock to `ms`, serving what falls due on the way (one batch a step,
    as the runner's wait ends at each deadline)."""
    while h.clock.now_ms() < ms:
        due = h.engine.next_due_ms()
        step = ms if due is None or due > ms else max(due, h.clock.now_ms() + 1)
        h.clock.t = step
        h.tick(0)


def rules_of(h: Harness) -> set[str]:
    return {a.rule for a in h.open()}


# --- the terminal ----------------------------------------------------------------------


def test_a_terminal_press_is_a_call_cancelled_at_the_terminal(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 9))
    send(h, "hb-t-term", "event", {"event": "press"})
    call = h.one("call")
    assert (call.device_id, call.severity, call.priority) == ("hb-t-term", "high", "emergency")
    send(h, "hb-t-term", "event", {"event": "cancel"})  # the resident: a false press
    assert h.open("call") == []


def test_a_call_back_request_is_routine(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 9))
    send(h, "hb-t-term", "event", {"event": "callback"})
    a = h.one("callback_request")
    assert (a.severity, a.priority) == ("medium", "routine")
    assert h.open("call") == []


def test_the_terminal_silent_is_terminal_offline_not_a_plain_device_offline(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, at(7, 9))
    send(h, "hb-t-term", "telemetry", {"battery_pct": 80})
    until(h, h.clock.now_ms() + 3601_000)  # the terminal's 1 h supervision
    a = h.one("terminal_offline")
    assert (a.device_id, a.severity, a.priority) == ("hb-t-term", "high", "trouble")
    assert [x.device_id for x in h.open("device_offline")] != ["hb-t-term"]
    assert all(x.device_id != "hb-t-term" for x in h.open("device_offline"))
    send(h, "hb-t-term", "status", {"online": True})
    assert h.open("terminal_offline")[0].state == "cleared_unack"


def test_a_low_terminal_battery_is_reported_by_the_existing_battery_rules(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 9))
    send(h, "hb-t-term", "telemetry", {"battery_pct": 12})
    a = h.one("battery_low")
    assert (a.device_id, a.severity, a.priority) == ("hb-t-term", "low", "trouble")
    send(h, "hb-t-term", "event", {"event": "low_battery"})
    assert h.one("battery_low_reported").device_id == "hb-t-term"


# --- gas and the door ------------------------------------------------------------------


def test_gas_is_critical_at_once_and_stays_until_a_person_resets_it(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 3))
    send(h, "hb-t-gas", "telemetry", {"gas": False})
    assert h.open() == []
    send(h, "hb-t-gas", "telemetry", {"gas": True, "gas_density": 14})
    a = h.one("gas_leak")
    assert (a.severity, a.priority, a.value) == ("critical", "emergency", "gas=true")
    send(h, "hb-t-gas", "telemetry", {"gas": False})
    assert h.one("gas_leak").state == "active_unack"  # latched: gone is not safe


def test_the_entrance_door_open_at_night_for_ten_minutes_is_an_alert(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 2, 55))
    send(h, "hb-t-door", "telemetry", {"contact": False})  # opened at 02:55
    until(h, at(7, 3, 4))
    assert h.open("door_open_night") == []
    until(h, at(7, 3, 5, 1))
    a = h.one("door_open_night")
    assert (a.severity, a.value) == ("high", "contact=false")
    send(h, "hb-t-door", "telemetry", {"contact": True})
    assert h.one("door_open_night").state == "cleared_unack"


def test_the_door_open_by_day_or_closed_again_in_time_is_no_alert(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 15))
    send(h, "hb-t-door", "telemetry", {"contact": False})  # the afternoon: airing the flat
    until(h, at(7, 15, 30))
    send(h, "hb-t-door", "telemetry", {"contact": False})
    until(h, at(7, 16))
    assert h.open("door_open_night") == []
    until(h, at(7, 23))
    send(h, "hb-t-door", "telemetry", {"contact": False})  # out with the rubbish
    until(h, at(7, 23, 5))
    send(h, "hb-t-door", "telemetry", {"contact": True})
    until(h, at(7, 23, 30))
    assert h.open("door_open_night") == []


def test_the_night_is_the_sites_night_in_its_own_time_zone(tmp_path: Path) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 23:00 in Berlin is 06:00 in Shanghai: outside a Shanghai night, inside Berlin's
    h = harness(tmp_path, at(7, 23, 0, zone=berlin), zone="Europe/Berlin")
    send(h, "hb-t-door", "telemetry", {"contact": False})
    until(h, at(7, 23, 11, zone=berlin))
    assert h.one("door_open_night").device_id == "hb-t-door"


# --- no activity ---------------------------------------------------------------------


def test_no_activity_for_the_residents_daytime_hours_is_a_welfare_alert(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 8), no_activity_h=4)
    send(h, "hb-t-pir", "telemetry", {"occupancy": True})  # 08:00
    until(h, at(7, 11, 59))
    assert h.open("no_activity") == []
    until(h, at(7, 12, 0, 1))
    a = h.one("no_activity")
    # filed under the resident's terminal: the console shows it as their call
    assert (a.device_id, a.severity, a.priority) == ("hb-t-term", "medium", "routine")
    assert a.value == "last activity 08:00"
    send(h, "hb-t-pir", "telemetry", {"occupancy": False})  # a heartbeat: nobody moved
    assert h.one("no_activity").state == "active_unack"
    send(h, "hb-t-pir", "telemetry", {"occupancy": True})
    assert h.one("no_activity").state == "cleared_unack"


def test_night_hours_do_not_count_towards_no_activity(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 20), no_activity_h=4)
    send(h, "hb-t-term", "event", {"event": "checkin"})  # 20:00, then to bed
    # 20:00-22:00 counts 2 h; the night not; 07:00-09:00 the other 2 h
    until(h, at(8, 8, 59))
    assert h.open("no_activity") == []
    until(h, at(8, 9, 0, 1))
    assert h.one("no_activity").value == "last activity 20:00"


@pytest.mark.parametrize(
    ("device", "kind", "bodies"),
    [
        ("hb-t-door", "telemetry", [{"contact": True}, {"contact": False}]),  # opened
        ("hb-t-bed", "telemetry", [{"presence": True}, {"presence": False}]),  # got up
        ("hb-t-term", "event", [{"event": "checkin"}]),
        ("hb-t-term", "event", [{"event": "press"}]),
    ],
)
def test_a_door_a_bed_change_or_a_press_counts_as_activity(
    tmp_path: Path, device: str, kind: str, bodies: list[dict[str, Any]]
) -> None:
    h = harness(tmp_path, at(7, 8), no_activity_h=2)
    until(h, at(7, 9, 30))
    for body in bodies:
        send(h, device, kind, body)  # 09:30
    until(h, at(7, 11, 20))  # 2 h after the start, not after the activity
    assert h.open("no_activity") == []
    until(h, at(7, 11, 31))
    assert h.one("no_activity").value == "last activity 09:30"


def test_a_door_or_bed_reporting_the_same_state_is_no_activity(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 8), no_activity_h=2)
    for _ in range(3):  # the sensors' check-ins repeat their state
        send(h, "hb-t-door", "telemetry", {"contact": True})
        send(h, "hb-t-bed", "telemetry", {"presence": True})
        until(h, h.clock.now_ms() + 1800_000)
    until(h, at(7, 10, 0, 1))
    assert h.one("no_activity").value == "last activity 08:00"  # since the start


def test_the_no_activity_count_survives_a_restart(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 8), no_activity_h=3)
    send(h, "hb-t-pir", "telemetry", {"occupancy": True})
    until(h, at(7, 10))
    h.restart()
    until(h, at(7, 11, 0, 1))
    assert h.one("no_activity").value == "last activity 08:00"


# --- the daily check-in ----------------------------------------------------------------


def test_no_check_in_by_the_hour_raises_a_low_welfare_alert_cleared_by_the_next(
    tmp_path: Path,
) -> None:
    h = harness(tmp_path, at(7, 8), checkin_by="10:00")
    until(h, at(7, 10, 0, 1))
    assert h.open("daily_checkin") == []  # the first day counts from the start
    until(h, at(8, 10, 0, 1))  # a whole day without a sign
    a = h.one("daily_checkin")
    assert (a.device_id, a.severity, a.priority) == ("hb-t-term", "low", "routine")
    assert a.value == "no check-in by 10:00"
    send(h, "hb-t-term", "event", {"event": "checkin"})  # "I'm OK", late
    assert h.one("daily_checkin").state == "cleared_unack"
    h.command("ack", h.one("daily_checkin").id)
    until(h, at(9, 7))
    send(h, "hb-t-pir", "telemetry", {"occupancy": True})  # any activity does for the day
    until(h, at(9, 10, 0, 1))
    assert h.open("daily_checkin") == []


def test_the_check_in_day_starts_at_local_midnight(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 8), checkin_by="10:00")
    until(h, at(7, 23, 50))
    send(h, "hb-t-term", "event", {"event": "checkin"})  # late last night: not today's
    until(h, at(8, 10, 0, 1))
    assert h.one("daily_checkin").value == "no check-in by 10:00"
    until(h, at(9, 0, 10))
    send(h, "hb-t-term", "event", {"event": "checkin"})  # ten past midnight: today's
    until(h, at(9, 10, 0, 1))
    assert h.open("daily_checkin")[0].state == "cleared_unack"  # cleared by it, not raised


def test_a_check_in_hour_just_after_midnight(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 22), checkin_by="00:30")
    until(h, at(7, 23, 59))
    send(h, "hb-t-term", "event", {"event": "checkin"})  # yesterday, for the 00:30 check
    until(h, at(8, 0, 30, 1))
    assert h.one("daily_checkin").value == "no check-in by 00:30"


def test_the_check_in_hour_is_the_sites_local_hour(tmp_path: Path) -> None:
    ny = ZoneInfo("America/New_York")
    h = harness(tmp_path, at(7, 12, 0, zone=ny), zone="America/New_York", checkin_by="10:00")
    until(h, at(8, 9, 59, zone=ny))  # 22:59 in Shanghai: nothing there would count
    assert h.open("daily_checkin") == []
    until(h, at(8, 10, 0, 1, zone=ny))
    assert h.one("daily_checkin").raised_at == at(8, 10, 0, zone=ny)


def test_a_resident_without_hours_set_is_not_checked(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 8))
    until(h, at(9, 12))
    assert not {"no_activity", "daily_checkin"} & rules_of(h)


# --- the rules file --------------------------------------------------------------------


def test_the_daytime_of_no_activity_is_set_in_the_rules_file_and_checked(tmp_path: Path) -> None:
    from alerting.rulecheck import check_file

    good = tmp_path / "rules.yaml"
    good.write_text(
        "overrides:\n  - {rule: no_activity, set: {start: '08:00', end: '21:00'}}\n"
        "  - {rule: daily_checkin, set: {enabled: false}}\n",
        encoding="utf-8",
    )
    f, problems = check_file(good)
    assert f is not None and problems == []
    rules = RuleSet.from_file(f)
    day = rules.rules["no_activity"]
    assert (getattr(day, "start", None), getattr(day, "end", None)) == ("08:00", "21:00")
    assert not rules.rules["daily_checkin"].enabled
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "overrides:\n  - {rule: no_activity, set: {start: '8 am'}}\n"
        "  - {rule: no_activity, site: hb-t, set: {end: '20:00'}}\n",
        encoding="utf-8",
    )
    _, problems = check_file(bad)
    assert any("HH:MM" in p for p in problems), problems
    assert any("not a device rule" in p for p in problems), problems


def _restart_with(h: Harness, **resident: Any) -> Harness:
    """The service restarted on the same database after the site file changed."""
    h.conn.close()
    reg = Registry([home(**resident)])
    rules = Rulebook(RuleSet(default_rules()), zones={"hb-t": "Asia/Shanghai"})
    return Harness(h.path, reg, h.clock, rules)  # type: ignore[arg-type]


def test_a_check_in_hour_changed_in_the_site_file_applies_after_a_restart(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 8), checkin_by="10:00")
    until(h, at(8, 7))
    h = _restart_with(h, checkin_by="08:00")  # nothing since yesterday 08:00
    until(h, at(8, 8, 0, 1))
    assert h.one("daily_checkin").value == "no check-in by 08:00"


def test_a_no_activity_alert_open_at_a_restart_keeps_its_last_activity(tmp_path: Path) -> None:
    h = harness(tmp_path, at(7, 8), no_activity_h=2)
    until(h, at(7, 10, 0, 1))
    assert h.one("no_activity").value == "last activity 08:00"
    until(h, at(7, 13))
    h.restart()
    until(h, at(7, 18))
    assert h.one("no_activity").value == "last activity 08:00"
    assert len(h.actions("raise")) == len(
        {(c.alert.rule, c.alert.device_id) for c in h.actions("raise")}
    )


# --- the clock arithmetic, pure ----------------------------------------------------------


def _ms(zone: str, *t: int) -> int:
    return int(datetime(*t, tzinfo=ZoneInfo(zone)).timestamp() * 1000)  # type: ignore[misc]


def test_daytime_hours_skip_the_night_and_follow_a_daylight_saving_change() -> None:
    from alerting.welfare import daytime_due, next_at

    sh = ZoneInfo("Asia/Shanghai")
    since = _ms("Asia/Shanghai", 2026, 12, 7, 21, 0)
    assert daytime_due(since, 4, "07:00", "22:00", sh) == _ms("Asia/Shanghai", 2026, 12, 8, 10)
    assert daytime_due(since, 4, None, None, sh) == _ms("Asia/Shanghai", 2026, 12, 8, 1)
    # the night of 8 March 2026 is an hour shorter in New York: still 07:00 local
    ny = ZoneInfo("America/New_York")
    since = _ms("America/New_York", 2026, 3, 7, 21, 30)
    assert daytime_due(since, 1, "07:00", "22:00", ny) == _ms("America/New_York", 2026, 3, 8, 7, 30)
    assert next_at(since, "10:00", ny) == _ms("America/New_York", 2026, 3, 8, 10)
    # daytime hours spanning midnight (a night-shift resident: 20:00-08:00)
    since = _ms("Asia/Shanghai", 2026, 12, 7, 23, 0)
    assert daytime_due(since, 10, "20:00", "08:00", sh) == _ms("Asia/Shanghai", 2026, 12, 8, 21)
