"""The scenario format's home keys and the judge on their own (no service): operators'
actions and marks on the timeline, expected escalation steps (in order, in time, or not at
all), the alert's end state and recorded outcome, and the site's own clock."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from devices.yamlconf import ConfigError
from simulators import judge as jg
from simulators import play, siteclock
from simulators import scenario as sc

T0 = 1_795_300_000_000
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}+00:00"


def _load(tmp_path: Path, text: str) -> sc.Loaded:
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    return sc.load(p)


HOME = """title: a fall at home, answered
site_clock: true
start: "14:29:55"
speed: 1
timeline:
  - {at: "14:30:00", device: band, do: fall_event, say: she falls}
  - {at: "14:30:04", operator: ack, rule: fall, by: op-li, say: the operator answers}
  - {at: "14:30:06", operator: outcome, rule: fall, by: op-li, with: {code: solved_by_phone}}
  - {at: "14:30:20", say: nobody else was called}
expect:
  - rule: fall
    device: band
    within_s: 5
    state: closed
    outcome: solved_by_phone
    steps:
      - {target: operator, within_s: 3}
      - {target: family_1, absent: true, within_s: 15}
"""


def _alert(aid: str, rule: str, device: str, raised: int, state: str = "active_unack") -> dict:
    return {
        "id": aid,
        "rule": rule,
        "device_id": device,
        "severity": "critical",
        "state": state,
        "raised_at": _iso(raised),
        "last_at": _iso(raised),
    }


def _row(at: int, action: str, note: str | None) -> dict:
    return {"at": _iso(at), "action": action, "note": note, "by": None}


def test_a_home_timeline_has_happenings_operators_and_marks(tmp_path):
    loaded = _load(tmp_path, HOME)
    kinds = [(e.happening, e.operator) for e in loaded.scenario.timeline]
    assert kinds == [(True, None), (False, "ack"), (False, "outcome"), (False, None)]
    assert [st.device for st in loaded.steps()] == ["band"]  # only happenings reach devices
    assert loaded.devices() == {"band"}
    assert loaded.length_s() == 25
    assert loaded.scenario.timeline[2].with_ == {"code": "solved_by_phone"}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- {at: 1, operator: ack}", "needs the alert's `rule`"),
        ("- {at: 1, operator: ack, rule: fall, do: fall}", "has no `do` or `publish`"),
        ("- {at: 1, rule: fall, device: band, do: fall}", "`rule` goes with `operator`"),
        ("- {at: 1}", "a `device`, an `operator` or (a mark) `say`"),
        ("- {at: 1, do: fall}", "a happening needs its `device`"),
        ("- {at: 1, operator: phone, rule: fall}", "operator"),
    ],
)
def test_a_bad_timeline_entry_is_named(tmp_path, text, problem):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, f"title: t\ntimeline:\n  {text}\n")
    assert problem in "\n".join(e.value.problems)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("site_clock: true\nspeed: 60\n", "plays at speed 1"),
        (
            "expect:\n  - {rule: fall, steps: [{target: family_1, absent: true}]}\n",
            "an absent step needs `within_s`",
        ),
        ("expect:\n  - {rule: fall, absent: true, state: closed}\n", "no steps, state or"),
    ],
)
def test_bad_home_keys_are_named(tmp_path, extra, problem):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, f"title: t\ntimeline:\n  - {{at: 1, say: x}}\n{extra}")
    assert problem in "\n".join(e.value.problems)


def _judged(tmp_path, history: list[dict], state: str = "closed") -> jg.Report:
    loaded = _load(tmp_path, HOME)
    played = [T0, T0 + 4_000, T0 + 6_000, T0 + 20_000]
    raised = T0 + 300
    alerts = [_alert("7", "fall", "band", raised, state)]
    [report] = jg.judge([(loaded, played)], alerts, T0 - 5_000, {"7": history})
    return report


def test_the_judge_passes_an_operator_who_answered_before_the_family_was_called(tmp_path):
    raised = T0 + 300
    history = [
        _row(raised, "raise", None),
        _row(raised + 10, "escalate", "operator"),
        _row(T0 + 4_000, "ack", None),
        _row(T0 + 6_000, "outcome", "solved_by_phone: she was only sitting"),
        _row(T0 + 6_000, "resolve", None),
    ]
    report = _judged(tmp_path, history)
    assert report.passed, report.lines()
    text = "\n".join(report.lines())
    assert "fall on band after 0.3 s (within 5 s)" in text
    assert "steps: operator +0s" in text


def test_the_judge_fails_a_family_step_an_unmet_state_and_a_missing_outcome(tmp_path):
    raised = T0 + 300
    history = [
        _row(raised + 10, "escalate", "operator"),
        _row(raised + 6_000, "escalate", "family_1/r-1/daughter"),  # the contact's row
    ]
    report = _judged(tmp_path, history, state="active_unack")
    assert not report.passed
    text = "\n".join(report.lines())
    assert "step family_1 taken after 6.0 s, and must not be" in text
    assert "state active_unack, not closed" in text
    assert "outcome solved_by_phone not recorded (recorded: none)" in text


def test_steps_must_come_in_order_and_in_time(tmp_path):
    loaded = _load(
        tmp_path,
        """title: gas at night, nobody answers
