"""A data dir of the release before sites (tests/data/datadir-v0, one site per service)
under today's service: it starts on it as it is, moves the watch's own alert to the
service's SYSTEM_SITE once, gives every outbox row its site (and an empty recipient and
channel: no row of that release was to a person), and carries on: the open
alert, its pending notification (under its old key) and its timers."""

from __future__ import annotations

import shutil
import sqlite3
import time

import pytest

from alerting import outbox, store
from alerting.notify.receiver import Receiver
from devices.siteconfig import SYSTEM_SITE
from ingest.broker import free_port
from tests.conftest import DEMO_SITE, ROOT
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
OLD = ROOT / "tests" / "data" / "datadir-v0"
KEY = "old-secret-0123456789"


def test_the_migration_moves_the_watchs_own_alert_and_its_timers_once(tmp_path):
    db = tmp_path / "carewatch.db"
    shutil.copyfile(OLD / "carewatch.db", db)
    conn = sqlite3.connect(db, isolation_level=None)
    for _ in range(2):  # the second start changes nothing
        conn.execute("BEGIN")
        store.create_schema(conn)
        outbox.create_schema(conn)
        conn.execute("COMMIT")
        assert conn.execute("SELECT id, site FROM alerts ORDER BY id").fetchall() == [
            (1, "sunrise"),
            (2, SYSTEM_SITE),
        ]
        assert conn.execute("SELECT subject, site FROM deadlines ORDER BY subject").fetchall() == [
            ("1", "sunrise"),
            ("2", SYSTEM_SITE),  # its escalation timer moved with it
        ]
        assert {r[0] for r in conn.execute("SELECT site FROM outbox")} == {"sunrise"}
        # no row of that release was to a person: recipient and channel come empty
        assert conn.execute("SELECT DISTINCT recipient, channel FROM outbox").fetchall() == [
            ("", "")
        ]
    conn.close()


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
        conn.close()
        assert sites == {"sunrise"}
        # the system alert is acknowledged like any other, on its new site (the broker is
        # up again here, so the ack may close it)
        r = service.post("/api/alerts/2/ack", {"by": "nurse-li"})
        assert r.status_code == 200, r.text
        assert r.json()["site"] == SYSTEM_SITE and r.json()["state"] in ("active_ack", "closed")
    finally:
        service.stop()
        receiver.stop()
