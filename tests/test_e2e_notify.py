"""Notifications end to end: the real service, a real webhook receiver on loopback
and the real broker; nothing mocked.

1. The receiver is down, then answers 503, then recovers: every notification arrives, each
   Idempotency-Key once, in order per (target, alert); CAP to the brigade, JSON otherwise.
2. kill -9 with notifications pending: delivered after the restart, each exactly once.
3. The MQTT alert topic: retained JSON while open, updated on ack, cleared on resolve.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerting.notify.receiver import Receiver
from ingest.broker import free_port
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
T = "carewatch/v1/sunrise"
SECRET = "e2e-notify-secret-0123456789"
WEBHOOKS = ("fire_brigade", "supervisor")


def rules_yaml(port: int) -> str:
    """Two webhook targets on one loopback receiver; falls reach the supervisor after 1 s,
    fire alarms after 2 s (so the supervisor hears of the smoke alerts too)."""
    return f"""\
notify:
  targets:
    fire_brigade: {{url: "http://127.0.0.1:{port}/119", format: cap, secret_env: CW_TEST_SECRET}}
    supervisor: {{url: "http://127.0.0.1:{port}/supervisor", format: json, secret_env: CW_TEST_SECRET}}
escalation:
  policies:
    emergency: {{steps: [{{after_s: 0, notify: duty_screen}}, {{after_s: 1, notify: supervisor}}], repeat_s: 30}}
    fire: {{steps: [{{after_s: 0, notify: duty_screen}}, {{after_s: 2, notify: supervisor}}, {{after_s: 180, notify: fire_brigade}}], repeat_s: 120}}
"""


def events(publisher, *items: tuple[str, str, str]) -> None:
    """(device, event, unique id) -> one QoS 1 event message each."""
    publisher.publish_all(
        [(f"{T}/{dev}/event", orjson.dumps({"event": ev, "id": eid})) for dev, ev, eid in items],
        rate=50,
    )


def log(service: CarewatchProcess, **params: Any) -> list[dict[str, Any]]:
    """The delivery log of the webhook targets (not the MQTT topic), oldest first."""
    rows = service.get("/api/notifications", limit=1000, **params).json()
    return sorted((r for r in rows if r["target"] in WEBHOOKS), key=lambda r: r["id"])


def alert_ids(service: CarewatchProcess) -> dict[tuple[str, str], int]:
    alerts = service.get("/api/alerts", state="all").json()
    return {(a["rule"], a["device_id"]): int(a["id"]) for a in alerts}


def act(service: CarewatchProcess, alert_id: int, action: str, note: str | None = None) -> None:
    body: dict[str, object] = {"by": "nurse-li"}
    if note:
        body["note"] = note
    r = service.post(f"/api/alerts/{alert_id}/{action}", body)
    assert r.status_code == 200, (action, alert_id, r.text)


def threads(rows: list[dict[str, Any]]) -> dict[tuple[str, int], list[tuple[int, str, str]]]:
    """(target, alert id) -> [(seq, action, msg_type)] in the log's order."""
    out: dict[tuple[str, int], list[tuple[int, str, str]]] = defaultdict(list)
    for r in rows:
        out[(r["target"], int(r["alert_id"]))].append((r["seq"], r["action"], r["msg_type"]))
    return dict(out)


def head(service: CarewatchProcess, target: str) -> dict[str, Any] | None:
    """The target's oldest pending row: the one its worker keeps retrying."""
    rows = log(service, target=target, state="pending")
    return rows[0] if rows else None


