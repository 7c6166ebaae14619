"""Fire patrols' rounds as pure functions on fake times (alerting/rounds.py): the schedule
in the site's time zone across midnight and summer time, each checkpoint done / late /
missed / due, and when `round_missed` holds and clears; and the site file's `rounds:`
section checked as a whole, every problem named by file and line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alerting.hazards import CATEGORIES
from alerting.rounds import (
    CHECKLIST,
    current_round,
    hits_of,
    missed_verdict,
    next_start,
    round_at,
    rounds_between,
    status,
    verdict_text,
)
from devices.decode import Decoder
from devices.model import DeviceEvent, Rejection
from devices.registry import load_sites
from devices.rounds import RouteConfig
from devices.yamlconf import ConfigError
from tests.conftest import ROOT

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = RouteConfig(
    id="night", name="夜间防火巡查", checkpoints=["a", "b", "c"], start="22:00", end="06:00",
    every_h=2, duration_min=60, grace_min=15,
)  # fmt: skip


def ms(text: str, tz: ZoneInfo = SH) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


def local(at_ms: int, tz: ZoneInfo = SH) -> str:
    return datetime.fromtimestamp(at_ms / 1000, tz).strftime("%m-%d %H:%M")


def test_every_checklist_item_opens_a_known_hazard_category() -> None:
    assert set(CHECKLIST.values()) <= set(CATEGORIES)
    assert CHECKLIST["exit_clear"] == "exit_blocked" and CHECKLIST["pump_auto"] == "hydrant"


def test_a_night_route_runs_every_two_hours_across_midnight_on_the_sites_clock() -> None:
    found = rounds_between(NIGHT, SH, ms("2026-12-05T12:00"), ms("2026-12-06T12:00"))
    assert [local(r.start_ms) for r in found] == [
        "12-05 22:00", "12-06 00:00", "12-06 02:00", "12-06 04:00",
    ]  # fmt: skip
    r = found[2]
    assert local(r.due_ms) == "12-06 03:00" and local(r.grace_until_ms) == "12-06 03:15"
    assert local(r.slot_end_ms) == "12-06 04:00"
    # a check-in belongs to the round whose slot holds it; none after the night's last
    assert round_at(NIGHT, SH, ms("2026-12-06T03:59")) == r
    assert round_at(NIGHT, SH, ms("2026-12-06T06:30")) is None
    assert local(next_start(NIGHT, SH, ms("2026-12-06T06:30")) or 0) == "12-06 22:00"


def test_rounds_keep_their_wall_clock_hours_across_summer_time() -> None:
    hourly = RouteConfig(
        id="h", name="h", checkpoints=["a"], start="00:00", end="05:00", every_h=1,
        duration_min=30, grace_min=10,
    )  # fmt: skip
    spring = rounds_between(hourly, BERLIN, ms("2026-03-28T12:00", BERLIN),
                            ms("2026-03-29T12:00", BERLIN))  # fmt: skip
    starts = [r.start_ms for r in spring]
    assert starts == sorted(set(starts))  # 02:00 does not exist: no round twice
    assert [local(s, BERLIN) for s in starts] == [
        "03-29 00:00", "03-29 01:00", "03-29 03:00", "03-29 04:00",
    ]  # fmt: skip
    assert all(r.slot_end_ms > r.start_ms for r in spring)
    autumn = rounds_between(hourly, BERLIN, ms("2026-10-24T12:00", BERLIN),
                            ms("2026-10-25T12:00", BERLIN))  # fmt: skip
    assert [local(r.start_ms, BERLIN) for r in autumn] == [
        "10-25 00:00", "10-25 01:00", "10-25 02:00", "10-25 03:00", "10-25 04:00",
    ]  # fmt: skip
    # 02:00 to 03:00 is two real hours that night: the slot is as long as it really is
    assert autumn[2].slot_end_ms - autumn[2].start_ms == 2 * 3_600_000


def test_checkpoints_are_done_late_missed_or_due_and_the_round_with_them() -> None:
    rnd = rounds_between(NIGHT, SH, ms("2026-12-06T01:00"), ms("2026-12-06T03:00"))[0]
    rows = [("a", ms("2026-12-06T02:10"), "nurse-li"), ("b", ms("2026-12-06T03:05"), "nurse-li")]
    hits = hits_of(rnd, rows)
    at_0230 = status(NIGHT, rnd, hits, ms("2026-12-06T02:30"))
    assert at_0230.status == "in_progress"
    assert [p.status for p in at_0230.points] == ["done", "due", "due"]  # b not yet at 02:30
    at_0316 = status(NIGHT, rnd, hits, ms("2026-12-06T03:16"))
    assert [p.status for p in at_0316.points] == ["done", "late", "missed"]
    assert at_0316.status == "missed" and at_0316.count("late") == 1
    assert at_0316.points[0].by == "nurse-li"
    done = hits_of(rnd, [*rows, ("c", ms("2026-12-06T02:50"), "nurse-wang")])
    assert status(NIGHT, rnd, done, ms("2026-12-06T03:20")).status == "late"
    on_time = hits_of(rnd, [(c, ms("2026-12-06T02:20"), "x") for c in "abc"])
    assert status(NIGHT, rnd, on_time, ms("2026-12-06T02:30")).status == "done"
    # after due + grace, within the slot: too late to count, missed as in the alert
    too_late = hits_of(rnd, [*rows, ("c", ms("2026-12-06T03:15"), "nurse-wang")])
    at_0320 = status(NIGHT, rnd, too_late, ms("2026-12-06T03:20"))
    assert [p.status for p in at_0320.points] == ["done", "late", "missed"]
    assert at_0320.status == "missed" and at_0320.points[2].by == "nurse-wang"
    v = missed_verdict(NIGHT, SH, [*rows, ("c", ms("2026-12-06T03:15"), "x")],
                       ms("2026-12-06T03:20"), ms("2026-12-05T20:00"))  # fmt: skip
    assert v.holds and v.round == rnd and v.missed == at_0320.count("missed") == 1
    nxt = current_round(NIGHT, SH, ms("2026-12-06T10:00"))
    assert nxt is not None and local(nxt.start_ms) == "12-06 22:00"
    assert status(NIGHT, nxt, {}, ms("2026-12-06T10:00")).status == "upcoming"


def test_round_missed_holds_from_due_plus_grace_until_a_later_round_is_done() -> None:
    since = ms("2026-12-05T20:00")
    walked = [(c, ms(f"2026-12-05T22:{10 + i}"), "nurse-li") for i, c in enumerate("abc")]
    walked += [(c, ms(f"2026-12-06T00:{10 + i}"), "nurse-li") for i, c in enumerate("abc")]
    walked.append(("a", ms("2026-12-06T02:20"), "nurse-li"))  # then nothing at 02:00
    assert not missed_verdict(NIGHT, SH, walked, ms("2026-12-06T03:14"), since).holds
    v = missed_verdict(NIGHT, SH, walked, ms("2026-12-06T03:15"), since)
    assert v.holds and v.missed == 2 and v.total == 3
    assert verdict_text(NIGHT, v, SH) == "night 02:00 round (2026-12-06): 2 of 3 checkpoints missed"
    # the 04:00 round walked in full clears it
    later = walked + [(c, ms(f"2026-12-06T04:{10 + i}"), "nurse-wang") for i, c in enumerate("abc")]
    assert not missed_verdict(NIGHT, SH, later, ms("2026-12-06T04:13"), since).holds
    # not walked: it holds on through the day, now about the 04:00 round
    v = missed_verdict(NIGHT, SH, walked, ms("2026-12-06T12:00"), since)
    assert v.holds and "04:00 round" in verdict_text(NIGHT, v, SH) and v.missed == 3
    # rounds before the watch began are not raised: a new install is quiet
    assert not missed_verdict(NIGHT, SH, [], ms("2026-12-06T03:30"), ms("2026-12-06T02:30")).holds


# --- the site file ---------------------------------------------------------------------

SITE = """\
id: {id}
name: t
floors:
  - id: "1"
    rooms: [{{id: "101"}}, {{id: "1-utility"}}]
  - id: "2"
    rooms: [{{id: "201"}}]
