"""Backup while the service runs, then restore under a new service: the open alert, its
pending escalation step and the pending notification carry on exactly where they stood."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import orjson
import pytest

from alerting.notify.receiver import Receiver
from ingest.broker import free_port
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
T = "carewatch/v1/sunrise"
SECRET = "e2e-backup-secret-0123456789"
STEP_S = 12  # the second escalation step, after the backup and the restore


def rules_yaml(port: int) -> str:
    return f"""\
notify:
  targets:
    supervisor: {{url: "http://127.0.0.1:{port}/supervisor", secret_env: CW_TEST_SECRET}}
    director: {{url: "http://127.0.0.1:{port}/director", secret_env: CW_TEST_SECRET}}
escalation:
  policies:
    probe: {{steps: [{{after_s: 0, notify: supervisor}}, {{after_s: {STEP_S}, notify: director}}]}}
overrides:
  - {{rule: sos, set: {{escalation: probe}}}}
"""


def carewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carewatch", *args], capture_output=True, text=True, timeout=60
    )


def test_a_restored_service_carries_on_with_the_alert_its_timer_and_its_outbox(
    tmp_path, monkeypatch, broker, publisher
):
    monkeypatch.setenv("CW_TEST_SECRET", SECRET)
    port = free_port()  # the receiver is down until after the restore
    first = CarewatchProcess(tmp_path / "a", broker.url, DEMO_SITE, rules=rules_yaml(port))
    first.start()
    try:
        publisher.publish_all(
            [(f"{T}/w-101-1/event", orjson.dumps({"event": "sos", "id": "bk-1"}))], rate=10
        )
        assert wait_until(lambda: first.get("/api/alerts").json(), 5)
        alert = first.get("/api/alerts").json()[0]
        pending = wait_until(
            lambda: [
                n for n in first.get("/api/notifications").json() if n["target"] == "supervisor"
            ],
            5,
        )
        assert pending and pending[0]["state"] == "pending"  # nobody answers yet
        archive = tmp_path / "backup.tar.gz"
        r = carewatch("backup", "--data-dir", str(first.dir), "--out", str(archive))
        assert r.returncode == 0, r.stderr
        assert "1 open" in r.stdout and "1 notifications pending" in r.stdout
    finally:
        first.kill9()  # the machine is lost: only the backup remains

    restored = tmp_path / "b"
    r = carewatch("restore", str(archive), "--data-dir", str(restored))
    assert r.returncode == 0, r.stderr
    receiver = Receiver("127.0.0.1", port, SECRET.encode()).start()
    second = CarewatchProcess(restored, broker.url, DEMO_SITE, rules=rules_yaml(port))
    second.start()
    try:
        same = second.get("/api/alerts").json()
        assert [(a["id"], a["rule"], a["state"]) for a in same] == [
            (alert["id"], "sos", "active_unack")
        ]
        # the pending notification goes out once, with the key it was made with
        assert receiver.wait_for(1, 10)
        got = receiver.received[0]
        assert got["key"] == pending[0]["key"] and got["action"] == "escalate"
        # the second step falls due when it was due before the backup, not later
        assert receiver.wait_for(2, STEP_S + 10)
        step = receiver.received[1]
        assert step["key"].split(":")[2:4] == [str(alert["id"]), "director"]
        # a new notification carries the new install id: never taken for an old one's retry
        assert step["key"].split(":")[1] != got["key"].split(":")[1]
        history = second.get(f"/api/alerts/{alert['id']}").json()["history"]
        steps = [datetime.fromisoformat(h["at"]) for h in history if h["action"] == "escalate"]
        raised = datetime.fromisoformat(alert["raised_at"])
        assert [round((t - raised).total_seconds(), 1) for t in steps] == [0.0, float(STEP_S)]
        assert receiver.duplicates == 0
    finally:
        second.stop()
        receiver.stop()
