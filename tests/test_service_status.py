"""The watch announces itself on `carewatch/v1/<site>/service/status` (retained): online
while it runs, offline on a clean stop, and offline from the broker (its last will) when
it dies; its own status messages are no device's (no dead letter)."""

from __future__ import annotations

import threading
import time

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import ROOT, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
SITES = ROOT / "examples" / "sites"


class Watcher:
    """Another system: follows every site's watch status."""

    def __init__(self, port: int) -> None:
        self.seen: dict[str, list[dict[str, object]]] = {}
        self._lock = threading.Lock()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bms-status-watcher")
        self.c.on_message = self._message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe("carewatch/v1/+/service/status", qos=1)
        self.c.loop_start()

    def _message(self, _c: object, _u: object, msg: paho.MQTTMessage) -> None:
        site = msg.topic.split("/")[2]
        with self._lock:
            self.seen.setdefault(site, []).append(orjson.loads(msg.payload))

    def last(self, site: str) -> dict[str, object] | None:
        with self._lock:
            got = self.seen.get(site)
            return got[-1] if got else None

    def close(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_each_site_sees_its_watch_online_then_offline_on_a_stop_and_on_a_crash(
    tmp_path, broker
) -> None:
    service = CarewatchProcess(
        tmp_path / "cw",
        broker.url,
        ROOT / "examples" / "demo-site.yaml",
        settings={"sites_dir": str(SITES), "status_keepalive_s": "5", "service_id": "east"},
    )
    service.start()
    watcher = Watcher(broker.port)
    sites = ("sunrise", "riverside", "hb-wang")
    try:
        assert wait_until(lambda: all(watcher.last(s) for s in sites), 10)
        for s in sites:
            status = watcher.last(s)
            assert status is not None and status["online"] is True
            assert status["service"] == "east" and "since" in status
        # its own status is no device's message: nothing dead-lettered for it
        assert not [d for d in service.get("/api/dead-letters").json() if "service" in d["topic"]]
        service.stop()  # a clean stop says offline itself
        assert wait_until(lambda: all(watcher.last(s)["online"] is False for s in sites), 5)  # type: ignore[index]
        service.start()
        assert wait_until(lambda: all(watcher.last(s)["online"] is True for s in sites), 10)  # type: ignore[index]
        died = time.monotonic()
        service.kill9()  # no goodbye: the broker's last will says it, within 1.5 keepalives
        assert wait_until(lambda: all(watcher.last(s)["online"] is False for s in sites), 15)  # type: ignore[index]
        assert time.monotonic() - died < 12
    finally:
        watcher.close()
        service.stop()