rounds:
  checkpoints:
    - {{id: cp-a, name: A, floor: "1", tag: "nfc:aa", checklist: [exit_clear]}}
    - {{id: cp-b, name: B, floor: "1", room: "1-utility", tag: "{tag_b}",
       checklist: [{item}]}}
    - {{id: cp-c, name: C, floor: "{floor_c}", room: "{room_c}", tag: "{tag_c}"}}
  routes:
    - {{id: night, name: N, checkpoints: [cp-a, {cp}], start: "22:00", end: "06:00",
       every_h: 2}}
"""


def _site(tmp_path: Path, name: str = "s.yaml", **kw: str) -> Path:
    values = {"id": "s1", "tag_b": "nfc:bb", "tag_c": "nfc:cc", "item": "electrical_ok", "floor_c": "2",
              "room_c": "201", "cp": "cp-b"} | kw  # fmt: skip
    p = tmp_path / name
    p.write_text(SITE.format(**values), encoding="utf-8")
    return p


def test_a_sound_rounds_section_loads_and_the_demo_home_has_its_night_route(
    tmp_path: Path,
) -> None:
    reg = load_sites(_site(tmp_path))
    assert [c.id for c in reg.sites["s1"].rounds.checkpoints] == ["cp-a", "cp-b", "cp-c"]  # type: ignore[union-attr]
    demo = load_sites(ROOT / "examples" / "demo-site.yaml").sites["sunrise"].rounds
    assert demo is not None and len(demo.routes[0].checkpoints) == 8
    assert reg.get("s1", "x") is None


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        ({"cp": "cp-zz"}, 15, "route night: unknown checkpoint 'cp-zz'"),
        ({"floor_c": "9", "room_c": "201"}, 13, "checkpoint cp-c: unknown floor '9'"),
        ({"room_c": "999"}, 13, "checkpoint cp-c: unknown room '999'"),
        ({"room_c": "101"}, 13, "room '101' is on floor '1', not '2'"),
        ({"tag_b": "nfc:aa"}, 11, "tag 'nfc:aa' is also checkpoint cp-a's"),
        ({"item": "coffee_hot"}, 12, "checkpoint cp-b: unknown checklist item 'coffee_hot'"),
        ({"tag_c": "qr:a+b"}, 13, "tag"),  # a QR link would need it escaped
        ({"tag_c": "qr:" + "x" * 62}, 13, "tag"),  # 65: longer than a reader sends
        ({"tag_b": "NFC:AA"}, 11, "tag 'nfc:aa' is also checkpoint cp-a's"),  # one uid, any case
    ],
)
def test_check_config_names_file_and_line_of_each_rounds_problem(
    tmp_path: Path, change: dict[str, str], line: int, message: str
) -> None:
    path = _site(tmp_path, **change)
    with pytest.raises(ConfigError) as err:
        load_sites(path)
    [problem] = err.value.problems
    assert problem.startswith(f"{path}:{line}: rounds."), problem
    assert message in problem


def test_a_tag_used_at_two_sites_of_one_service_is_named_with_both(tmp_path: Path) -> None:
    _site(tmp_path, "a.yaml")
    other = _site(tmp_path, "b.yaml", id="s2", tag_b="nfc:b2", tag_c="nfc:c2")
    with pytest.raises(ConfigError) as err:
        load_sites(tmp_path)
    [problem] = err.value.problems
    assert problem.startswith(f"{other}:10: rounds.checkpoints.0.tag:"), problem
    assert "tag 'nfc:aa' is also a checkpoint's of site s1" in problem


def test_a_site_model_built_without_a_file_still_checks_its_rounds(tmp_path: Path) -> None:
    import yaml

    from devices.siteconfig import SiteConfig

    data = yaml.safe_load(_site(tmp_path, cp="cp-zz").read_text())
    with pytest.raises(ValueError, match="unknown checkpoint 'cp-zz'"):
        SiteConfig.model_validate(data)


@pytest.mark.parametrize(
    ("payload", "reason", "says"),
    [
        ('{"event":"scan"}', "missing_field", "scan needs 'tag'"),
        ('{"event":"scan","tag":7}', "wrong_type", "tag must be text"),
        ('{"event":"scan","tag":"nfc:1","problem":"dragons"}', "", "problem"),
    ],
)
def test_a_readers_bad_scan_is_refused_with_a_reason_and_checks_nothing_in(
    payload: str, reason: str, says: str
) -> None:
    """A scan without its tag, or with a problem code the checklist does not have, is
    dead-lettered with the reason (nothing is recorded as an "ok" round)."""
    registry = load_sites(ROOT / "examples" / "demo-site.yaml")
    d = Decoder(registry).decode(
        "carewatch/v1/sunrise/tr-1f-duty/event", payload.encode(), 1_795_300_000_000
    )
    assert isinstance(d, Rejection), d
    assert says in d.detail and (not reason or d.reason == reason)


def test_a_readers_scan_with_a_bad_staff_id_is_kept_without_it() -> None:
    """Who read the tag is a description: a bad one never costs the check-in (the reader's
    device id stands in for it, docs/protocol.md)."""
    registry = load_sites(ROOT / "examples" / "demo-site.yaml")
    body = '{"event":"scan","tag":"nfc:04a2b3c4d5e601","staff":"' + "s" * 33 + '"}'
    d = Decoder(registry).decode("carewatch/v1/sunrise/tr-1f-duty/event", body.encode(), 1)
    assert isinstance(d, DeviceEvent) and d.attrs == {"tag": "nfc:04a2b3c4d5e601"}


def test_nfc_tags_are_one_whatever_their_case_and_a_qr_tag_keeps_its_case(
    tmp_path: Path,
) -> None:
    reg = load_sites(_site(tmp_path, tag_b="NFC:04A2BB", tag_c="qr:Room-201.A_1"))
    cps = reg.sites["s1"].rounds.checkpoints  # type: ignore[union-attr]
    assert [c.tag for c in cps] == ["nfc:aa", "nfc:04a2bb", "qr:Room-201.A_1"]
    assert load_sites(_site(tmp_path, tag_c="qr:" + "x" * 61)).sites["s1"]  # 64: fine


@pytest.mark.parametrize(
    ("start", "end", "every_h", "overlap"),
    [("08:00", "08:00", "5", 60), ("00:00", "23:00", "10", 360), ("07:30", "07:30", "7", 240)],
)
def test_a_route_whose_last_slot_runs_into_the_next_days_first_round_is_refused(
    tmp_path: Path, start: str, end: str, every_h: str, overlap: int
) -> None:
    """Every 5 h around the clock from 08:00: 08, 13, 18, 23 and 04:00, whose slot would run
    to 09:00, an hour into the next day's 08:00 round (a check-in would count for both)."""
    path = _site(tmp_path)
    path.write_text(
        path.read_text().replace('start: "22:00", end: "06:00",\n       every_h: 2',
                                 f'start: "{start}", end: "{end}",\n       every_h: {every_h}')
    )  # fmt: skip
    with pytest.raises(ConfigError) as err:
        load_sites(path)
    [problem] = err.value.problems
    assert problem.startswith(f"{path}:16: rounds.routes.0.every_h"), problem
    assert f"runs {overlap} min into the next day's first round at {start}" in problem