def check_arrivals(receiver: Receiver, rows: list[dict[str, Any]]) -> None:
    """Received == the log, each key once, seqs 1..n in arrival order per (target, alert),
    CAP to the brigade and JSON to the supervisor with the right message type."""
    got = list(receiver.received)
    keys = [d["key"] for d in got]
    assert len(keys) == len(set(keys)), "a key recorded twice"
    assert set(keys) == {r["key"] for r in rows}
    by_key = {r["key"]: r for r in rows}
    arrived: dict[tuple[str, int], list[int]] = defaultdict(list)
    for d in got:
        row = by_key[d["key"]]
        target, alert_id, seq = row["target"], int(row["alert_id"]), row["seq"]
        assert d["seq"] == seq and str(d["alert_id"]) == str(alert_id)
        site, install, *_ = row["key"].split(":")
        assert d["reference"] == f"carewatch:{site}:{install}:{alert_id}"
        assert d["action"] == row["action"]
        assert d["verified"] is True
        arrived[(target, alert_id)].append(seq)
        if target == "fire_brigade":
            assert d["format"] == "cap" and d["content_type"] == "application/cap+xml"
            assert d["body"].startswith(b"<?xml")
            msg_type = d["parsed"]["msgType"]
            if seq > 1:
                assert d["parsed"]["references"], "an Update/Cancel names the first message"
        else:
            assert d["format"] == "json" and d["content_type"] == "application/json"
            assert d["parsed"]["version"] == "1" and d["parsed"]["key"] == d["key"]
            msg_type = d["parsed"]["msg_type"]
        expected = "Cancel" if row["action"] == "dismiss" else "Alert" if seq == 1 else "Update"
        assert msg_type == row["msg_type"] == expected, d["key"]
    for thread, seqs in arrived.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"{thread} arrived as {seqs}"


