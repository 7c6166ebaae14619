"""Two CareWatch services on one mosquitto (docs/scaling.md): each takes its own sites'
messages and nothing else, and the sessions of workers that no longer run stop taking a
share (they are retired: what they hold is taken and committed, then they are ended)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from prometheus_client import CollectorRegistry

from devices.decode import Decoder
from devices.model import Decoded
from devices.ports import SystemClock
from devices.registry import load_sites
from ingest.mqtt import MqttSource
from ingest.sessions import BOOK_FILE, LEGACY_SHARE, Retirement, SessionBook, shared
from tests.conftest import DEMO_SITE, ROOT, wait_until
from tests.servers import CarewatchProcess

RIVERSIDE = ROOT / "examples" / "sites" / "2-riverside.yaml"
ACCEPTED = 'carewatch_messages_total{outcome="accepted",reason=""}'


def _session_present(port: int, client_id: str) -> bool:
    """Whether the broker still has a session for `client_id` (a probe that leaves none:
    MQTT 5 session expiry 0, the default)."""
    got: dict[str, bool] = {}
    done = threading.Event()

    def on_connect(_c, _u, flags, _rc, _p):
        got["present"] = flags.session_present
        done.set()

    c = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    c.on_connect = on_connect
    c.connect("127.0.0.1", port, clean_start=False)
    c.loop_start()
    assert done.wait(5)
    c.disconnect()
    c.loop_stop()
    return got["present"]


def _reading(site: str, device: str, i: int) -> tuple[str, bytes]:
    body = {"ts": int(time.time() * 1000) - 60_000 + i, "heart_rate_bpm": 60 + i % 40}
    return f"carewatch/v1/{site}/{device}/telemetry", orjson.dumps(body)


# --- what mosquitto does with a departed member, and what retiring does -------------------


@pytest.mark.integration
def test_a_departed_member_keeps_its_share_until_its_session_is_retired(
    tmp_path, broker, publisher
):
    decoder = Decoder(load_sites(DEMO_SITE))
    group = "home-a"
    filters = shared(decoder.subscriptions("telemetry"), group)
    got: dict[str, list[Decoded]] = {"live": [], "gone": []}
    sources: dict[str, MqttSource] = {}

    def member(client_id: str, key: str, retire: bool = False) -> MqttSource:
        def deliver(d: Decoded, ack: object) -> None:
            got[key].append(d)
            if callable(ack):  # committed at once: ack now
                ack()
                sources[key].flush_acks()

        sources[key] = MqttSource(
            broker.url,
            client_id,
            decoder,
            deliver,
            SystemClock(),
            lane="telemetry",
            share=group,
            stale=filters if retire else (),
            retire=retire,
        )
        return sources[key]

    live = member("home-a-w0", "live")
    live.start()
    gone = member("home-a-w1", "gone")
    gone.start()
    try:
        assert live.subscribed.wait(5) and gone.subscribed.wait(5)
        gone.stop()  # departed: its persistent session stays at the broker
        assert not gone.connected
        msgs = [_reading("sunrise", "w-101-2", i) for i in range(100)]
        publisher.publish_all(msgs, rate=2000)
        assert publisher.wait_acked(100, 5)
        time.sleep(0.5)
        # mosquitto 2.0.11 gives the departed member its turn: half of the group's traffic
        assert len(got["live"]) == 50

        book = SessionBook(tmp_path)
        retiring = member("home-a-w1", "gone", retire=True)
        retirement = Retirement([retiring], book, CollectorRegistry(), quiet_s=0.3)
        retirement.start()
        assert wait_until(lambda: retirement.pending() == [], 10), retirement.pending()
        assert len(got["gone"]) == 50  # what its session held, taken and acked: none lost
        retirement.stop()

        publisher.publish_all(msgs, rate=2000)
        assert publisher.wait_acked(200, 5)
        assert wait_until(lambda: len(got["live"]) == 150, 5)
        time.sleep(0.3)
        assert len(got["live"]) == 150  # every one after the retiring: it no longer counts
        assert len(got["gone"]) == 50
        assert not _session_present(broker.port, "home-a-w1")  # mosquitto forgot it
    finally:
        live.stop()


@pytest.mark.integration
def test_a_worker_leaves_the_fixed_carewatch_group_of_earlier_versions(broker, publisher):
    """Earlier versions put every service's workers in the group `carewatch`: a worker
    session kept from then drops that membership when it connects in its own group."""
    decoder = Decoder(load_sites(DEMO_SITE))
    old = shared(decoder.subscriptions("telemetry"), LEGACY_SHARE)
    got: dict[str, list[Decoded]] = {"other": [], "ours": []}
    sources: dict[str, MqttSource] = {}

    def member(client_id: str, key: str, share: str, stale: tuple[str, ...] = ()) -> MqttSource:
        def deliver(d: Decoded, ack: object) -> None:
            got[key].append(d)
            if callable(ack):
                ack()
                sources[key].flush_acks()

        sources[key] = MqttSource(
            broker.url, client_id, decoder, deliver, SystemClock(),
            lane="telemetry", share=share, stale=stale,
        )  # fmt: skip
        sources[key].start()
        assert sources[key].subscribed.wait(5)
        return sources[key]

    other = member("other-w0", "other", LEGACY_SHARE)  # another service's old worker
    before = member("cw-w0", "ours", LEGACY_SHARE)
    before.stop()
    ours = member("cw-w0", "ours", "home-a", stale=old)  # this version, same client id
    try:
        assert ours.unsubscribed.wait(5)
        msgs = [_reading("sunrise", "w-101-2", i) for i in range(100)]
        publisher.publish_all(msgs, rate=2000)
        assert publisher.wait_acked(100, 5)
        assert wait_until(lambda: len(got["other"]) == 100 and len(got["ours"]) == 100, 5)
        time.sleep(0.3)
        # every message once to each group; none of the old group's to our session
        assert (len(got["other"]), len(got["ours"])) == (100, 100)
    finally:
        ours.stop()
        other.stop()


# --- two services, one broker ---------------------------------------------------------------


def _metric(service: CarewatchProcess, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", service.get("/metrics").text, re.M)
    return float(m.group(1)) if m else 0.0


def _rejected(service: CarewatchProcess) -> float:
    text = service.get("/metrics").text
    return sum(
        float(v)
        for v in re.findall(r'^carewatch_messages_total\{outcome="rejected".*\} (\S+)$', text, re.M)
    )


def _stored(service: CarewatchProcess) -> int:
    """Readings in the service's embedded store (rows of both its runs)."""
    conn = sqlite3.connect(f"file:{service.dir / 'carewatch.db'}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM points WHERE kind = 0").fetchone()[0])
    finally:
        conn.close()