@pytest.mark.parametrize(
    ("start", "end", "every_h"), [("08:00", "08:00", "6"), ("08:00", "08:00", "24"),
                                  ("22:00", "06:00", "3"), ("00:00", "23:00", "8")],
)  # fmt: skip
def test_a_route_whose_rounds_tile_the_day_loads(
    tmp_path: Path, start: str, end: str, every_h: str
) -> None:
    path = _site(tmp_path)
    path.write_text(
        path.read_text().replace('start: "22:00", end: "06:00",\n       every_h: 2',
                                 f'start: "{start}", end: "{end}",\n       every_h: {every_h}')
    )  # fmt: skip
    assert load_sites(path).sites["s1"].rounds is not None


def test_a_two_hourly_routes_slot_over_the_change_of_summer_time_is_as_long_as_it_is() -> None:
    """What docs/fire-duty.md says of the night route in Berlin: in autumn the 02:00
    round's slot runs three real hours (02:00 summer time to 04:00 winter time); in spring
    the 02:00 round starts at 03:00 summer time and its slot is one hour."""
    autumn = rounds_between(NIGHT, BERLIN, ms("2026-10-24T12:00", BERLIN),
                            ms("2026-10-25T12:00", BERLIN))  # fmt: skip
    assert [(local(r.start_ms, BERLIN), (r.slot_end_ms - r.start_ms) // 3_600_000)
            for r in autumn] == [("10-24 22:00", 2), ("10-25 00:00", 2), ("10-25 02:00", 3),
                                 ("10-25 04:00", 2)]  # fmt: skip
    spring = rounds_between(NIGHT, BERLIN, ms("2026-03-28T12:00", BERLIN),
                            ms("2026-03-29T12:00", BERLIN))  # fmt: skip
    assert [(local(r.start_ms, BERLIN), (r.slot_end_ms - r.start_ms) // 3_600_000)
            for r in spring] == [("03-28 22:00", 2), ("03-29 00:00", 2), ("03-29 03:00", 1),
                                 ("03-29 04:00", 2)]  # fmt: skip
