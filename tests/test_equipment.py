"""The fire-equipment view (alerting/equipment.py) on the engine over a fake clock: what the
fire-safety duty sees of each fire device of the demo home, floor by floor, after a fault,
a maintenance window, a lost link and a fire; and the one rule table behind it."""

from __future__ import annotations

import sqlite3

from alerting.defaults import default_rules
from alerting.equipment import (
    EQUIPMENT_STATES,
    FAULT_STATES,
    STATE_ORDER,
    TELLS_ONLY,
    EquipmentView,
    device_state,
    site_equipment,
)
from alerting.model import Alert, AlertState, Severity
from alerting.store import AlertReader
from devices.profiles import DEVICE_TYPES
from tests.engine_harness import Harness


def view(h: Harness) -> EquipmentView:
    reader = AlertReader(lambda: sqlite3.connect(h.path))
    return site_equipment(
        h.registry,
        "sunrise",
        reader.find("open", 10_000),
        reader.maintenance(),
        reader.device_states(),
        h.clock.now_ms(),
    )


def shown(v: EquipmentView) -> dict[str, tuple[str, int | None]]:
    return {d.id: (d.state, d.since_ms) for f in v.floors for d in f.devices}


def test_every_fire_device_is_listed_by_floor_and_nothing_else(h: Harness):
    v = view(h)
    fire = [d for d in h.registry.devices("sunrise") if d.type.fire_safety]
    assert [f.id for f in v.floors] == ["1", "2", "3"]
    assert [f.name for f in v.floors] == ["1F", "2F", "3F"]
    assert sorted(shown(v)) == sorted(d.id for d in fire)
    assert all(d.floor == f.id for f in v.floors for d in f.devices)
    assert "cb-101-1" not in shown(v)  # a call button is no fire equipment
    assert v.counts["normal"] == v.counts["total"] == len(fire)
    assert all(v.counts[s] == 0 for s in STATE_ORDER if s != "normal")


def test_a_fault_maintenance_and_a_lost_link_show_with_since_when(h: Harness):
    t0 = h.clock.now_ms()
    h.send("sd-201", "event", '{"event": "fault"}')
    h.tick(60)
    h.device_command("maintenance_start", "cp-2f", 3600)
    h.tick(60)
    h.send("p-3f-riser", "status", '{"online": false}')
    h.tick(1)
    v = view(h)
    s = shown(v)
    assert s["sd-201"] == ("fault", t0)
    assert s["cp-2f"] == ("maintenance", t0 + 60_000)
    assert s["p-3f-riser"][0] == "offline"
    assert s["sd-202"] == ("normal", None)
    heard = {d.id: d.last_seen_ms for f in v.floors for d in f.devices}
    assert heard["sd-202"] is None and heard["sd-201"] == t0  # the fault was a message
    counts = {k: n for k, n in v.counts.items() if n and k not in ("normal", "total")}
    assert counts == {"fault": 1, "maintenance": 1, "offline": 1}
    [sd] = [d for f in v.floors for d in f.devices if d.id == "sd-201"]
    assert [(a.rule, a.state) for a in sd.alerts] == [("device_fault", "fault")]
    [cp] = [d for f in v.floors for d in f.devices if d.id == "cp-2f"]
    assert cp.maintenance_until_ms == t0 + 60_000 + 3_600_000
    body = v.as_json()
    assert body["counts"]["fault"] == 1 and body["site"] == "sunrise"
    [floor2] = [f for f in body["floors"] if f["id"] == "2"]
    [row] = [d for d in floor2["devices"] if d["id"] == "sd-201"]
    assert row["state"] == "fault" and row["alerts"][0]["since_ms"] == t0


def test_the_worst_state_wins_and_a_fire_beats_a_fault(h: Harness):
    h.send("sd-305", "event", '{"event": "fault"}')
    h.tick(5)
    h.send("sd-305", "event", '{"event": "smoke_alarm"}')
    h.tick(1)
    assert shown(view(h))["sd-305"][0] == "alarm"


def test_a_maintenance_window_past_its_end_shows_normal_again(h: Harness):
    h.device_command("maintenance_start", "cp-1f", 600)
    h.tick(601)
    assert shown(view(h))["cp-1f"] == ("normal", None)


def test_a_cleared_condition_waiting_for_its_acknowledgement_is_normal_again(h: Harness):
    h.send("p-1f-riser", "status", '{"online": false}')
    h.tick(1)
    assert shown(view(h))["p-1f-riser"][0] == "offline"
    h.send("p-1f-riser", "status", '{"online": true}')
    h.tick(1)
    assert shown(view(h))["p-1f-riser"] == ("normal", None)


def _alert(i: int, rule: str, at: int, state: AlertState = AlertState.ACTIVE_UNACK) -> Alert:
    return Alert(i, "sunrise", "sd-101", rule, Severity.HIGH, state, False, at, at, 1)


