"""The first rules and the alert lifecycle, driven by a fake clock (no sleeping)."""

from __future__ import annotations

from alerting.model import AlertState, Severity


def test_fall_raises_critical_latched_alert_and_ack_resolve_close_it(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"e1","confidence":0.9}')
    a = h.one("fall")
    assert (a.severity, a.state, a.latched) == (Severity.CRITICAL, AlertState.ACTIVE_UNACK, True)
    assert h.command("ack", a.id).alert.state is AlertState.ACTIVE_ACK
    r = h.command("resolve", a.id)
    assert r.ok and r.alert.state is AlertState.CLOSED and r.alert.closed_by == "nurse-li"
    assert h.open() == []
    assert h.command("ack", a.id).error == "closed"
    assert h.command("ack", 999).error == "not_found"


def test_repeated_event_updates_the_one_open_alert(h):
    for i in range(3):
        h.send("w-101-1", "event", f'{{"event":"fall","id":"e{i}"}}')
    a = h.one("fall")
    assert a.occurrences == 3


def test_redelivered_event_is_processed_once(h):
    for _ in range(3):
        h.send("cb-101-1", "event", '{"event":"press","id":"cb-1"}')
    assert h.one("call").occurrences == 1
    rows = h.conn.execute("SELECT count(*) FROM points WHERE kind = 1").fetchone()[0]
    assert rows == 1


def test_call_is_reset_only_by_cancel_from_the_same_device(h):
    h.send("cb-101-1", "event", '{"event":"press","button":"bathroom_cord","id":"p1"}')
    h.send("cb-101-2", "event", '{"event":"cancel","id":"c0"}')
    assert h.one("call").state is AlertState.ACTIVE_UNACK
    h.send("cb-101-1", "event", '{"event":"cancel","id":"c1"}')
    assert h.open("call") == []
    closed = h.changes[-1].alert
    assert closed.state is AlertState.CLOSED and closed.closed_by == "device:cb-101-1"
    assert closed.acknowledged_at is not None


def test_smoke_is_latched_when_the_smoke_clears(h):
    h.send("sd-101", "event", '{"event":"smoke_alarm","id":"s1"}')
    h.send("sd-101", "event", '{"event":"smoke_clear","id":"s2"}')
    a = h.one("smoke")
    assert a.severity is Severity.CRITICAL and a.state is AlertState.ACTIVE_UNACK
    assert a.condition_cleared_at is not None


def test_water_pressure_low_needs_30_seconds(h):
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.05}')
    h.tick(29)
    assert h.open("water_pressure_low") == []
    h.tick(1)
    a = h.one("water_pressure_low")
    assert a.severity is Severity.HIGH and a.value == "pressure_mpa=0.05"


def test_water_pressure_dip_shorter_than_30s_raises_nothing(h):
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.05}')
    h.tick(20)
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.35}')
    h.tick(60)
    assert h.open("water_pressure_low") == []


def test_on_delay_survives_a_restart(h):
    h.send("p-2f-riser", "telemetry", '{"pressure_mpa":0.02}')
    h.tick(10)
    h.restart()
    h.tick(19)
    assert h.open("water_pressure_low") == []
    h.tick(1)
    assert h.one("water_pressure_low").raised_at == h.clock.now_ms()


def test_residual_current_clears_with_hysteresis(h):
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":320}')
    a = h.one("residual_current_high")
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":290}')  # inside hysteresis band
    assert h.one("residual_current_high").state is AlertState.ACTIVE_UNACK
    h.send("e-1f-panel", "telemetry", '{"residual_current_ma":120}')
    assert h.one("residual_current_high").state is AlertState.CLEARED_UNACK
    assert h.command("ack", a.id).alert.state is AlertState.CLOSED


