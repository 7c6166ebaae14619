"""The automatic fire installations (issue 17, docs/fire-duty.md "Fire equipment"): the
fire panel's gateway payloads decoded (and bad ones rejected, nothing raised), and the
default rules of each type on a fake clock against the demo home's equipment."""

from __future__ import annotations

import random

import orjson
import pytest

from alerting.defaults import default_rules
from alerting.model import AlertState
from alerting.rulebook import Rulebook
from alerting.ruleset import Notify, RuleSet, Target
from alerting.views import AlertView
from carewatch.cli import main
from dashboards.district import is_fire_fault
from devices.decode import Decoder
from devices.model import DeviceEvent, Reading, Rejection
from devices.profiles import DEVICE_TYPES, FIRE_INSTALLATIONS
from devices.registry import Registry, load_site
from simulators.models import DeviceModel, actions_for
from simulators.models.fireequip import FIRE_TYPES
from tests.conftest import DEMO_SITE
from tests.engine_harness import Harness

BRIGADE = Target(url="http://127.0.0.1:9/119", secret_env="FIRE_SECRET", format="cap")
NOW = 1_795_300_000_000


@pytest.fixture
def h(tmp_path, registry):
    rules = RuleSet(default_rules(), notify=Notify(targets={"fire_brigade": BRIGADE}))
    return Harness(tmp_path / "cw.db", registry, rules=rules)


def decode(registry: Registry, device: str, kind: str, payload: str):
    return Decoder(registry).decode(f"carewatch/v1/sunrise/{device}/{kind}", payload.encode(), NOW)


def panel(h: Harness, event: str, n: int, **attrs: str) -> None:
    body = ",".join(f'"{k}":"{v}"' for k, v in {"event": event, "id": f"fp-{n}", **attrs}.items())
    h.send("fp-1", "event", "{" + body + "}")


def subjects(h: Harness, rule: str) -> list[str]:
    """The points whose alert of `rule` is active (a cleared, unacknowledged one stays open
    as cleared_unack until someone acknowledges it)."""
    return sorted(a.device_id for a in h.open(rule) if a.active)


# --- the gateway contract (docs/protocol.md, "Fire panel gateway") ------------------------


@pytest.mark.parametrize(
    ("payload", "event", "attrs"),
    [
        (
            '{"event":"fire","id":"g-1","point":"L2-014","floor":"2","zone":"2F east",'
            '"text":"感烟探测器 2F 东走廊"}',
            "fire",
            {"point": "L2-014", "floor": "2", "zone": "2F east", "text": "感烟探测器 2F 东走廊"},
        ),
        ('{"event":"fault","point":"L1-003","text":"loss of detector"}', "fault", None),
        ('{"event":"fault_clear","point":"L1-003"}', "fault_clear", None),
        ('{"event":"supervisory","point":"M-07","floor":"1","text":"valve"}', "supervisory", None),
        ('{"event":"supervisory_clear","point":"M-07"}', "supervisory_clear", None),
        ('{"event":"disable","point":"L3-021","floor":"3"}', "disable", None),
        ('{"event":"enable","point":"L3-021","zone":null}', "enable", {"point": "L3-021"}),
        ('{"event":"reset","ts":"2026-11-22T03:04:05Z"}', "reset", {}),
    ],
)
def test_each_panel_payload_decodes_to_its_event(registry, payload, event, attrs):
    d = decode(registry, "fp-1", "event", payload)
    assert isinstance(d, DeviceEvent), d
    assert d.event == event and d.device_type == "fire_panel"
    if attrs is not None:
        assert d.attrs == attrs


@pytest.mark.parametrize(
    ("payload", "reason", "says"),
    [
        ('{"event":"fire"}', "missing_field", "fire needs 'point'"),
        ('{"event":"disable","point":null}', "missing_field", "disable needs 'point'"),
        ('{"event":"fire","point":23}', "wrong_type", "point must be text"),
        ('{"event":"fire","point":"  "}', "wrong_type", "point must be text"),
        ('{"event":"fire","point":"' + "L" * 33 + '"}', "wrong_type", "1 to 32 characters"),
        ('{"event":"alarm","point":"L1-1"}', "unknown_event", "has no event 'alarm'"),
        ('{"point":"L1-1"}', "missing_field", "needs 'event'"),
        ('{"event":"fire","point":"L1-1"', "bad_json", ""),
        ('["fire"]', "not_object", ""),
    ],
)
def test_a_bad_panel_payload_is_a_clear_rejection(registry, payload, reason, says):
    d = decode(registry, "fp-1", "event", payload)
    assert isinstance(d, Rejection)
    assert d.reason == reason and says in d.detail
    assert (d.site, d.device_id) == ("sunrise", "fp-1")


