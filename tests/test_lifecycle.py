"""The alert lifecycle: each transition, shelving, maintenance, chattering, escalation and
restarts, driven by a fake clock (no sleeping)."""

from __future__ import annotations

from alerting.defaults import default_rules
from alerting.model import AlertState
from alerting.ruleset import Override, RuleSet
from tests.engine_harness import Harness, alert_rows, offline


def current(h: Harness, ma: int) -> None:
    h.send("e-1f-panel", "telemetry", f'{{"residual_current_ma":{ma}}}')


def escalations(h: Harness, alert_id: int) -> list[tuple[str, str | None, int]]:
    return [
        (c.action, c.target, c.at)
        for c in h.changes
        if c.alert.id == alert_id and c.action in ("escalate", "renotify")
    ]


# --- raise, ack, clear, repeat ----------------------------------------------------------


def test_raise_opens_an_unacknowledged_active_alert(h):
    current(h, 320)
    a = h.one("residual_current_high")
    assert (a.state, a.occurrences, a.acknowledged_at) == (AlertState.ACTIVE_UNACK, 1, None)
    assert next(c.action for c in h.changes if c.alert.id == a.id) == "raise"


def test_ack_moves_an_active_alert_to_active_ack(h):
    current(h, 320)
    a = h.one("residual_current_high")
    h.tick(5)
    r = h.command("ack", a.id, by="nurse-wang")
    assert r.ok and r.alert.state is AlertState.ACTIVE_ACK
    assert (r.alert.acknowledged_by, r.alert.acknowledged_at) == ("nurse-wang", h.clock.now_ms())
    assert h.one("residual_current_high").state is AlertState.ACTIVE_ACK


def test_condition_clearing_on_an_acked_alert_closes_it(h):
    current(h, 320)
    a = h.one("residual_current_high")
    h.command("ack", a.id)
    current(h, 100)
    assert h.open("residual_current_high") == []
    closed = h.changes[-1].alert
    assert (h.changes[-1].action, closed.state) == ("clear", AlertState.CLOSED)
    assert closed.closed_by == "system:cleared" and closed.cleared_at == h.clock.now_ms()


def test_clear_before_ack_leaves_cleared_unack_until_acknowledged(h):
    current(h, 320)
    a = h.one("residual_current_high")
    current(h, 100)
    assert h.one("residual_current_high").state is AlertState.CLEARED_UNACK
    r = h.command("ack", a.id)
    assert r.alert.state is AlertState.CLOSED and r.alert.closed_by == "nurse-li"
    assert h.open("residual_current_high") == []


def test_return_of_a_cleared_unack_alert_reactivates_it(h):
    current(h, 320)
    a = h.one("residual_current_high")
    current(h, 100)
    h.tick(10)
    current(h, 330)
    b = h.one("residual_current_high")
    assert (b.id, b.state, b.occurrences) == (a.id, AlertState.ACTIVE_UNACK, 2)
    assert b.condition_cleared_at is None and b.value == "residual_current_ma=330"
    [repeat] = h.actions("repeat")
    assert (repeat.alert.id, repeat.at) == (a.id, b.last_at)