timeline:
  - {at: 0, device: gas, do: gas}
expect:
  - rule: gas_leak
    steps:
      - {target: operator, within_s: 3}
      - {target: family_1, within_s: 9}
      - {target: family_2, within_s: 15}
      - {target: community, within_s: 27}
""",
    )
    raised = T0 + 200
    alerts = [_alert("3", "gas_leak", "gas", raised)]

    def judged(rows: list[tuple[int, str]]) -> str:
        history = [_row(raised + t, "escalate", target) for t, target in rows]
        [r] = jg.judge([(loaded, [T0])], alerts, T0, {"3": history})
        return "\n".join(r.lines())

    climb = [(0, "operator"), (6_000, "family_1"), (12_000, "family_2"), (24_000, "community")]
    assert judged(climb).endswith("PASSED")
    assert "steps: operator +0s, family_1 +6s, family_2 +12s, community +24s" in judged(climb)
    # community before the family: out of order
    swapped = [(0, "operator"), (6_000, "community"), (12_000, "family_1"), (18_000, "family_2")]
    assert "step community not taken in order" in judged(swapped)
    # the climb too slow
    slow = [(0, "operator"), (6_000, "family_1"), (12_000, "family_2"), (40_000, "community")]
    assert "step community after 40.0 s (> 27 s)" in judged(slow)
    # a repeat of the climb is a `renotify` row: it counts as the same target's step
    assert jg.step_target("family_1: repeat") == "family_1"


def test_a_skipped_step_is_not_a_step_taken_and_a_contact_needs_its_outbox_row(tmp_path):
    """A third family member the resident does not have: the audit says the step was
    skipped, and that is no call; a step reaching the daughter has her outbox row."""
    loaded = _load(
        tmp_path,
        """title: gas at night
timeline:
  - {at: 0, device: gas, do: gas}
expect:
  - rule: gas_leak
    steps:
      - {target: family_1, contact: daughter}
      - {target: family_3, skipped: true}
      - {target: community, contact: centre}