@pytest.mark.parametrize(
    ("device", "payload", "reason"),
    [
        ("pump-main", '{"mode":1}', "wrong_type"),
        ("pump-main", '{"running":"yes"}', "wrong_type"),
        ("tank-1", '{"level_pct":120}', "out_of_range"),
        ("sv-2f", '{"open":0}', "wrong_type"),
        ("fd-2f-east", '{"closed":null}', "wrong_type"),
        ("fd-2f-east", '{"closed":true,"battery_pct":-1}', "out_of_range"),
    ],
)
def test_bad_equipment_telemetry_is_rejected(registry, device, payload, reason):
    d = decode(registry, device, "telemetry", payload)
    assert isinstance(d, Rejection) and d.reason == reason


def test_the_fire_installations_are_fire_safety_types_with_default_rules():
    """Each has a rule of its own, beyond device_offline and device_fault (which name every
    type, so they prove nothing about it)."""
    generic = {"device_offline", "device_fault", "battery_low", "battery_low_reported", "tamper"}
    named = {t for r in default_rules() if r.name not in generic for t in r.device_types}
    for t in FIRE_INSTALLATIONS:
        assert DEVICE_TYPES[t].fire_safety and t in named, t


def test_equipment_telemetry_decodes(registry):
    d = decode(registry, "pump-main", "telemetry", '{"running":false,"mode":"auto","fault":false}')
    assert isinstance(d, Reading) and d.fields == {"running": False, "mode": "auto", "fault": False}


# --- the panel's rules ----------------------------------------------------------------------


def test_a_panel_fire_is_the_points_alarm_on_its_floor_and_goes_out_unless_acknowledged(h):
    panel(h, "fire", 1, point="L2-014", floor="2", text="2F 东走廊")
    a = h.one("panel_fire")
    assert (a.device_id, a.floor, a.group_key) == ("fp-1/L2-014", "2", "floor:2")
    assert a.value == "L2-014 2F 东走廊" and a.severity.value == "critical" and a.latched
    view = AlertView(h.registry, h.rules)(a)
    assert view["device_type"] == "fire_panel" and view["fire"] == "watch"
    h.tick(15)  # the positive alarm sequence, as for a smoke detector
    assert [c.alert.device_id for c in h.actions("forward")] == ["fp-1/L2-014"]


def test_a_smoke_alarm_on_the_same_floor_confirms_a_panel_fire(h):
    panel(h, "fire", 1, point="L2-014", floor="2")
    h.tick(5)
    h.send("sd-305", "event", '{"event":"smoke_alarm","id":"s-1"}')  # another floor
    assert h.open("fire_confirmed") == []
    h.send("sd-201", "event", '{"event":"smoke_alarm","id":"s-2"}')
    [confirmed] = h.open("fire_confirmed")
    assert confirmed.device_id == "floor:2"
    forwarded = {c.alert.device_id for c in h.actions("forward")}
    assert {"floor:2", "fp-1/L2-014", "sd-201"} <= forwarded
    assert "sd-305" not in forwarded


def test_two_points_of_the_panel_on_one_floor_confirm_each_other(h):
    panel(h, "fire", 1, point="L3-001", floor="3")
    panel(h, "fire", 2, point="L3-002", floor="3")
    assert subjects(h, "panel_fire") == ["fp-1/L3-001", "fp-1/L3-002"]
    assert [a.device_id for a in h.open("fire_confirmed")] == ["floor:3"]


def test_a_point_without_a_floor_stands_at_the_panel(h):
    panel(h, "fire", 1, point="L9-001")
    a = h.one("panel_fire")
    assert (a.device_id, a.floor, a.room) == ("fp-1/L9-001", "1", "1-utility")


def test_faults_supervisory_and_disablements_are_per_point_and_clear_by_their_events(h):
    panel(h, "fault", 1, point="L1-003")
    panel(h, "fault", 2, point="L1-004")
    panel(h, "supervisory", 3, point="M-07")
    panel(h, "disable", 4, point="L3-021", floor="3")
    panel(h, "disable", 5, point="L3-022", floor="3")
    assert subjects(h, "panel_fault") == ["fp-1/L1-003", "fp-1/L1-004"]
    assert h.open("device_fault") == []  # a point's fault, not the gateway's own
    assert {a.floor for a in h.open("panel_disabled")} == {"3"}
    panel(h, "fault_clear", 6, point="L1-003")
    assert subjects(h, "panel_fault") == ["fp-1/L1-004"]
    panel(h, "enable", 7, point="L3-021")
    assert subjects(h, "panel_disabled") == ["fp-1/L3-022"]
    panel(h, "supervisory_clear", 8, point="M-07")
    assert subjects(h, "panel_supervisory") == []