def test_latched_alert_stays_active_when_its_condition_clears(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    a = h.one("smoke")
    h.tick(30)
    h.send("sd-101", "event", '{"event":"smoke_clear","id":"s2"}')
    still = h.one("smoke")
    assert still.state is AlertState.ACTIVE_UNACK and still.condition_cleared_at == h.clock.now_ms()
    assert h.command("ack", a.id).alert.state is AlertState.ACTIVE_ACK
    h.tick(600)
    assert h.one("smoke").state is AlertState.ACTIVE_ACK
    r = h.command("resolve", a.id, by="fire-warden")
    assert r.alert.state is AlertState.CLOSED and r.alert.closed_by == "fire-warden"
    assert h.open("smoke") == []


def test_call_is_reset_at_the_bedside_by_cancel(h):
    h.send("cb-101-1", "event", '{"event":"press","id":"p1"}')
    a = h.one("call")
    h.tick(90)
    h.send("cb-101-1", "event", '{"event":"cancel","id":"c1"}')
    assert h.open("call") == []
    reset = h.actions("reset")[-1]
    assert reset.alert.id == a.id and reset.by == "device:cb-101-1"
    assert reset.alert.state is AlertState.CLOSED and reset.alert.cleared_at == h.clock.now_ms()


# --- shelving ---------------------------------------------------------------------------


def test_non_latched_alert_can_be_shelved(h):
    current(h, 320)
    a = h.one("residual_current_high")
    r = h.command("shelve", a.id, duration_s=600)
    assert r.ok and r.alert.state is AlertState.SHELVED
    assert r.alert.shelved_until == h.clock.now_ms() + 600_000


def test_latched_alert_cannot_be_shelved(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    a = h.one("fall")
    r = h.command("shelve", a.id, duration_s=600)
    assert (r.ok, r.error) == (False, "not_shelvable")
    assert h.one("fall").state is AlertState.ACTIVE_UNACK


def test_shelving_expiry_returns_an_alert_whose_condition_holds(h):
    current(h, 320)
    a = h.one("residual_current_high")
    h.command("ack", a.id)
    h.command("shelve", a.id, duration_s=600)
    shelved_at = h.clock.now_ms()
    h.tick(599)
    assert h.one("residual_current_high").state is AlertState.SHELVED
    h.tick(1)
    back = h.one("residual_current_high")
    assert back.state is AlertState.ACTIVE_UNACK and back.acknowledged_at is None
    [u] = h.actions("unshelve")
    assert (u.by, u.at) == ("system:shelving_expired", shelved_at + 600_000)


def test_shelving_expiry_closes_an_alert_that_cleared_meanwhile(h):
    current(h, 320)
    a = h.one("residual_current_high")
    h.command("shelve", a.id, duration_s=600)
    h.tick(100)
    current(h, 100)
    assert h.one("residual_current_high").state is AlertState.SHELVED  # stays hidden
    h.tick(500)
    assert h.open("residual_current_high") == []
    closed = h.actions("unshelve")[-1].alert
    assert closed.state is AlertState.CLOSED and closed.cleared_at == h.clock.now_ms() - 500_000


def test_unshelve_command_brings_the_alert_back(h):
    current(h, 320)
    a = h.one("residual_current_high")
    h.command("shelve", a.id, duration_s=3600)
    h.tick(60)
    r = h.command("unshelve", a.id)
    assert r.ok and r.alert.state is AlertState.ACTIVE_UNACK and r.alert.shelved_until is None
    assert h.command("unshelve", a.id).error == "not_shelved"
    h.tick(3600)  # the cancelled expiry does not fire later
    assert [c.by for c in h.actions("unshelve")] == ["nurse-li"]


def test_shelving_a_closed_alert_is_refused(h):
    current(h, 320)
    a = h.one("residual_current_high")
    h.command("resolve", a.id)
    r = h.command("shelve", a.id, duration_s=600)
    assert (r.ok, r.error) == (False, "closed")


def test_readings_of_a_continuing_condition_while_shelved_are_not_new_occurrences(h):
    current(h, 320)
    a = h.one("residual_current_high")
    h.command("shelve", a.id, duration_s=3600)
    for _ in range(5):
        h.tick(10)
        current(h, 320)
    s = h.one("residual_current_high")
    assert (s.state, s.occurrences, s.chattering) == (AlertState.SHELVED, 1, False)
    assert h.actions("repeat") == [] and h.actions("chattering") == []


# --- maintenance ------------------------------------------------------------------------


def test_maintenance_suppresses_new_alerts_and_supervision_of_that_device(h):
    r = h.device_command("maintenance_start", "w-101-1", duration_s=3600)
    assert r.ok
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.send("w-101-2", "event", '{"event":"fall","id":"f2"}')
    assert [a.device_id for a in h.open("fall")] == ["w-101-2"]
    h.tick(1200)
    assert not offline(h, "w-101-1") and offline(h, "w-101-2")
    h.send("w-101-1", "status", '{"online":false}')
    assert not offline(h, "w-101-1")


def test_maintenance_end_rearms_supervision(h):
    h.device_command("maintenance_start", "w-101-1", duration_s=3600)
    h.tick(1200)
    assert not offline(h, "w-101-1")
    assert h.device_command("maintenance_end", "w-101-1").ok
    h.tick(599)
    assert not offline(h, "w-101-1")
    h.tick(1)
    assert offline(h, "w-101-1")
    assert h.device_command("maintenance_end", "w-101-1").error == "not_in_maintenance"
    assert h.device_command("maintenance_start", "nope").error == "unknown_device"


def test_maintenance_expiry_rearms_supervision(h):
    h.device_command("maintenance_start", "w-101-1", duration_s=900)
    h.tick(900)
    rows = h.conn.execute("SELECT action, by, note FROM device_log ORDER BY id").fetchall()
    assert rows == [
        ("maintenance_start", "tech-wu", "battery swap"),
        ("maintenance_end", "system:maintenance_expired", None),
    ]
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')  # raises again after maintenance
    assert h.one("fall").device_id == "w-101-1"
    h.tick(599)
    assert not offline(h, "w-101-1")
    h.tick(1)
    assert offline(h, "w-101-1")


def test_maintenance_expiry_of_a_silent_device_gives_a_fresh_interval(h):
    h.device_command("maintenance_start", "w-101-1", duration_s=900)
    end = h.clock.now_ms() + 900_000
    h.tick(900)
    h.tick(599)
    assert not offline(h, "w-101-1")
    h.tick(1)
    [a] = offline(h, "w-101-1")
    assert a.raised_at == end + 600_000


def test_maintenance_ending_while_the_service_is_down_rearms_from_its_end(h):
    h.device_command("maintenance_start", "w-101-1", duration_s=900)
    end = h.clock.now_ms() + 900_000
    h.tick(850)
    h.restart()
    h.tick(150)  # back up 100 s after the maintenance ended
    h.tick(499)
    assert not offline(h, "w-101-1")
    h.tick(1)
    [a] = offline(h, "w-101-1")
    assert a.raised_at == end + 600_000


# --- chattering -------------------------------------------------------------------------


def test_chattering_alert_holds_its_clear_for_a_minute_of_calm(h):
    for _ in range(2):
        current(h, 320)
        h.tick(5)
        current(h, 100)
        h.tick(5)
    current(h, 320)
    a = h.one("residual_current_high")
    assert a.chattering and a.occurrences == 3
    assert len(h.actions("chattering")) == 1
    h.command("ack", a.id)
    h.tick(5)
    current(h, 100)  # an acked alert would close here; a chattering one waits
    assert h.one("residual_current_high").state is AlertState.ACTIVE_ACK
    assert h.actions("condition_cleared")[-1].note == "chattering: held 60 s"
    h.tick(20)
    current(h, 320)  # back within the minute: the same alert, no new row
    again = h.one("residual_current_high")
    assert (again.id, again.occurrences, again.state) == (a.id, 4, AlertState.ACTIVE_UNACK)
    h.command("ack", a.id)
    h.tick(5)
    current(h, 100)
    calm_from = h.clock.now_ms()
    h.tick(59)
    assert h.one("residual_current_high").state is AlertState.ACTIVE_ACK
    h.tick(1)
    assert h.open("residual_current_high") == []
    last = h.actions("clear")[-1]
    assert last.at == calm_from + 60_000 and last.alert.state is AlertState.CLOSED
    assert not last.alert.chattering
    assert alert_rows(h, "residual_current_high") == 1


def test_without_chattering_an_acked_flapping_alert_opens_new_rows(h):
    for _ in range(2):
        current(h, 320)
        h.command("ack", h.one("residual_current_high").id)
        h.tick(40)
        current(h, 100)
        h.tick(40)
    assert alert_rows(h, "residual_current_high") == 2
    assert h.actions("chattering") == []


# --- escalation -------------------------------------------------------------------------


def test_critical_fall_escalates_through_the_emergency_policy(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    a = h.one("fall")
    t0 = a.raised_at
    for _ in range(90):
        h.tick(10)
    assert escalations(h, a.id) == [
        ("escalate", "duty_screen", t0),
        ("escalate", "supervisor", t0 + 60_000),
        ("escalate", "director", t0 + 600_000),
        ("renotify", "director", t0 + 720_000),
        ("renotify", "director", t0 + 840_000),
    ]
    assert h.one("fall").escalation_level == 2


def test_ack_stops_escalation(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    a = h.one("fall")
    h.tick(70)
    h.command("ack", a.id)
    for _ in range(100):
        h.tick(10)
    assert [t for _, t, _ in escalations(h, a.id)] == ["duty_screen", "supervisor"]


def test_a_new_fall_after_ack_starts_escalation_again(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    a = h.one("fall")
    h.command("ack", a.id)
    h.tick(300)
    h.send("w-101-1", "event", '{"event":"fall","id":"f2"}')
    again = h.clock.now_ms()
    assert h.one("fall").state is AlertState.ACTIVE_UNACK
    h.tick(60)
    assert escalations(h, a.id)[1:] == [
        ("escalate", "duty_screen", again),
        ("escalate", "supervisor", again + 60_000),
    ]


def test_smoke_escalates_through_the_fire_policy(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    a = h.one("smoke")
    t0 = a.raised_at
    for _ in range(62):
        h.tick(5)
    # the fire brigade is the fire policy's (tests/test_firepolicy.py); staff are chased
    assert escalations(h, a.id) == [
        ("escalate", "duty_screen", t0),
        ("escalate", "supervisor", t0 + 15_000),
        ("renotify", "supervisor", t0 + 75_000),
        ("renotify", "supervisor", t0 + 135_000),
        ("renotify", "supervisor", t0 + 195_000),
        ("renotify", "supervisor", t0 + 255_000),
    ]


def test_an_escalation_override_for_one_device_is_followed(tmp_path, registry):
    override = Override(rule="fall", room="101", set={"escalation": "fire"})
    h = Harness(tmp_path / "cw.db", registry, rules=RuleSet(default_rules(), [override]))
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.send("w-102-1", "event", '{"event":"fall","id":"f2"}')
    t0 = h.clock.now_ms()
    for _ in range(12):
        h.tick(5)
    by_device = {a.device_id: a.id for a in h.open("fall")}
    assert escalations(h, by_device["w-101-1"]) == [
        ("escalate", "duty_screen", t0),
        ("escalate", "supervisor", t0 + 15_000),
    ]
    assert escalations(h, by_device["w-102-1"]) == [
        ("escalate", "duty_screen", t0),
        ("escalate", "supervisor", t0 + 60_000),
    ]


# --- what is stored on an alert ---------------------------------------------------------


def test_priority_is_stored_on_alerts(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.send("sd-205", "status", '{"online":false}')
    current(h, 320)
    rows = dict(h.conn.execute("SELECT rule, priority FROM alerts").fetchall())
    assert rows == {
        "fall": "emergency",
        "device_offline": "trouble",
        "residual_current_high": "routine",
    }


def test_group_key_is_the_floor_for_fire_devices_and_the_room_for_residents(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.send("cb-205-1", "event", '{"event":"press","id":"p1"}')
    assert (h.one("smoke").group_key, h.one("smoke").floor) == ("floor:1", "1")
    assert (h.one("fall").group_key, h.one("fall").room) == ("room:101", "101")
    assert h.one("call").group_key == "room:205"
    rows = dict(h.conn.execute("SELECT rule, group_key FROM alerts").fetchall())
    assert rows == {"smoke": "floor:1", "fall": "room:101", "call": "room:205"}


def test_audit_rows_carry_who_and_note_of_operator_actions(h):
    current(h, 320)
    a = h.one("residual_current_high")
    h.command("ack", a.id, by="nurse-wang")
    h.command("shelve", a.id, by="nurse-zhao", duration_s=600)
    h.command("resolve", a.id, by="electrician-chen")
    rows = h.conn.execute(
        "SELECT action, from_state, to_state, by, note FROM audit"
        " WHERE alert_id = ? AND action NOT IN ('escalate', 'renotify') ORDER BY id",
        (a.id,),
    ).fetchall()
    assert rows == [
        ("raise", None, "active_unack", None, None),
        ("ack", "active_unack", "active_ack", "nurse-wang", "checked"),
        ("shelve", "active_ack", "shelved", "nurse-zhao", "checked"),
        ("resolve", "shelved", "closed", "electrician-chen", "checked"),
    ]
    final = h.changes[-1].alert
    assert (final.acknowledged_by, final.closed_by, final.note) == (
        "nurse-wang",
        "electrician-chen",
        "checked",
    )


# --- acceptance 3: a restart does not move any timer ------------------------------------


def _timeline(h: Harness, restarts: set[int]) -> list[tuple[str, str, str, str | None, int]]:
    """Half-second ticks for 800 s; a restart after the ticks numbered in `restarts`.
    At 0 s the riser pressure drops (30 s on-delay) and a resident falls (escalation);
    at 3 s wearable w-101-2 reports for the last time (600 s supervision)."""
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.05}')
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    for n in range(1, 1601):
        h.clock.advance(0.5)
        if n in restarts:
            h.restart()  # the deadline may be due right now, not yet served
        h.tick(0)
        if n == 6:
            h.send("w-101-2", "telemetry", '{"heart_rate_bpm":72}')
    watched = {("water_pressure_low", "p-1f-riser"), ("fall", "w-101-1")}
    watched.add(("device_offline", "w-101-2"))
    return [
        (c.action, c.alert.rule, c.alert.device_id, c.target, c.at)
        for c in h.changes
        if (c.alert.rule, c.alert.device_id) in watched
    ]


def test_restart_mid_on_delay_escalation_and_supervision_fires_at_the_same_instants(
    tmp_path, registry
):
    steady = Harness(tmp_path / "steady.db", registry)
    restarted = Harness(tmp_path / "restarted.db", registry)
    t0 = steady.clock.now_ms()
    assert restarted.clock.now_ms() == t0
    # 20 s: mid on-delay, before the supervisor step, mid supervision; 30 s, 60 s and
    # 603 s: the on-delay, the supervisor step and the supervision due at the very
    # instant of the restart; 400 s and 650 s: before the director step and between
    # two re-notifications
    want = _timeline(steady, set())
    got = _timeline(restarted, {40, 60, 120, 800, 1206, 1300})
    assert got == want
    fired = {(a, r, t): at - t0 for a, r, _, t, at in want if a in ("raise", "escalate")}
    assert fired[("raise", "water_pressure_low", None)] == 30_000
    assert fired[("raise", "device_offline", None)] == 603_000
    assert fired[("escalate", "fall", "supervisor")] == 60_000
    assert fired[("escalate", "fall", "director")] == 600_000
    renotified = [at - t0 for a, r, _, _, at in want if a == "renotify" and r == "fall"]
    assert renotified == [720_000]