def test_device_silent_past_supervision_goes_offline_then_back(h):
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":70}')
    h.tick(599)
    assert not [a for a in h.open("device_offline") if a.device_id == "w-101-1"]
    h.tick(1)
    [a] = [a for a in h.open("device_offline") if a.device_id == "w-101-1"]
    assert a.severity is Severity.MEDIUM
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":70}')
    [a] = [a for a in h.open("device_offline") if a.device_id == "w-101-1"]
    assert a.state is AlertState.CLEARED_UNACK


def test_a_redelivered_reading_is_no_sign_of_life(h):
    """A broker restart redelivers an un-acked reading (DUP): the device still goes offline
    at the deadline of its last real message, and the old message does not clear it."""
    from dataclasses import replace

    from alerting.items import Incoming

    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":70}')
    h.tick(300)
    old = h.decoder.decode(
        "carewatch/v1/sunrise/w-101-1/telemetry", b'{"heart_rate_bpm":70}', h.clock.now_ms()
    )
    h.changes += h.engine.process([Incoming(replace(old, redelivered=True))]).changes
    h.tick(300)
    [a] = [a for a in h.open("device_offline") if a.device_id == "w-101-1"]
    h.changes += h.engine.process([Incoming(replace(old, redelivered=True))]).changes
    [a] = [a for a in h.open("device_offline") if a.device_id == "w-101-1"]
    assert a.state is AlertState.ACTIVE_UNACK


def test_last_will_offline_raises_at_once_and_fire_devices_rank_high(h):
    h.send("sd-205", "status", '{"online":false}')
    [a] = [a for a in h.open("device_offline") if a.device_id == "sd-205"]
    assert a.severity is Severity.HIGH and a.value == "last will: offline"


def test_never_heard_devices_are_supervised_from_start(h):
    h.tick(3600)
    offline = {a.device_id for a in h.open("device_offline")}
    assert len(offline) == len(h.registry)


def test_bad_input_goes_to_dead_letters_not_alerts(h):
    h.send("w-101-1", "telemetry", b'{"heart_rate_bpm":900}')
    h.send("ghost", "telemetry", b"{}")
    rows = h.conn.execute("SELECT reason FROM dead_letters ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["out_of_range", "unregistered_device"]
    assert h.conn.execute("SELECT device_id, messages FROM unknown_devices").fetchall() == [
        ("ghost", 1)
    ]
    assert h.open("fall") == []


def test_every_transition_is_audited(h):
    h.send("w-101-1", "event", '{"event":"fall","id":"e1"}')
    a = h.one("fall")
    h.command("ack", a.id)
    h.command("resolve", a.id)
    rows = h.conn.execute(
        "SELECT action, from_state, to_state, by FROM audit WHERE alert_id=? ORDER BY id", (a.id,)
    ).fetchall()
    assert rows == [
        ("raise", None, "active_unack", None),
        ("escalate", "active_unack", "active_unack", None),  # to the duty screen
        ("ack", "active_unack", "active_ack", "nurse-li"),
        ("resolve", "active_ack", "closed", "nurse-li"),
    ]


def test_resolving_an_offline_alert_of_a_still_silent_device_rearms_supervision(h):
    h.send("p-1f-riser", "telemetry", '{"pressure_mpa":0.35}')
    h.tick(600)
    [a] = [a for a in h.open("device_offline") if a.device_id == "p-1f-riser"]
    assert a.severity is Severity.HIGH
    h.command("resolve", a.id)
    h.tick(599)
    assert not [a for a in h.open("device_offline") if a.device_id == "p-1f-riser"]
    h.tick(1)
    assert [a for a in h.open("device_offline") if a.device_id == "p-1f-riser"]


def test_supervision_deadline_survives_a_restart_to_the_millisecond(h):
    h.send("w-101-1", "telemetry", '{"heart_rate_bpm":70}')
    heard = h.clock.now_ms()
    h.tick(300)
    h.restart()
    h.tick(299.999)
    assert not [a for a in h.open("device_offline") if a.device_id == "w-101-1"]
    h.tick(0.001)
    [a] = [a for a in h.open("device_offline") if a.device_id == "w-101-1"]
    assert a.raised_at == heard + 600_000