def test_a_panel_reset_clears_what_the_panel_reported_but_not_a_disabled_point(h):
    panel(h, "fire", 1, point="L2-014", floor="2")
    panel(h, "fault", 2, point="L1-003")
    panel(h, "fault", 3, point="L1-004")
    panel(h, "supervisory", 4, point="M-07")
    panel(h, "disable", 5, point="L3-021")
    for a in h.open():
        if a.rule in ("panel_fault", "panel_supervisory"):
            h.command("ack", a.id)
    panel(h, "reset", 6)
    assert h.open("panel_fault") == [] and h.open("panel_supervisory") == []
    # a fire stays until a person resolves it (latched); the reset is recorded
    fire = h.one("panel_fire")
    assert fire.condition_cleared_at is not None
    assert subjects(h, "panel_disabled") == ["fp-1/L3-021"]  # 屏蔽 outlives a reset


def test_unacknowledged_faults_cleared_by_a_reset_stay_visible(h):
    panel(h, "fault", 1, point="L1-003")
    panel(h, "reset", 2)
    assert h.one("panel_fault").state is AlertState.CLEARED_UNACK


def test_a_reset_naming_a_point_still_resets_the_whole_panel(h):
    """A gateway that puts `point` on a reset (its own "panel" point) resets every point."""
    panel(h, "fault", 1, point="L1-003")
    panel(h, "fault", 2, point="panel")
    for a in h.open("panel_fault"):
        h.command("ack", a.id)
    panel(h, "reset", 3, point="panel")
    assert h.open("panel_fault") == []


def test_two_points_fires_in_one_second_without_ids_are_two_alarms_and_confirm(h):
    """Two detectors of one fire often alarm in the same second; a panel that sends no
    event ids must not have the second taken for a redelivery of the first."""
    ts = h.clock.now_ms() // 1000 * 1000
    for point in ("L2-014", "L2-015"):
        h.send("fp-1", "event", f'{{"event":"fire","ts":{ts},"point":"{point}","floor":"2"}}')
    assert subjects(h, "panel_fire") == ["fp-1/L2-014", "fp-1/L2-015"]
    assert h.one("fire_confirmed").device_id == "floor:2"


def test_a_fire_whose_floor_comes_as_a_number_or_text_too_long_is_still_an_alarm(h):
    h.send("fp-1", "event", '{"event":"fire","id":"n1","point":"L3-001","floor":3}')
    assert h.one("panel_fire").floor == "3"
    long_text = "走廊" * 150
    h.send("fp-1", "event", f'{{"event":"fault","id":"n2","point":"L1-9","text":"{long_text}"}}')
    assert subjects(h, "panel_fault") == ["fp-1/L1-9"]


def test_points_coming_back_while_the_panel_is_in_maintenance_clear_their_alerts(h):
    """A panel says a point is enabled or its fault cleared once: in a maintenance window
    that must still end the alert, or it stays open for good."""
    panel(h, "disable", 1, point="L3-021")
    panel(h, "fault", 2, point="L1-003")
    for a in h.open():
        h.command("ack", a.id)
    h.device_command("maintenance_start", "fp-1", 600)
    panel(h, "enable", 3, point="L3-021")
    panel(h, "fault_clear", 4, point="L1-003")
    h.tick(700)
    assert subjects(h, "panel_disabled") == [] and subjects(h, "panel_fault") == []


# --- pumps, sprinklers, tank, fans, doors, lights ---------------------------------------------


def test_a_pump_out_of_automatic_is_supervisory_until_back_in_auto(h):
    h.send("pump-main", "telemetry", '{"running":false,"mode":"auto","fault":false}')
    assert h.open() == []
    h.send("pump-main", "telemetry", '{"mode":"manual"}')
    a = h.one("pump_manual")
    assert (a.severity.value, a.priority, a.value) == ("medium", "trouble", "mode=manual")
    h.command("ack", a.id)
    h.send("pump-main", "telemetry", '{"mode":"auto"}')
    assert h.open("pump_manual") == []


