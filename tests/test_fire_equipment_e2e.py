"""A fire panel's fire, confirmed by a smoke detector on its floor, reaches the fire
brigade's webhook: the shipped scenario panel-fire-confirmed.yaml played by `carewatch
simulate` against a real `carewatch serve` and a real webhook receiver (CAP 1.2, signed),
over the real broker. Nothing mocked."""

from __future__ import annotations

import subprocess
import sys

import pytest

from alerting.notify.receiver import Receiver
from tests.conftest import ROOT, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
SCENARIOS = ROOT / "examples" / "scenarios"
SECRET = "e2e-fire-panel-secret-0123456789"


def test_a_confirmed_panel_fire_is_forwarded_to_the_fire_brigade_webhook(
    tmp_path, monkeypatch, broker
):
    monkeypatch.setenv("CW_TEST_SECRET", SECRET)
    receiver = Receiver("127.0.0.1", 0, SECRET.encode()).start()
    rules = (
        "notify:\n  targets:\n    fire_brigade: {url: "
        f'"http://127.0.0.1:{receiver.port}/119", format: cap, secret_env: CW_TEST_SECRET}}\n'
    )
    service = CarewatchProcess(
        tmp_path / "cw", broker.url, SCENARIOS / "riverside.site.yaml", rules=rules
    )
    service.start()
    try:
        argv = [sys.executable, "-m", "carewatch", "simulate", "--mqtt-url", broker.url]
        argv += ["--check-url", service.url, "--check-token", service.token]
        argv += ["--scenario", str(SCENARIOS / "panel-fire-confirmed.yaml")]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:] + service.log()[-3000:]
        alerts = service.get("/api/alerts", state="all").json()
        ids = {(a["rule"], a["device_id"]): str(a["id"]) for a in alerts}
        fire = ids[("panel_fire", "fp-rv/L2-014")]
        wanted = {fire, ids[("smoke", "sd-204")], ids[("fire_confirmed", "floor:2")]}

        def forwarded() -> set[str]:
            return {str(d["alert_id"]) for d in receiver.received if d["action"] == "forward"}

        assert wait_until(lambda: wanted <= forwarded(), 10), (forwarded(), ids)
        [panel] = [d for d in receiver.received if str(d["alert_id"]) == fire]
        cap = panel["parsed"]
        assert panel["verified"] and cap["msgType"] == "Alert"
        assert cap["info"] and all("Fire" in info["category"] for info in cap["info"])
        panel_alert = next(a for a in alerts if a["id"] == fire)
        assert panel_alert["floor"] == "2" and panel_alert["device_type"] == "fire_panel"
        assert panel_alert["forwarded_at"] is not None
    finally:
        service.stop()
        receiver.stop()
