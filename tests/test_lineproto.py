from __future__ import annotations

import orjson

from devices.model import AlertTransition
from ingest.deadletter import DeadLetterLog
from ingest.lineproto import alert_time_ns, event_time_ns, to_lines
from ingest.spool import KIND_ALERT, KIND_EVENT, KIND_STATUS, KIND_TELEMETRY
from ingest.sqlite import connect
from tests.engine_harness import Harness


def _row(kind: int, data: dict, dtype: str = "wearable") -> tuple:
    return (1, 1_000, "sunrise", "w-1", dtype, kind, orjson.dumps(data).decode())


def test_numbers_are_floats_bools_and_strings_keep_their_type():
    [line] = to_lines(
        [_row(KIND_TELEMETRY, {"heart_rate_bpm": 74, "worn": True, "zone": "A"})],
        lambda s, d: ("204", "2"),
    )
    assert line == (
        "wearable,site=sunrise,device=w-1,room=204,floor=2 "
        'heart_rate_bpm=74.0,worn=true,zone="A" 1000000000'
    )


def test_names_devices_may_send_cannot_break_the_line():
    data = {"a\nb": 1, "x\\": 2, "_field": 3, "time": 4, "s": 'q"\\z', "a,b=c d": 5}
    [line] = to_lines([_row(KIND_TELEMETRY, data)], lambda s, d: ("R 1\\", ""))
    assert "\n" not in line
    assert line == (
        "wearable,site=sunrise,device=w-1,room=R\\ 1/,floor=- a_b=1.0,x/=2.0,"
        'x_field=3.0,time_=4.0,s="q\\"\\\\z",a\\,b\\=c\\ d=5.0 1000000000'
    )


def test_events_at_the_same_millisecond_get_distinct_stable_times():
    rows = [_row(KIND_EVENT, {"event": "fall", "key": k}) for k in ("id:a", "id:b")]
    lines = to_lines(rows, lambda s, d: ("1", "1"))
    assert len({line.rsplit(" ", 1)[1] for line in lines}) == 2
    assert lines[0].endswith(str(event_time_ns(1_000, "id:a")))
    assert 'event_key="id:a"' in lines[0] and ",event=fall " in lines[0]


def test_status_line():
    [line] = to_lines(
        [_row(KIND_STATUS, {"online": False}, "smoke_detector")], lambda s, d: ("101", "1")
    )
    assert line.startswith(
        "device_status,site=sunrise,device=w-1,room=101,floor=1,type=smoke_detector online=false "
    )


def _alert_row(data: dict, ts_ms: int = 1_000, device: str = "w-1") -> tuple:
    base = {
        "alert_id": 7,
        "rule": "fall",
        "severity": "critical",
        "priority": "emergency",
        "action": "raise",
        "state": "active_unack",
        "occurrences": 1,
    }
    return (1, ts_ms, "sunrise", device, "", KIND_ALERT, orjson.dumps(base | data).decode())


def _no_lookup(site: str, device: str) -> tuple[str, str]:
    raise AssertionError("alert tags come from the alert, not the registry")


def test_alert_change_line_tags_fields_and_time():
    [line] = to_lines([_alert_row({"floor": "1", "room": "101", "value": "fall"})], _no_lookup)
    assert line == (
        "alert_change,site=sunrise,rule=fall,severity=critical,priority=emergency,"
        "action=raise,state=active_unack,floor=1,room=101 "
        f'alert_id=7.0,occurrences=1.0,device="w-1",value="fall" {alert_time_ns(1_000, 7, "raise")}'
    )
    assert 1_000_000_000 <= alert_time_ns(1_000, 7, "raise") < 1_001_000_000


def test_alert_change_skips_empty_tags_and_unset_value_and_escapes():
    [line] = to_lines(
        [_alert_row({"rule": "odd rule,x=1", "floor": "", "value": None}, device='sys"\\1')],
        _no_lookup,
    )
    assert ",floor=" not in line and ",room=" not in line and "value=" not in line
    assert r",rule=odd\ rule\,x\=1," in line
    assert 'device="sys\\"\\\\1"' in line


def test_alert_transitions_in_one_millisecond_are_distinct_points():
    rows = [
        _alert_row({"action": "raise"}),
        _alert_row({"action": "ack", "state": "active_ack"}),
        _alert_row({"alert_id": 8}),
    ]
    times = [line.rsplit(" ", 1)[1] for line in to_lines(rows, _no_lookup)]
    assert len(set(times)) == 3
    # the same transition sent twice (drainer retry) is the same point
    assert to_lines(rows[:1], _no_lookup) == to_lines(rows[:1], _no_lookup)


def test_engine_hands_committed_transitions_to_the_spool(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry)
    h.send("w-101-1", "event", '{"event":"fall","id":"f-1"}')
    [fall] = h.open("fall")
    h.command("ack", fall.id)
    rows = h.conn.execute(
        "SELECT id, ts_ms, site, device_id, device_type, kind, data FROM points"
        " WHERE kind = ? ORDER BY id",
        (KIND_ALERT,),
    ).fetchall()
    # escalate (a notification, not a change of the alert) is not stored
    assert [orjson.loads(r[6])["action"] for r in rows] == ["raise", "ack"]
    lines = to_lines(rows, _no_lookup)
    assert lines[0].startswith(
        "alert_change,site=sunrise,rule=fall,severity=critical,priority=emergency,"
        "action=raise,state=active_unack,floor=1,room=101 "
        f'alert_id={float(fall.id)!r},occurrences=1.0,device="w-101-1",value="fall" '
    )
    assert ",action=ack,state=active_ack," in lines[1]
    assert rows[0][1] == fall.raised_at


def test_dead_letter_log_ignores_alert_transitions(tmp_path):
    conn = connect(tmp_path / "d.db", synchronous="OFF")
    log = DeadLetterLog()
    log.create_schema(conn)
    t = AlertTransition(
        "sunrise",
        "w-1",
        1,
        "fall",
        "critical",
        "emergency",
        "raise",
        "active_unack",
        "1",
        "101",
        1,
        "fall",
        1_000,
    )
    log.write(conn, [t])
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