def test_pump_fault_and_running(h):
    h.send("pump-main", "telemetry", '{"running":true,"mode":"auto","fault":true}')
    assert h.one("pump_fault").severity.value == "high"
    assert h.one("pump_running").severity.value == "low"


def test_sprinkler_water_flow_is_a_fire_alarm_forwarded_at_once(h):
    h.send("wf-2f", "telemetry", '{"flow":false}')
    assert h.open() == []
    h.send("wf-2f", "telemetry", '{"flow":true}')
    a = h.one("sprinkler_flow")
    assert (a.severity.value, a.latched, a.floor) == ("critical", True, "2")
    assert [c.alert.rule for c in h.actions("forward")] == ["sprinkler_flow"]


def test_a_closed_signal_valve_is_supervisory(h):
    h.send("sv-2f", "telemetry", '{"open":true}')
    h.send("sv-2f", "telemetry", '{"open":false}')
    a = h.one("valve_closed")
    assert (a.severity.value, a.priority, a.floor) == ("medium", "trouble", "2")


def test_a_low_tank_raises_after_a_minute_and_clears_above_85(h):
    h.send("tank-1", "telemetry", '{"level_pct":97}')
    h.send("tank-1", "telemetry", '{"level_pct":70}')
    h.tick(59)
    assert h.open("tank_low") == []
    h.tick(1)
    a = h.one("tank_low")
    h.command("ack", a.id)
    h.send("tank-1", "telemetry", '{"level_pct":82}')  # inside the hysteresis band
    assert h.open("tank_low") != []
    h.send("tank-1", "telemetry", '{"level_pct":90}')
    assert h.open("tank_low") == []


def test_a_fire_door_held_open_for_five_minutes(h):
    h.send("fd-2f-east", "telemetry", '{"closed":false}')
    h.tick(120)
    h.send("fd-2f-east", "telemetry", '{"closed":true}')  # a bed pushed through
    h.tick(300)
    assert h.open("fire_door_open") == []
    h.send("fd-2f-east", "telemetry", '{"closed":false}')
    h.tick(299)
    assert h.open("fire_door_open") == []
    h.tick(1)
    assert h.one("fire_door_open").room == "2-stair"


def test_fan_and_emergency_light_faults(h):
    h.send("fan-3f", "telemetry", '{"running":false,"fault":true}')
    h.send("el-3f-exit", "telemetry", '{"on_battery":true,"fault":false}')
    assert h.one("fan_fault").severity.value == "high"
    assert h.open("emergency_light_fault") == []  # on battery is no fault
    h.send("el-3f-exit", "telemetry", '{"fault":true}')
    assert h.one("emergency_light_fault").severity.value == "medium"


# --- the simulated equipment ------------------------------------------------------------------


def test_the_demo_homes_fire_equipment_stays_quiet_for_a_simulated_day(h):
    """Every message of a day is one the service accepts, and none raises an alert."""
    fire = [d for d in h.registry.devices("sunrise") if d.type.name in FIRE_TYPES]
    assert len(fire) == 26
    models = [DeviceModel(d, random.Random(i), 0.0) for i, d in enumerate(fire)]
    ids = {d.id for d in fire}
    for step in range(0, 24 * 3600, 300):
        for m in models:
            for out in m.periodic(h.clock.now_ms(), float(step)):
                assert out.kind == "telemetry"
                h.send(m.device.id, "telemetry", orjson.dumps(out.payload))
        h.tick(300)
    rejected = h.conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]
    assert rejected == 0
    assert [a for a in h.open() if a.device_id.split("/")[0] in ids] == []


@pytest.mark.parametrize(
    ("device", "action", "params", "rule"),
    [
        ("sv-2f", "close", {}, "valve_closed"),
        ("pump-main", "manual", {}, "pump_manual"),
        ("pump-main", "fault", {}, "pump_fault"),
        ("pump-main", "start", {}, "pump_running"),
        ("wf-3f", "flow", {}, "sprinkler_flow"),
        ("tank-1", "drain", {"to_pct": 50}, "tank_low"),
        ("fan-1f", "fault", {}, "fan_fault"),
        ("el-1f-exit", "fault", {}, "emergency_light_fault"),
        ("fd-1f-east", "hold_open", {}, "fire_door_open"),
        ("fp-1", "fire", {"point": "L2-014", "floor": "2"}, "panel_fire"),
        ("fp-1", "fault", {"point": "L1-003"}, "panel_fault"),
        ("fp-1", "supervisory", {"point": "M-07"}, "panel_supervisory"),
        ("fp-1", "disable", {"point": "L3-021", "floor": 3}, "panel_disabled"),
    ],
)
def test_each_happening_of_the_simulated_equipment_raises_its_rule(h, device, action, params, rule):
    dev = h.registry.get("sunrise", device)
    assert dev is not None and action in actions_for(dev)
    m = DeviceModel(dev, random.Random(1), 0.0)
    for out in m.periodic(NOW, 0.0) + m.act(action, params, NOW + 1000, 1.0):
        kind = "event" if out.kind == "event" else "telemetry"
        h.send(device, kind, orjson.dumps(out.payload))
    h.tick(301)  # past every on-delay (a fire door's 5 min)
    assert [a.rule for a in h.open() if a.rule == rule] == [rule]