def _service(tmp_path: Path, name: str, broker, site: Path, client_id: str) -> CarewatchProcess:
    return CarewatchProcess(
        tmp_path / name,
        broker.url,
        site,
        settings={"ingest_workers": "2", "mqtt_client_id": client_id, "service_id": name},
    )


def _wearables(site: Path) -> list[str]:
    return [d.id for d in load_sites(site).devices() if d.type.name == "wearable"]


@pytest.mark.integration
def test_two_services_on_one_broker_each_commit_only_their_own_sites(tmp_path, broker, publisher):
    riverside = tmp_path / "riverside.yaml"
    riverside.write_text(RIVERSIDE.read_text(encoding="utf-8"), encoding="utf-8")
    a = _service(tmp_path, "home-a", broker, DEMO_SITE, "cw-home-a")
    b = _service(tmp_path, "home-b", broker, riverside, "cw-home-b")
    a.start()
    try:
        b.start()
        try:
            # the first start retires the session an earlier version may have left
            # (`cw-home-a`, the single process's: not there, so ended at once)
            assert wait_until(lambda: _metric(a, "carewatch_mqtt_sessions_retired_total") == 1, 10)
            sunrise, river = _wearables(DEMO_SITE), _wearables(riverside)
            msgs = []
            for i in range(1000):  # alternating: a reading of each site in turn
                msgs.append(_reading("sunrise", sunrise[i % len(sunrise)], i))
                msgs.append(_reading("riverside", river[i % len(river)], i))
            publisher.publish_all(msgs, rate=4000)
            assert publisher.wait_acked(2000, 10)
            for svc in (a, b):
                assert wait_until(lambda s=svc: _metric(s, ACCEPTED) >= 1000, 20), svc.log()[-2000:]
            time.sleep(0.5)
            for svc in (a, b):  # each committed exactly its own 1,000, nothing rejected
                assert _metric(svc, ACCEPTED) == 1000
                assert _rejected(svc) == 0
                assert svc.get("/api/dead-letters").json() == []
                assert _stored(svc) == 1000

            # home-a restarted under another client id: its old workers' sessions (same
            # share group home-a) would take half of its readings; they are retired
            a.stop()
            down = [_reading("sunrise", sunrise[i % len(sunrise)], 2000 + i) for i in range(200)]
            publisher.publish_all(down, rate=4000)  # queued in the departed sessions
            assert publisher.wait_acked(2200, 5)
            a2 = CarewatchProcess(
                a.dir,
                broker.url,
                DEMO_SITE,
                settings={
                    "ingest_workers": "2",
                    "mqtt_client_id": "cw-home-a-2",
                    "service_id": "home-a",
                },
            )
            a2.start()
            try:
                retired = "carewatch_mqtt_sessions_retired_total"
                # the two workers and the events session of cw-home-a
                assert wait_until(lambda: _metric(a2, retired) == 3, 15), a2.log()[-3000:]
                after = [
                    _reading("sunrise", sunrise[i % len(sunrise)], 3000 + i) for i in range(400)
                ]
                publisher.publish_all(after, rate=4000)
                assert publisher.wait_acked(2600, 5)
                assert wait_until(lambda: _stored(a2) == 1600, 15), _stored(a2)
                time.sleep(0.5)
                assert _stored(a2) == 1600  # 1,000 + 200 held by the retired + 400 after
                assert _metric(a2, ACCEPTED) == 600
                assert _rejected(a2) == 0
                book = json.loads((a.dir / BOOK_FILE).read_text())
                assert sorted(s["client_id"] for s in book["sessions"]) == [
                    "cw-home-a-2-events",
                    "cw-home-a-2-w0",
                    "cw-home-a-2-w1",
                ]
                for gone in ("cw-home-a-w0", "cw-home-a-w1", "cw-home-a-events"):
                    assert not _session_present(broker.port, gone)
                assert _stored(b) == 1000 and _rejected(b) == 0  # home-b saw none of it
            finally:
                a2.stop()
        finally:
            b.stop()
    finally:
        a.stop()


def test_two_services_sharing_a_client_id_each_see_the_other_take_their_session(broker):
    """The mistake of starting two services with the default client id: each connection
    pushes the other off ("session taken over") and each sees about half the messages.
    Each source notices, so the service's broker check (readyz, the watchdog) says the
    link is down instead of reporting a healthy half."""
    registry = load_sites(RIVERSIDE)
    decoder = Decoder(registry)

    def source() -> MqttSource:
        s = MqttSource(broker.url, "cw-twin", decoder, lambda _d, _a: None, SystemClock())
        s.start()
        return s

    first = source()
    assert wait_until(lambda: first.connected, 5)
    assert not first.contested()
    second = source()
    try:
        assert wait_until(first.contested, 10)
        assert wait_until(second.contested, 10)
    finally:
        first.stop()
        second.stop()