def test_state_order_fault_over_offline_over_supervisory_over_disabled(registry):
    dev = registry.get("sunrise", "sd-101")
    assert dev is not None
    now = 10_000_000

    def state_of(*alerts: Alert, online: int | None = 1) -> str:
        return device_state(dev, alerts, None, online, now - 5000, now).state

    assert state_of(_alert(1, "panel_disabled", 1), _alert(2, "valve_closed", 2)) == "supervisory"
    assert state_of(_alert(1, "valve_closed", 1), online=0) == "offline"
    assert state_of(_alert(1, "device_fault", 1), online=0) == "fault"
    assert state_of(_alert(1, "battery_low", 1)) == "normal"  # listed, not a state
    assert state_of(_alert(1, "device_fault", 1, AlertState.SHELVED)) == "fault"
    assert state_of(_alert(1, "device_fault", 1, AlertState.CLEARED_UNACK)) == "normal"
    maint = {"since": now - 1000, "until": now + 1000}
    d = device_state(dev, [_alert(1, "device_fault", 7)], maint, 1, None, now)
    assert (d.state, d.since_ms, d.maintenance_until_ms) == ("fault", 7, now + 1000)


def test_the_table_names_the_rules_of_the_contract_and_todays_fire_rules():
    """Issue 17's rule names (helper equip's rules arrive on another branch) and every rule
    of today's defaults that watches only fire-safety device types."""
    contract = {
        "panel_fire": "alarm", "panel_fault": "fault", "panel_supervisory": "supervisory",
        "panel_disabled": "disabled", "pump_fault": "fault", "pump_manual": "supervisory",
        "sprinkler_flow": "alarm", "valve_closed": "supervisory", "tank_low": "supervisory",
        "fan_fault": "fault", "fire_door_open": "supervisory", "emergency_light_fault": "fault",
        "device_fault": "fault", "device_offline": "offline",
    }  # fmt: skip
    assert {k: EQUIPMENT_STATES[k] for k in contract} == contract
    fire_types = {n for n, t in DEVICE_TYPES.items() if t.fire_safety}
    for rule in default_rules():
        types = set(getattr(rule, "device_types", None) or ())
        if types and types <= fire_types:
            assert rule.name in EQUIPMENT_STATES or rule.name in TELLS_ONLY, rule.name
    assert set(EQUIPMENT_STATES.values()) <= set(STATE_ORDER)
    assert {EQUIPMENT_STATES[r] for r in contract if r.endswith("_fault")} == {"fault"}
    assert "alarm" not in FAULT_STATES and "maintenance" not in FAULT_STATES


# --- GET /api/equipment -------------------------------------------------------------------------

TOKEN = "viewer-or-better-0123456789"


def test_the_api_gives_the_view_of_the_site_on_the_services_clock(h: Harness):
    from dashboards.app import create_app
    from dashboards.auth import StaffAuth, TokenBook
    from tests.app_harness import harness_runtime, request

    h.send("sd-201", "event", '{"event": "fault"}')
    h.tick(1)
    runtime = harness_runtime(h, StaffAuth([], b"k" * 32, h.clock), TokenBook([], TOKEN), False)
    app = create_app(runtime)  # type: ignore[arg-type]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert request(app, "GET", "/api/equipment").status_code == 401
    r = request(app, "GET", "/api/equipment", headers=auth, params={"site": "sunrise"})
    assert r.status_code == 200
    body = r.json()
    assert body == view(h).as_json()
    assert body["counts"]["fault"] == 1 and [f["name"] for f in body["floors"]] == [
        "1F",
        "2F",
        "3F",
    ]
    unknown = request(app, "GET", "/api/equipment", headers=auth, params={"site": "nowhere"})
    assert unknown.status_code == 404
    bad = request(app, "GET", "/api/equipment", headers=auth, params={"site": "a b"})
    assert bad.status_code == 422


def test_a_panels_points_show_on_the_panels_tile_with_the_point_disabled(h: Harness):
    """A panel files its alerts per point (`fp-1/L2-014`); the duty sees them on the panel,
    a disabled point as `disabled` and a faulty one winning over it."""
    h.send("fp-1", "event", '{"event": "disable", "point": "L2-014", "floor": "2"}')
    h.tick(1)
    [fp] = [d for f in view(h).floors for d in f.devices if d.id == "fp-1"]
    assert fp.state == "disabled"
    assert [(a.rule, a.floor) for a in fp.alerts] == [("panel_disabled", "2")]  # where it is
    h.send("fp-1", "event", '{"event": "fault", "point": "L3-002"}')
    h.tick(1)
    [fp] = [d for f in view(h).floors for d in f.devices if d.id == "fp-1"]
    assert fp.state == "fault"
    assert sorted(a.rule for a in fp.alerts) == ["panel_disabled", "panel_fault"]
