from __future__ import annotations

import orjson

from ingest.lineproto import event_time_ns, to_lines
from ingest.spool import KIND_EVENT, KIND_STATUS, KIND_TELEMETRY


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
