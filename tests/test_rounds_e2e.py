"""Rounds through the real service (`carewatch serve` on real mosquitto) watching the demo
home, its wall clock shifted by libfaketime so the home's clock reads 03:14:50 (the site's
time zone, simulators/siteclock.py): the tag reader uploads the night's scans over MQTT
(the 22:00 and 00:00 rounds, one scan sent twice, one with a problem found), each is a
check-in once and the problem a hazard; at 03:15:00 the 02:00 round, never walked, raises
`round_missed` on round:night."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerting.store import create_schema
from ingest.sqlite import connect
from simulators import siteclock
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

SH = ZoneInfo("Asia/Shanghai")
TAGS = [f"nfc:04a2b3c4d5e60{i}" for i in range(1, 9)]
T = "carewatch/v1/sunrise/tr-1f-duty/event"

pytestmark = pytest.mark.integration


def _missed(service: CarewatchProcess) -> list[dict]:  # type: ignore[type-arg]
    return [a for a in service.get("/api/alerts").json() if a["rule"] == "round_missed"]


def test_reader_scans_over_mqtt_are_check_ins_and_the_0200_round_is_missed_at_0315(
    tmp_path, broker, publisher
):
    library = siteclock.faketime_library()
    if library is None:
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    real = int(time.time() * 1000)
    shift = siteclock.offset_s(real, "03:15:00", "Asia/Shanghai", 6)
    night = datetime.fromtimestamp((real + shift * 1000) / 1000, SH).replace(
        hour=0, minute=0, second=0, microsecond=0
    )  # the site's midnight before 03:15

    def at(hour: int, minute: int) -> int:
        day = night - timedelta(days=1) if hour >= 12 else night
        return int(day.replace(hour=hour, minute=minute).timestamp() * 1000)

    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE)
    conn = connect(service.dir / "carewatch.db")
    create_schema(conn)  # the service has watched the rounds since 21:00
    conn.execute("INSERT INTO meta(key, value) VALUES ('rounds_since:sunrise', ?)", (at(21, 0),))
    conn.commit()
    conn.close()
    service.env = siteclock.clock_env(shift, library)
    service.start()
    try:
        scans = []
        for hour in (22, 0):
            for i, tag in enumerate(TAGS):
                body = {"event": "scan", "id": f"tr-{hour}-{i}", "ts": at(hour, 10 + i),
                        "tag": tag, "staff": "nurse-wang"}  # fmt: skip
                if hour == 0 and i == 2:
                    body["problem"] = "valve_open"
                scans.append((T, json.dumps(body).encode()))
        scans.append(scans[0])  # the reader sends one again (no PUBACK seen): counted once
        publisher.publish_all(scans, rate=200)
        assert publisher.wait_acked(len(scans), 10)

        def listed() -> list[dict]:  # type: ignore[type-arg]
            r = service.get("/api/rounds/checkins", site="sunrise", since=str(at(21, 0)))
            return r.json() if r.status_code == 200 else []

        assert wait_until(lambda: len(listed()) == 16, 10), service.log()[-3000:]
        rows = listed()
        assert {(c["via"], c["by"]) for c in rows} == {("reader", "nurse-wang")}
        assert [c["checkpoint"] for c in rows if c["result"] == "problem"] == ["cp-1f-utility"]
        db = sqlite3.connect(service.dir / "carewatch.db")
        assert db.execute("SELECT category, source, checkpoint FROM hazards").fetchall() == [
            ("hydrant", "round", "cp-1f-utility")
        ]
        db.close()
        # 03:15:00 on the home's clock: the 02:00 round's grace has run out (before the
        # uploads came in, the service held the 00:00 round missed: they cleared that)
        assert wait_until(lambda: "02:00" in str(_missed(service)), 20), service.log()[-3000:]
        alert = _missed(service)[-1]
        assert alert["device_id"] == "round:night" and alert["severity"] == "high"
        assert alert["value"].startswith("night 02:00 round (")
        assert alert["value"].endswith("): 8 of 8 checkpoints missed")
        view = service.get("/api/rounds", site="sunrise").json()
        [route] = view["routes"]
        assert route["current"]["start_ms"] == at(2, 0)
        assert route["current"]["status"] == "missed"
    finally:
        service.stop()
