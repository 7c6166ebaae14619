"""The fire policy on a fake clock: every branch (unacknowledged 15 s, acknowledged and
timed out, confirmed, dismissed, second detector, heat, manual call point), follow-ups
with the same reference, and the 15 s surviving a restart."""

from __future__ import annotations

import pytest

from alerting.defaults import default_rules
from alerting.model import AlertState
from alerting.ruleset import Notify, RuleSet, Target
from tests.engine_harness import Harness

BRIGADE = Target(url="http://127.0.0.1:9/119", secret_env="FIRE_SECRET", format="cap")


@pytest.fixture
def h(tmp_path, registry):
    rules = RuleSet(default_rules(), notify=Notify(targets={"fire_brigade": BRIGADE}))
    return Harness(tmp_path / "cw.db", registry, rules=rules)


def forwards(h):
    return [(c.alert.rule, c.alert.device_id, c.at, c.note) for c in h.actions("forward")]


def outbox(h, target="fire_brigade"):
    return h.conn.execute(
        "SELECT alert_id, seq, action, msg_type, key FROM outbox WHERE target = ? ORDER BY id",
        (target,),
    ).fetchall()


def smoke(h, device="sd-101", n=1):
    h.send(device, "event", f'{{"event":"smoke_alarm","id":"s-{device}-{n}"}}')
    return next(a for a in h.open("smoke") if a.device_id == device)


def test_unacknowledged_for_15_s_it_goes_to_the_fire_brigade(h):
    a = smoke(h)
    h.tick(14.5)
    assert forwards(h) == [] and outbox(h) == []
    h.tick(0.5)
    assert forwards(h) == [("smoke", "sd-101", a.raised_at + 15_000, "not acknowledged in time")]
    assert h.actions("forward")[0].target == "fire_brigade"
    assert h.one("smoke").forwarded_at == a.raised_at + 15_000
    [(alert_id, seq, action, msg_type, key)] = outbox(h)
    assert (alert_id, seq, action, msg_type) == (a.id, 1, "forward", "Alert")
    site, install, alert_id, target, seq = key.split(":")
    assert (site, alert_id, target, seq) == ("sunrise", str(a.id), "fire_brigade", "1")
    assert len(install) == 8  # random per database: keys stay unique after a restore


def test_acknowledged_in_time_staff_get_180_s_then_it_goes_anyway(h):
    a = smoke(h)
    h.tick(10)
    h.command("ack", a.id)
    h.tick(179)
    assert forwards(h) == []
    h.tick(1)
    assert [f[2] for f in forwards(h)] == [a.raised_at + 10_000 + 180_000]
    assert "not resolved in time" in forwards(h)[0][3]


def test_staff_confirming_forwards_at_once(h):
    a = smoke(h)
    h.command("ack", a.id)
    h.tick(30)
    r = h.command("confirm", a.id)
    assert r.ok and forwards(h)[0][2] == a.raised_at + 30_000
    assert h.changes[-1].by == "nurse-li"
    h.tick(600)
    assert len(forwards(h)) == 1  # once


def test_dismissed_as_false_alarm_it_never_goes_and_is_closed_with_its_reason(h):
    a = smoke(h)
    h.command("ack", a.id)
    r = h.command("dismiss", a.id)  # the harness sends the note "checked"
    assert r.ok and r.alert.state is AlertState.CLOSED and r.alert.note == "checked"
    h.tick(600)
    assert forwards(h) == [] and outbox(h) == []
    audit = h.conn.execute(
        "SELECT action, by, note FROM audit WHERE alert_id = ?", (a.id,)
    ).fetchall()
    assert ("dismiss", "nurse-li", "checked") in audit


def test_a_forwarded_alarm_gets_follow_ups_with_the_same_reference_and_a_cancel(h):
    a = smoke(h)
    h.tick(15)
    h.command("ack", a.id)
    h.command("dismiss", a.id)
    rows = outbox(h)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        (1, "forward", "Alert"),
        (2, "ack", "Update"),
        (3, "dismiss", "Cancel"),
    ]
    assert {r[0] for r in rows} == {a.id}


def test_a_second_detector_on_the_floor_confirms_at_once(h):
    first = smoke(h, "sd-101")
    h.tick(5)
    smoke(h, "sd-102")
    fire = h.one("fire_confirmed")
    assert fire.device_id == "floor:1" and fire.forwarded_at == first.raised_at + 5_000
    forwarded = {f[1] for f in forwards(h)}
    assert forwarded == {"floor:1", "sd-101", "sd-102"}  # the whole zone goes, at once
    assert all(f[2] == first.raised_at + 5_000 for f in forwards(h))
    h.tick(600)
    assert len(forwards(h)) == 3


def test_smoke_and_a_fast_heat_rise_confirm_at_once(h):
    t = h.clock.now_ms()
    for i, temp in enumerate((24, 28, 33)):
        h.send("sd-201", "telemetry", f'{{"ts": {t + i * 15_000}, "temperature_c": {temp}}}')
    smoke(h, "sd-201")
    assert h.one("smoke_and_heat").forwarded_at == h.clock.now_ms()


def test_a_manual_call_point_goes_at_once(h):
    h.send("cp-2f", "event", '{"event":"pressed","id":"m-1"}')
    a = h.one("manual_fire_alarm")
    assert a.forwarded_at == a.raised_at and outbox(h)[0][1:4] == (1, "forward", "Alert")


def test_confirm_or_dismiss_of_no_fire_alarm_is_refused(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"f-1"}')
    a = h.one("fall")
    assert h.command("confirm", a.id).error == "not_fire"
    assert h.command("dismiss", a.id).error == "not_fire"


def test_the_15_s_survive_a_restart(h):
    a = smoke(h)
    h.tick(7)
    h.restart()
    h.tick(7.5)
    assert forwards(h) == []
    h.tick(0.5)
    assert [f[2] for f in forwards(h)] == [a.raised_at + 15_000]


def test_the_mqtt_alert_topic_gets_every_change_of_every_alert(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"f-1"}')
    a = h.one("fall")
    h.command("ack", a.id)
    h.command("resolve", a.id)
    assert [r[2] for r in outbox(h, "mqtt")] == ["raise", "ack", "resolve"]
