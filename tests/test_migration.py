"""A data dir of the release before sites (tests/data/datadir-v0, one site per service)
under today's service: it starts on it as it is, moves the watch's own alert to the
service's SYSTEM_SITE once, gives every outbox row its site, and carries on: the open
alert, its pending notification (under its old key) and its timers."""

from __future__ import annotations

import shutil
import sqlite3
import time

import pytest

from alerting.notify.receiver import Receiver
from devices.registry import SYSTEM_SITE
from ingest.broker import free_port
from tests.conftest import DEMO_SITE, ROOT, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
OLD = ROOT / "tests" / "data" / "datadir-v0"
KEY = "old-secret-0123456789"


def test_todays_service_carries_on_with_a_data_dir_of_the_release_before_sites(
    tmp_path, broker, monkeypatch
):
    monkeypatch.setenv("OLD_KEY", KEY)
    data = tmp_path / "cw"
    data.mkdir()
    shutil.copyfile(OLD / "carewatch.db", data / "carewatch.db")
    port = free_port()
    rules = (OLD / "rules.yaml").read_text(encoding="utf-8").replace("{port}", str(port))
    receiver = Receiver("127.0.0.1", port, KEY.encode()).start()
    service = CarewatchProcess(data, broker.url, DEMO_SITE, rules=rules)
    service.start()
    try:
        alerts = {a["id"]: a for a in service.get("/api/alerts").json()}
        assert (alerts["1"]["site"], alerts["1"]["rule"], alerts["1"]["state"]) == (
            "sunrise",
            "sos",
            "active_unack",
        )
        assert (alerts["2"]["site"], alerts["2"]["device_id"]) == (SYSTEM_SITE, "system:broker")
        # the notification that was pending goes out once, under the key it was made with;
        # the escalation step that fell due while no service ran follows it, once
        assert receiver.wait_for(2, 10)
        time.sleep(1)
        assert receiver.keys() == [
            "sunrise:3a9f82b6:1:supervisor:1",
            "sunrise:3a9f82b6:1:supervisor:2",
        ]
        assert [d["action"] for d in receiver.received] == ["escalate", "escalate"]
        conn = sqlite3.connect(data / "carewatch.db")
        # the three rows the old release wrote get their site from their key
        sites = {r[0] for r in conn.execute("SELECT site FROM outbox WHERE id <= 3")}
        timers = conn.execute("SELECT site FROM deadlines WHERE subject = '2'").fetchall()
        conn.close()
        assert sites == {"sunrise"}
        assert timers == [(SYSTEM_SITE,)]  # its escalation timer moved with it
        # the system alert is acknowledged like any other, on its new site
        r = service.post("/api/alerts/2/ack", {"by": "nurse-li"})
        assert r.status_code == 200 and r.json()["site"] == SYSTEM_SITE
        assert wait_until(lambda: service.get("/api/alerts/2").json()["state"] == "active_ack", 5)
    finally:
        service.stop()
        receiver.stop()
