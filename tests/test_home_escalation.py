"""Escalation at a home bed (docs/home-beds.md, "Escalation"), on a fake clock: the
operator first; a call unacknowledged for 60 s climbs to family in order, then the
community centre, and the climb repeats from family_1 until someone acknowledges. A step
naming a person the resident does not have is recorded as skipped and the next follows at
once; quiet hours hold back routine notices, never an emergency's call. Each step to a
person is one outbox row per channel, keyed `<site>:<install>:<alert>:<target>/<resident>/
<contact>:<seq>`."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerting.contacts import ContactBook, in_quiet_hours
from alerting.defaults import default_policies
from alerting.outbox import install_id
from alerting.rules import EscalationPolicy, EscalationStep
from alerting.ruleset import RuleSet, RuleSetFile
from devices.registry import load_site
from devices.siteconfig import QuietHours
from tests.conftest import DEMO_SITE
from tests.home_escalation import SITE, SITE_YAML, home_harness, home_rules, write_site

PRESS = '{"event":"press","id":"p1"}'
LEAK = '{"event":"leak","id":"l1"}'


def test_home_beds_get_the_home_policies_and_a_rules_file_can_change_that():
    rs = RuleSet.defaults()
    call, smoke, leak, battery = (
        rs.rules[n] for n in ("call", "smoke", "water_leak", "battery_low")
    )
    policies = default_policies()

    def chosen(rule, home, rules=rs):
        p = rules.policy(rule, rule.severity, home=home)
        return next(name for name, q in policies.items() if q == p) if p else None

    # a nursing home: as before
    assert [chosen(r, False) for r in (call, smoke, leak, battery)] == [
        "emergency", "fire", "routine", "trouble"
    ]  # fmt: skip
    # a home bed: no duty room, supervisor or maintenance crew; the home policies instead
    assert [chosen(r, True) for r in (call, smoke, leak, battery)] == [
        "home_emergency", "home_emergency", "home_routine", "home_trouble"
    ]  # fmt: skip
    f = RuleSetFile.model_validate(
        {"escalation": {"home_by_severity": {"high": "home_routine"},
                        "home_instead": {"fire": "fire"}}}
    )  # fmt: skip
    own = RuleSet.from_file(f)
    assert chosen(call, True, own) == "home_routine"
    assert chosen(smoke, True, own) == "fire"
    # the Rulebook knows which sites are home beds
    book = home_rules()
    assert book.policy(SITE, call, call.severity) == policies["home_emergency"]
    assert book.policy("sunrise", call, call.severity) == policies["emergency"]


def test_the_home_emergency_policy_climbs_then_repeats_from_family_1():
    p = default_policies()["home_emergency"]
    names = [p.steps[p.step_at(n)[0]].notify for n in range(12)]  # type: ignore[index]
    assert names == [
        "operator", "family_1", "family_2", "family_3", "community",
        "family_1", "family_2", "family_3", "community",
        "family_1", "family_2", "family_3",
    ]  # fmt: skip
    assert [p.gap_after(n) for n in range(6)] == [60, 60, 60, 60, 60, 60]
    # without cycle_from the last step repeats, as in a nursing home
    assert default_policies()["emergency"].step_at(7) == (2, True)
    assert default_policies()["trouble"].step_at(2) is None
    with pytest.raises(ValidationError, match="cycle_from needs repeat_s"):
        EscalationPolicy(steps=[EscalationStep(after_s=0, notify="operator")], cycle_from=0)
    with pytest.raises(ValidationError, match="cycle_from must name one of the steps"):
        EscalationPolicy(
            steps=[EscalationStep(after_s=0, notify="operator")], repeat_s=60, cycle_from=1
        )


def test_an_unanswered_call_climbs_family_in_order_then_the_community_and_repeats(tmp_path):
    h = home_harness(tmp_path)
    h.send("hbt-call", "event", PRESS)
    a = h.one("call")
    assert h.steps() == [("escalate", "operator", None)]  # the console: at once
    assert h.rows() == []  # the operator is no gateway's
    h.tick(59)
    assert len(h.steps()) == 1  # answered within 60 s: nobody else is called
    h.tick(1)
    inst = install_id(h.conn)
    key = f"{SITE}:{inst}:{a.id}"
    assert h.steps()[-1] == ("escalate", "family_1", None)
    assert h.rows() == [  # the daughter by both of her channels
        (f"{key}:voice_gw/r-1/daughter:1", "voice_gw", "r-1/daughter", "voice"),
        (f"{key}:sms_gw/r-1/daughter:1", "sms_gw", "r-1/daughter", "sms"),
    ]
    h.tick(60)  # 06:28, the son's quiet hours: an emergency still calls him (voice)
    assert h.steps()[-1] == ("escalate", "family_2", None)
    assert h.rows()[-1] == (f"{key}:voice_gw/r-1/son:1", "voice_gw", "r-1/son", "voice")
    h.tick(60)  # there is no third family member: skipped, the community centre at once
    assert h.steps()[-2:] == [
        ("escalate", "family_3", "skipped: no_contact"),
        ("escalate", "community", None),
    ]
    audit = [r[0] for r in h.conn.execute("SELECT note FROM audit WHERE action = 'escalate'")]
    assert "family_3: skipped: no_contact" in audit
    assert [r[2] for r in h.rows()[-2:]] == ["r-1/centre", "r-1/centre"]
    h.tick(59)
    assert h.steps()[-1][1] == "community"
    h.tick(1)  # nobody acknowledged: the climb again from family_1, the next seq
    assert h.steps()[-1] == ("renotify", "family_1", None)
    assert h.rows()[-2][0] == f"{key}:voice_gw/r-1/daughter:2"
    h.tick(60)
    assert h.steps()[-1] == ("renotify", "family_2", None)
    # the daughter acknowledges (through the operator): the climb stops
    assert h.command("ack", a.id).ok
    before = len(h.rows())
    h.tick(3600)
    assert h.steps("call")[-1] == ("renotify", "family_2", None)
    assert [r for r in h.rows()[before:] if f":{a.id}:" in r[0]] == []
    # the follow-ups (ack) go to targets, not to people
    assert {r[0] for r in h.conn.execute("SELECT target FROM outbox WHERE action = 'ack'")} <= {
        "mqtt"
    }
    keys = [r[0] for r in h.conn.execute("SELECT key FROM outbox")]
    assert len(keys) == len(set(keys))


def test_the_climb_survives_a_restart_with_its_keys(tmp_path):
    h = home_harness(tmp_path)
    h.send("hbt-call", "event", PRESS)
    h.tick(60)
    h.restart()  # the outbox and the timers are rows: nothing is lost, nothing repeated
    h.tick(60)
    h.tick(60)
    h.tick(60)  # the next round
    daughter = [r[0] for r in h.rows() if r[1] == "voice_gw" and r[2] == "r-1/daughter"]
    assert [k.rsplit(":", 1)[1] for k in daughter] == ["1", "2"]
    assert [s[1] for s in h.steps("call")] == [
        "operator", "family_1", "family_2", "family_3", "community", "family_1"
    ]  # fmt: skip


def test_quiet_hours_hold_back_routine_notices_but_not_an_emergency(tmp_path):
    # the daughter sleeps until 08:00 (the clock says 06:26)
    text = SITE_YAML.replace(
        'phone: "138 0000 1234"}',
        'phone: "138 0000 1234", quiet_hours: {start: "22:00", end: "08:00"}}',
    )
    h = home_harness(tmp_path, site=text)
    h.send("hbt-leak", "event", LEAK)  # water on the floor: routine (home_routine)
    h.tick(600)
    assert h.steps() == [
        ("escalate", "operator", None),
        ("escalate", "family_1", "skipped: quiet_hours"),
        ("escalate", "community", None),  # at once: the centre is not asleep
    ]
    assert {r[2] for r in h.rows()} == {"r-1/centre"}
    h.send("hbt-call", "event", PRESS)  # an emergency calls her anyway, by voice only
    h.tick(60)
    assert h.rows()[-1][1:] == ("voice_gw", "r-1/daughter", "voice")
    assert not any(r[1] == "sms_gw" and r[2] == "r-1/daughter" for r in h.rows())


def test_without_a_gateway_the_steps_are_recorded_and_nothing_is_sent(tmp_path):
    rs = RuleSet.defaults()
    h = home_harness(tmp_path, home_rules(rs.notify))
    h.send("hbt-call", "event", PRESS)
    h.tick(60)
    # every person step says why nobody got it; the round is done at once, then it stops
    assert [s[2] for s in h.steps()[1:]] == ["skipped: no_channel"] * 2 + [
        "skipped: no_contact",
        "skipped: no_channel",
    ]
    h.tick(3600)
    assert len(h.steps("call")) == 5 and h.rows() == []


def test_the_contact_book_finds_the_resident_and_quiet_hours_span_midnight(tmp_path):
    registry = load_site(write_site(tmp_path))
    book = ContactBook(registry, home_rules())
    assert book.resident_of(SITE, "hbt-leak").id == "r-1"  # the home's only resident
    assert book.contact(SITE, "r-1/son").e164 == "+8613900005678"
    assert book.contact(SITE, "r-1/nobody") is None
    nursing = ContactBook(load_site(DEMO_SITE), home_rules())
    assert nursing.resident_of("sunrise", "p-1f-riser") is None
    from datetime import time

    q = QuietHours(start="23:00", end="07:00")
    assert [in_quiet_hours(q, time(h, 0)) for h in (22, 23, 3, 7)] == [False, True, True, False]


def test_a_climb_served_late_goes_on_one_step_at_a_time(tmp_path):
    h = home_harness(tmp_path)
    h.send("hbt-call", "event", PRESS)
    h.tick(60)  # family_1
    h.restart()
    h.tick(3600)  # down for an hour: the next step at once, not every missed one
    assert [s[1] for s in h.steps("call")] == ["operator", "family_1", "family_2"]
    h.tick(59)
    assert len(h.steps("call")) == 3
    h.tick(1)  # then on at the policy's pace
    assert [s[1] for s in h.steps("call")][3:] == ["family_3", "community"]