def test_receiver_down_then_503_then_back_gets_everything_once_in_order(
    tmp_path, monkeypatch, broker, publisher
):
    monkeypatch.setenv("CW_TEST_SECRET", SECRET)
    port = free_port()  # reserved for the receiver, which is not running yet
    receiver = Receiver("127.0.0.1", port, SECRET.encode())
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, rules=rules_yaml(port))
    service.start()
    try:
        t0 = time.monotonic()
        # a fire confirmed by two detectors on floor 1, and a fall in room 101
        events(
            publisher,
            ("sd-101", "smoke_alarm", "n1-s-1"),
            ("sd-102", "smoke_alarm", "n1-s-2"),
            ("w-101-1", "fall", "n1-f-1"),
        )
        ids = wait_until(lambda: len(alert_ids(service)) >= 4 and alert_ids(service), 5)
        assert ids, "four alerts raised"
        sd1, sd2 = ids[("smoke", "sd-101")], ids[("smoke", "sd-102")]
        fall = ids[("fall", "w-101-1")]
        fire = next(i for (rule, _), i in ids.items() if rule == "fire_confirmed")

        def first_messages() -> bool:
            t = threads(log(service))
            want = {("fire_brigade", a) for a in (sd1, sd2, fire)}
            want |= {("supervisor", a) for a in (sd1, sd2, fire, fall)}
            return want <= set(t)

        assert wait_until(first_messages, 8), threads(log(service))
        t = threads(log(service))
        for a in (sd1, sd2, fire):
            assert t[("fire_brigade", a)] == [(1, "forward", "Alert")]
        for a in (sd1, sd2, fire, fall):
            assert t[("supervisor", a)] == [(1, "escalate", "Alert")]

        # follow-ups, each to every target that heard of the alert
        act(service, fall, "ack")
        act(service, sd1, "ack")
        act(service, sd2, "dismiss", "burnt toast in room 102")
        act(service, fire, "ack")
        act(service, fall, "resolve")
        act(service, sd1, "resolve")
        expected = {
            ("fire_brigade", sd1): [
                (1, "forward", "Alert"),
                (2, "ack", "Update"),
                (3, "resolve", "Update"),
            ],
            ("fire_brigade", sd2): [(1, "forward", "Alert"), (2, "dismiss", "Cancel")],
            ("fire_brigade", fire): [(1, "forward", "Alert"), (2, "ack", "Update")],
            ("supervisor", fall): [
                (1, "escalate", "Alert"),
                (2, "ack", "Update"),
                (3, "resolve", "Update"),
            ],
            ("supervisor", sd1): [
                (1, "escalate", "Alert"),
                (2, "ack", "Update"),
                (3, "resolve", "Update"),
            ],
            ("supervisor", sd2): [(1, "escalate", "Alert"), (2, "dismiss", "Cancel")],
            ("supervisor", fire): [(1, "escalate", "Alert"), (2, "ack", "Update")],
        }
        assert wait_until(lambda: threads(log(service)) == expected, 5), threads(log(service))

        # down: refused connections, retried with backoff, nothing delivered
        def retried_while_down() -> bool:
            heads = [head(service, t) for t in WEBHOOKS]
            return all(h is not None and h["attempts"] >= 2 for h in heads)

        assert wait_until(retried_while_down, 10)
        while time.monotonic() - t0 < 5:  # down for a few seconds in all
            time.sleep(0.1)
        rows = log(service)
        assert all(r["state"] == "pending" for r in rows)
        for target in WEBHOOKS:
            h = head(service, target)
            assert h is not None and h["attempts"] >= 2 and h["last_status"] is None
            assert h["last_error"], "the connection error is in the log"
        tried = {t: head(service, t)["attempts"] for t in WEBHOOKS}
        down_s = time.monotonic() - t0

        # up, but answering 503: attempts go on, the status is logged, nothing recorded
        receiver.fail_with = 503
        receiver.start()
        t1 = time.monotonic()

        def saw_503() -> bool:
            heads = [head(service, t) for t in WEBHOOKS]
            return all(h is not None and h["last_status"] == 503 for h in heads)

        assert wait_until(saw_503, 20, 0.1), [head(service, t) for t in WEBHOOKS]
        while time.monotonic() - t1 < 2:  # failing for a couple of seconds at least
            time.sleep(0.1)
        for target in WEBHOOKS:
            h = head(service, target)
            assert h["attempts"] > tried[target] and h["last_error"] == "HTTP 503"
        assert receiver.failed >= 2 and receiver.received == []
        assert all(r["state"] == "pending" for r in log(service))
        failing_s = time.monotonic() - t1

        # recovered: everything arrives
        receiver.fail_with = None
        t2 = time.monotonic()
        n = len(rows)
        assert receiver.wait_for(n, 30), f"{len(receiver.received)} of {n} arrived"
        done = wait_until(lambda: all(r["state"] == "delivered" for r in log(service)), 5)
        assert done, [r for r in log(service) if r["state"] != "delivered"]
        recover_s = time.monotonic() - t2
        time.sleep(0.5)  # nothing more comes
        rows = log(service)
        assert len(rows) == n and threads(rows) == expected
        assert all(r["last_status"] == 200 and r["last_error"] is None for r in rows)
        assert all(r["delivered_at"] is not None for r in rows)
        check_arrivals(receiver, rows)
        assert receiver.rejected == 0 and receiver.invalid == 0
        print(
            f"down {down_s:.1f} s, 503 for {failing_s:.1f} s, all {n} delivered"
            f" {recover_s:.1f} s after recovery; duplicates seen: {receiver.duplicates}"
        )
    finally:
        service.stop()
        receiver.stop()