def test_the_zigbee_fire_door_contact_maps_contact_to_closed(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(
        "id: zz\nname: Z\nfloors:\n  - {id: '1', rooms: [{id: '1-stair'}]}\n"
        "devices:\n  - {id: fd-z, type: fire_door, room: 1-stair, source: zigbee2mqtt,"
        " friendly_name: 1F/fire-door, model: MCCGQ11LM}\n"
        "  - {id: dc-z, type: door_contact, room: 1-stair, source: zigbee2mqtt,"
        " friendly_name: 1F/door, model: MCCGQ11LM}\n"
    )
    reg = load_site(site)
    dec = Decoder(reg)
    d = dec.decode("zigbee2mqtt/1F/fire-door", b'{"contact":false,"battery":90}', NOW)
    assert isinstance(d, Reading) and d.fields["closed"] is False
    d = dec.decode("zigbee2mqtt/1F/door", b'{"contact":false,"battery":90}', NOW)
    assert isinstance(d, Reading) and d.fields["contact"] is False
    fire_door = reg.get("zz", "fd-z")
    assert fire_door is not None
    assert actions_for(fire_door)[:2] == ("hold_open", "close")
    out = DeviceModel(fire_door, random.Random(1), 0.0).act("hold_open", {}, NOW, 0.0)
    assert out[0].kind == "zigbee" and out[0].payload["contact"] is False


def test_a_points_alert_belongs_to_its_panel_everywhere_an_alerts_device_is_read(h):
    panel(h, "fault", 1, point="L1-003")
    a = h.one("panel_fault")
    assert h.registry.get("sunrise", a.device_id) is h.registry.get("sunrise", "fp-1")
    assert is_fire_fault(a, h.registry, Rulebook.of_one(h.rules))  # the district's count


def test_a_rules_file_naming_a_point_the_events_do_not_carry_is_refused(tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - kind: event\n"
        "    name: panel_reset_seen\n"
        "    title_zh: 复位\n"
        "    title_en: Reset\n"
        "    device_types: [fire_panel]\n"
        "    events: [reset]\n"
        "    point: point\n"
        "    severity: low\n",
        encoding="utf-8",
    )
    rc = main(["check-config", str(rules), "--site", str(DEMO_SITE)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err == [
        f"{rules}:8: rules.0.point: fire_panel's events ['reset'] do not all name a 'point'"
    ]


def test_a_point_in_a_room_takes_its_floor_and_an_unknown_place_stays_at_the_panel(h):
    panel(h, "fire", 1, point="L3-005", room="305")
    a = next(x for x in h.open("panel_fire") if x.device_id == "fp-1/L3-005")
    assert (a.floor, a.room, a.group_key) == ("3", "305", "floor:3")
    panel(h, "fault", 2, point="L9-001", floor="9", text="B9 机房")
    f = h.one("panel_fault")
    assert (f.floor, f.room) == ("1", "1-utility")  # the panel's own place
    assert f.value == "L9-001 B9 机房 (floor 9?)"


def test_point_alerts_survive_a_restart_and_clear_after_it(h):
    panel(h, "fault", 1, point="L1-003")
    panel(h, "disable", 2, point="L3-021", floor="3")
    h.restart()
    panel(h, "fault_clear", 3, point="L1-003")
    panel(h, "enable", 4, point="L3-021")
    assert subjects(h, "panel_fault") == [] and subjects(h, "panel_disabled") == []


def test_a_pump_mode_the_table_does_not_know_is_refused_not_a_lasting_alarm(registry):
    """ "AUTO" or "自动" would stand as "not auto" for ever: refused with the allowed values."""
    for mode in ("AUTO", "自动"):
        d = decode(registry, "pump-main", "telemetry", f'{{"mode":"{mode}"}}')
        assert isinstance(d, Rejection) and d.reason == "out_of_range"
        assert "auto, manual" in d.detail