""",
    )
    raised = T0 + 200
    alerts = [_alert("3", "gas_leak", "gas", raised)]
    history = [
        _row(raised + 6_000, "escalate", "family_1"),
        _row(raised + 18_000, "escalate", "family_3: skipped: no_contact"),
        _row(raised + 18_000, "escalate", "community"),
    ]
    outbox = [
        {"key": "hb:i1:3:sms_gateway/r-1/daughter:1", "recipient": "r-1/daughter"},
        {"key": "hb:i1:3:voice_gateway/r-1/centre:1", "recipient": "r-1/centre"},
    ]
    [r] = jg.judge([(loaded, [T0])], alerts, T0, {"3": history}, {"3": outbox})
    assert r.passed, r.lines()
    assert "family_3 (skipped) +18s" in "\n".join(r.lines())
    [r] = jg.judge([(loaded, [T0])], alerts, T0, {"3": history}, {"3": outbox[:1]})
    assert "step community has no outbox row for contact centre" in "\n".join(r.lines())
    # a skipped step where a call was expected: not taken
    skipped_first = [_row(raised + 6_000, "escalate", "family_1: skipped: quiet_hours")]
    [r] = jg.judge([(loaded, [T0])], alerts, T0, {"3": skipped_first}, {"3": outbox})
    assert "step family_1 not taken in order (steps: family_1 (skipped) +6s)" in "\n".join(
        r.lines()
    )


def test_an_expected_alert_that_never_came_reads_no_history(tmp_path):
    loaded = _load(tmp_path, HOME)
    [r] = jg.judge([(loaded, [T0, -1, -1, -1])], [], T0)
    assert [o.ok for o in r.outcomes] == [False]
    assert "fall on band not raised within 5 s" in r.lines()[1]


# --- the site's own clock ---------------------------------------------------------------


def _ms(local: str) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=SHANGHAI).timestamp() * 1000)


@pytest.mark.parametrize(
    ("now", "start", "lead", "shift"),
    [
        ("2026-12-05 13:10:00", "03:00", 8, -36608),  # back to 02:59:52, the same day
        ("2026-12-05 01:00:00", "03:00", 8, 7192),  # forwards
        ("2026-12-05 23:50:00", "00:10", 0, 1200),  # past midnight: the nearest
        ("2026-12-05 09:59:52", "10:00:00", 8, 0),  # already there
    ],
)
def test_the_clock_shift_puts_the_site_just_before_the_start(now, start, lead, shift):
    assert siteclock.offset_s(_ms(now), start, "Asia/Shanghai", lead) == shift
    shifted = _ms(now) + shift * 1000
    assert play.site_clock_wait_s(shifted, start, "Asia/Shanghai") == pytest.approx(lead)


def test_a_late_site_clock_is_negative_and_a_far_one_is_a_day_away():
    assert play.site_clock_wait_s(_ms("2026-12-05 03:00:01"), "03:00", "Asia/Shanghai") == -1
    far = play.site_clock_wait_s(_ms("2026-12-05 05:00:00"), "03:00", "Asia/Shanghai")
    assert far == 22 * 3600


def test_the_clock_environment_shifts_only_the_wall_clock(tmp_path):
    env = siteclock.clock_env(-3600, Path("/usr/lib/x/faketime/libfaketimeMT.so.1"))
    assert env["FAKETIME"] == "-3600" and env["FAKETIME_DONT_FAKE_MONOTONIC"] == "1"
    assert env["PYTHONPATH"].split(":")[0] == str(siteclock.SHIM)
    assert (siteclock.SHIM / "sitecustomize.py").is_file()
    assert "export FAKETIME=-3600" in siteclock.shell_exports(env)


def test_the_next_morning_comes_after_the_evening_before():
    """A service that watched from 22:30 the evening before is started again at 09:59:50
    the next morning, never the same morning before it."""
    now = _ms("2026-12-05 14:00:00")
    evening = siteclock.offset_s(now, "22:30", "Asia/Shanghai", 0)
    assert evening == 8 * 3600 + 1800
    later = now + 5_000  # five real seconds on
    morning = siteclock.offset_s(later, "09:59:50", "Asia/Shanghai", 0, later + evening * 1000)
    assert later + morning * 1000 == _ms("2026-12-06 09:59:50")


def test_watched_from_is_for_the_sites_clock(tmp_path):
    with pytest.raises(ConfigError) as e:
        _load(tmp_path, "title: t\nwatched_from: '22:30'\ntimeline:\n  - {at: 1, say: x}\n")
    assert "watched_from is for a scenario on the site's clock" in "\n".join(e.value.problems)


def test_the_home_scenarios_fit_their_home_bed():
    """The five home-bed scenarios (examples/scenarios/home-*.yaml): on their site's clock,
    fitting hb-scen, each expecting an alert and the escalation steps it climbs."""
    from devices.registry import load_site
    from tests.conftest import ROOT

    files = sorted((ROOT / "examples" / "scenarios").glob("home-*.yaml"))
    assert len(files) == 5
    for f in files:
        loaded = sc.load(f)
        site = load_site(loaded.site_file)
        assert site.site.kind == "home_bed" and site.site.timezone == "Asia/Shanghai"
        assert loaded.scenario.site_clock, f
        assert sc.problems(loaded, site) == [], f
        assert all(x.steps for x in loaded.scenario.expect), f"{f} expects no steps"