def test_kill_9_with_notifications_pending_delivers_them_after_restart(
    tmp_path, monkeypatch, broker, publisher
):
    monkeypatch.setenv("CW_TEST_SECRET", SECRET)
    port = free_port()
    receiver = Receiver("127.0.0.1", port, SECRET.encode())
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, rules=rules_yaml(port))
    service.start()
    try:
        events(publisher, ("cp-1f", "pressed", "n2-cp-1"), ("w-102-1", "fall", "n2-f-1"))

        def pending() -> list[dict[str, Any]] | None:
            rows = log(service)
            done = {(r["target"], r["action"]) for r in rows}
            want = {("fire_brigade", "forward"), ("supervisor", "escalate")}
            tried = (h := head(service, "fire_brigade")) is not None and h["attempts"] >= 1
            return rows if want <= done and len(rows) >= 3 and tried else None

        rows = wait_until(pending, 8)
        assert rows, log(service)
        ids = alert_ids(service)
        cp, fall = ids[("manual_fire_alarm", "cp-1f")], ids[("fall", "w-102-1")]
        assert threads(rows) == {
            ("fire_brigade", cp): [(1, "forward", "Alert")],
            ("supervisor", cp): [(1, "escalate", "Alert")],
            ("supervisor", fall): [(1, "escalate", "Alert")],
        }
        assert all(r["state"] == "pending" for r in rows)
        assert head(service, "fire_brigade")["last_error"]
        keys = {r["key"] for r in rows}

        service.kill9()
        receiver.start()
        t0 = time.monotonic()
        service.start()
        assert receiver.wait_for(len(keys), 20), receiver.keys()
        took = time.monotonic() - t0
        time.sleep(1.0)  # a second delivery of any key would show up now
        assert sorted(receiver.keys()) == sorted(keys), "each pending key exactly once"
        assert receiver.duplicates == 0
        after = log(service)
        assert {r["key"] for r in after} == keys, "the restart routed nothing twice"
        assert all(r["state"] == "delivered" for r in after)
        check_arrivals(receiver, after)
        print(f"{len(keys)} pending notifications delivered {took:.1f} s after restart began")
    finally:
        service.stop()
        receiver.stop()


class Subscriber:
    """A paho v2 client on `topic`: every message with its retain flag."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._topic = topic
        c = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        c.on_connect = lambda client, *_a: client.subscribe(topic, qos=1)
        c.on_subscribe = lambda *_a: self._subscribed.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self._client = c
        assert self._subscribed.wait(5), "not subscribed"

    def _on_message(self, _client, _userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def on(self, topic: str) -> list[tuple[bytes, bool]]:
        with self._lock:
            return [(p, r) for t, p, r in self.messages if t == topic]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def retained(
    port: int, topic: str, pattern: str | None = None, settle_s: float = 0.5
) -> list[tuple[bytes, bool]]:
    """What a NEW subscriber to `pattern` (default: the topic) gets on `topic` right after
    subscribing: the retained message, if any."""
    s = Subscriber(port, pattern or topic)
    try:
        time.sleep(settle_s)  # retained messages follow the SUBACK at once
        return s.on(topic)
    finally:
        s.close()


def test_alert_topic_is_retained_while_open_updated_on_ack_and_cleared_on_resolve(
    tmp_path, broker, publisher
):
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE)
    service.start()
    live = Subscriber(broker.port, f"{T}/alerts/#")
    try:
        events(publisher, ("w-103-1", "fall", "n3-f-1"))
        alert_id = wait_until(lambda: alert_ids(service).get(("fall", "w-103-1")), 5)
        assert alert_id, "fall raised"
        topic = f"{T}/alerts/{alert_id}"

        def states() -> list[str | None]:
            return [orjson.loads(p)["state"] if p else None for p, _ in live.on(topic)]

        assert wait_until(lambda: "active_unack" in states(), 5), live.messages
        got = retained(broker.port, topic)
        assert len(got) == 1 and got[0][1] is True, got
        doc = orjson.loads(got[0][0])
        assert (
            int(doc["id"]) == alert_id and doc["rule"] == "fall" and doc["state"] == "active_unack"
        )
        assert doc["device_id"] == "w-103-1"

        act(service, alert_id, "ack")
        assert wait_until(lambda: states()[-1:] == ["active_ack"], 5), states()
        got = retained(broker.port, topic)
        assert len(got) == 1 and got[0][1] is True
        assert orjson.loads(got[0][0])["state"] == "active_ack"

        act(service, alert_id, "resolve")
        assert wait_until(lambda: states()[-1:] == [None], 5), states()
        assert retained(broker.port, topic, settle_s=1.0) == [], "no retained message left"
        assert retained(broker.port, topic, f"{T}/alerts/#", 1.0) == []
        assert states() == ["active_unack", "active_ack", None], "in order, once each"
        rows = service.get("/api/notifications", target="mqtt", alert_id=alert_id).json()
        assert sorted(r["seq"] for r in rows) == [1, 2, 3]
        assert all(r["state"] == "delivered" for r in rows)
    finally:
        live.close()
        service.stop()
