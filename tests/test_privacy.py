"""Privacy: residents' names live only in the registry (the site file) and on the
duty screen's API; everything that leaves the screen or is kept carries ids.

One real service (mosquitto, InfluxDB, a signed-webhook receiver with a JSON and a CAP
target, the MQTT alert topic) sees falls, a call, a fire, a device's last will, staff
logging in with a PIN (and a wrong one), acks, resolves, a wrong API token, and rejected
messages, two of which carry a resident's name. Then every output is scanned for every
resident's display name from examples/demo-site.yaml, as UTF-8 and as the escapes a JSON,
URL or XML writer would make of it:

- the service log (at DEBUG level), /metrics, the delivery log (/api/notifications);
- every webhook body received (JSON and CAP) and every MQTT alert topic payload;
- every InfluxDB series (tags and fields) and every SQLite table (spool, outbox, alerts,
  audit, dead letters...), row by row and as raw file bytes (the -wal too), so a name
  written once and deleted since (a drained spool row) is found as well;
- the dead-letter log: a dead letter keeps the first 512 bytes of a rejected payload as
  the device sent it. Decision: that is kept as is. A device never knows names (none is
  ever sent to a device: the alert topic has no names), so a name can only be in a dead
  letter if the device itself sent it, and the installer needs the payload verbatim to
  fix the device. The scan asserts CareWatch never *adds* a name: a name appears in a
  dead letter only where that row's own topic or payload (as sent) has it.
The screen API (/api/alerts, /api/devices) does show names: that is what the duty room
needs, and the test checks it does, which also proves the names are what the scan looks for.
The API token, the staff PINs (right and wrong), the session token and the webhook HMAC key
never appear in the log or any other output.

The gateway path (a home bed's contacts, their names and phone numbers, reached through an
SMS/voice gateway) is scanned the same way in tests/test_e2e_home_escalation.py: only the
gateway's own request carries a number.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from alerting.notify.receiver import Receiver
from devices.registry import load_site
from ingest.broker import free_port
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
T = "carewatch/v1/sunrise"
SECRET = "privacy-hmac-key-5b9d02e7c4a1f3"
TOKEN = "privacy-api-token-8f3c61d2e9a4b7"
WRONG_TOKEN = "privacy-wrong-token-1c7e4a90d3"
PIN = "1234"  # nurse-li's demo PIN (examples/demo-site.yaml)
BOSS, BOSS_PIN = "supervisor-zhao", "3456"  # the demo's supervisor
WRONG_PIN = "73915046"
REGISTRY = load_site(DEMO_SITE)
NAMES = sorted({r.display_name for r in REGISTRY.site.residents})
# the resident whose name a misbehaving device puts in its payload and topic
DEAD_LETTER_DEVICE = "w-209-1"


def resident_of(device_id: str) -> str:
    dev = REGISTRY.by_id(device_id)
    assert dev is not None
    name = REGISTRY.resident_name(dev.site, dev.resident)
    assert name
    return name


DEAD_LETTER_NAME = resident_of(DEAD_LETTER_DEVICE)


def forms(text: str) -> list[str]:
    """`text` as written raw, JSON-escaped (either hex case), URL-encoded and as XML
    character references: a name in any of them is a name."""
    escaped = json.dumps(text)[1:-1]
    url = quote(text, safe="")
    out = {
        text,
        escaped,
        escaped.upper().replace("\\U", "\\u"),
        url,
        url.lower(),
        "".join(f"&#{ord(c)};" for c in text),
        "".join(f"&#x{ord(c):x};" for c in text),
    }
    return sorted(out)


def found(needles: Iterable[str], haystack: str | bytes) -> list[str]:
    """The needles (in any of their forms) that occur in haystack."""
    hits = []
    for needle in needles:
        for f in forms(needle):
            if (f.encode() if isinstance(haystack, bytes) else f) in haystack:
                hits.append(needle)
                break
    return hits


def rules_yaml(port: int) -> str:
    """A JSON target (supervisor) and a CAP target (the fire brigade); every alert reaches
    the supervisor after 1 s, fires are forwarded at once when a second detector confirms."""
    return f"""\
notify:
  targets:
    fire_brigade: {{url: "http://127.0.0.1:{port}/119", format: cap, secret_env: CW_PRIVACY_SECRET}}
    supervisor: {{url: "http://127.0.0.1:{port}/supervisor", format: json, secret_env: CW_PRIVACY_SECRET}}
escalation:
  policies:
    emergency: {{steps: [{{after_s: 0, notify: duty_screen}}, {{after_s: 1, notify: supervisor}}], repeat_s: 600}}
    fire: {{steps: [{{after_s: 0, notify: duty_screen}}, {{after_s: 1, notify: supervisor}}], repeat_s: 600}}
  by_severity: {{critical: emergency, high: emergency, medium: emergency, low: emergency}}
"""


class Subscriber:
    """Every message on an MQTT topic filter (the alert topic's readers)."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        c = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        c.on_connect = lambda client, *_a: client.subscribe(topic, qos=1)
        c.on_subscribe = lambda *_a: subscribed.set()
        c.on_message = self._on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        self._client = c
        assert subscribed.wait(5), "not subscribed"

    def _on_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def all(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def get(service: CarewatchProcess, path: str, **params: Any) -> httpx.Response:
    # with the API token: reading may be closed to anonymous clients
    r = httpx.get(
        service.url + path, params=params, timeout=10, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r


def influx_dump(influx: Any) -> str:
    """Every series of the database, tags and fields, as one text."""
    r = httpx.get(
        f"{influx.url}/query", params={"db": "carewatch", "q": "SHOW MEASUREMENTS"}, timeout=10
    )
    series = r.json()["results"][0].get("series", [])
    measurements = [v[0] for s in series for v in s["values"]]
    out = []
    for m in measurements:
        q = f'SELECT * FROM "{m}"'
        r = httpx.get(f"{influx.url}/query", params={"db": "carewatch", "q": q}, timeout=10)
        out.append(r.text)
    keys = httpx.get(
        f"{influx.url}/query", params={"db": "carewatch", "q": "SHOW FIELD KEYS"}, timeout=10
    )
    out.append(keys.text)
    return "\n".join(out)


def _text(v: object) -> object:
    return v.decode(errors="replace") if isinstance(v, bytes) else v


def sqlite_rows(db: Path) -> dict[str, list[str]]:
    """Every row of every table as JSON text (names \\u-escaped: `found` knows), by table."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out: dict[str, list[str]] = {}
        for t in tables:
            cols = [c[1] for c in conn.execute(f'PRAGMA table_info("{t}")')]
            rows = conn.execute(f'SELECT * FROM "{t}"').fetchall()
            out[t] = [json.dumps(dict(zip(cols, map(_text, row), strict=True))) for row in rows]
        return out
    finally:
        conn.close()


def test_names_stay_on_the_screen_and_secrets_stay_out_of_everything(
    tmp_path, monkeypatch, broker, influx, publisher
):
    monkeypatch.setenv("CW_PRIVACY_SECRET", SECRET)
    receiver = Receiver("127.0.0.1", free_port(), SECRET.encode()).start()
    service = CarewatchProcess(
        tmp_path / "cw",
        broker.url,
        DEMO_SITE,
        influx.url,
        token=TOKEN,
        rules=rules_yaml(receiver.port),
    )
    config = service.config.read_text()
    service.config.write_text(config.replace("log_level: INFO", "log_level: DEBUG"))
    assert "log_level: DEBUG" in service.config.read_text()  # the most the service logs
    live = Subscriber(broker.port, f"{T}/alerts/#")
    service.start()
    try:
        # --- what happens on a night shift ---------------------------------------------
        now = int(time.time() * 1000)
        publisher.publish_all(
            [
                (f"{T}/w-101-1/event", b'{"event":"fall","id":"p-fall-1","confidence":0.9}'),
                (f"{T}/cb-102-1/event", b'{"event":"press","button":"bed","id":"p-call-1"}'),
                (f"{T}/sd-101/event", b'{"event":"smoke_alarm","id":"p-smoke-1"}'),
                (f"{T}/sd-102/event", b'{"event":"smoke_alarm","id":"p-smoke-2"}'),
                (f"{T}/w-103-1/status", b'{"online":false}'),
                (f"{T}/w-104-1/telemetry", b'{"heart_rate_bpm":72,"spo2_pct":97,"worn":true}'),
                (f"{T}/p-1f-riser/telemetry", orjson.dumps({"ts": now, "pressure_mpa": 0.31})),
                # rejected: a device that sends a resident's name (it cannot know one)
                (
                    f"{T}/{DEAD_LETTER_DEVICE}/telemetry",
                    orjson.dumps({"heart_rate_bpm": DEAD_LETTER_NAME}),
                ),
                (f"{T}/{DEAD_LETTER_NAME}/telemetry", b'{"battery_pct":50}'),
                # rejected, no names
                (f"{T}/ghost-7/telemetry", b'{"battery_pct":50}'),
                (f"{T}/w-105-1/telemetry", b'{"heart_rate_bpm":NaN}'),
                (f"{T}/w-105-1/event", b'{"event":"explode"}'),
            ],
            rate=50,
        )

        def alerts() -> dict[tuple[str, str], dict[str, Any]]:
            return {(a["rule"], a["device_id"]): a for a in get(service, "/api/alerts").json()}

        want = {("fall", "w-101-1"), ("call", "cb-102-1"), ("smoke", "sd-101")}
        assert wait_until(lambda: want <= set(alerts()), 10), alerts().keys()
        by_key = alerts()
        fall, call = by_key[("fall", "w-101-1")], by_key[("call", "cb-102-1")]

        # the duty screen shows who it is
        assert fall["resident_name"] == resident_of("w-101-1")
        assert call["resident_name"] == resident_of("cb-102-1")
        devices = {d["id"]: d for d in get(service, "/api/devices").json()}
        assert devices["w-101-1"]["resident_name"] == resident_of("w-101-1")

        def escalated() -> bool:  # the supervisor heard of both (1 s unacknowledged)
            rows = get(service, "/api/notifications", target="supervisor").json()
            return {fall["id"], call["id"]} <= {n["alert_id"] for n in rows}

        assert wait_until(escalated, 10), get(service, "/api/notifications").json()

        # staff at the screen: a wrong PIN, then the right one; a wrong API token
        r = httpx.post(
            service.url + "/api/session", json={"staff_id": "nurse-li", "pin": WRONG_PIN}
        )
        assert r.status_code == 401
        r = httpx.post(service.url + "/api/session", json={"staff_id": "nurse-li", "pin": PIN})
        assert r.status_code == 200, r.text
        session = r.json()["token"]
        r = service.post(f"/api/alerts/{fall['id']}/ack", {"note": "on my way"}, token=session)
        assert r.status_code == 200 and r.json()["acknowledged_by"] == "nurse-li", r.text
        assert r.json()["resident_name"] == resident_of("w-101-1")
        r = service.post(f"/api/alerts/{call['id']}/ack", {"by": "x"}, token=WRONG_TOKEN)
        assert r.status_code in (401, 403)
        r = service.post(f"/api/alerts/{call['id']}/ack", {"by": "nurse-wang"})
        assert r.status_code == 200, r.text
        r = service.post(f"/api/alerts/{fall['id']}/resolve", {"note": "ok"}, token=session)
        assert r.status_code == 200, r.text
        # a call is reset at the bedside: from the screen only a supervisor's override
        r = service.post(f"/api/alerts/{call['id']}/resolve", {"note": "ok"}, token=session)
        assert r.status_code == 409, r.text
        r = httpx.post(service.url + "/api/session", json={"staff_id": BOSS, "pin": BOSS_PIN})
        boss = r.json()["token"]
        why = {"override": True, "note": "button stuck, checked in the room"}
        r = service.post(f"/api/alerts/{call['id']}/resolve", why, token=boss)
        assert r.status_code == 200, r.text

        # --- everything settles: deliveries, the alert topic, the store -------------------
        def settled() -> list[dict[str, Any]] | None:
            rows = get(service, "/api/notifications", limit=1000).json()
            webhooks = [n for n in rows if n["target"] in ("supervisor", "fire_brigade")]
            done = all(n["state"] == "delivered" for n in rows)
            actions = {(n["target"], n["action"]) for n in webhooks}
            enough = {
                ("supervisor", "escalate"),
                ("supervisor", "resolve"),
                ("supervisor", "override_reset"),  # the call: a follow-up like a resolve
            } <= actions
            forwarded = any(n["target"] == "fire_brigade" for n in webhooks)
            return rows if done and enough and forwarded else None

        notifications = wait_until(settled, 20, 0.2)
        assert notifications, get(service, "/api/notifications", limit=1000).json()
        webhooks = [n for n in notifications if n["target"] != "mqtt"]
        assert receiver.wait_for(len(webhooks), 10), (len(receiver.received), len(webhooks))
        assert receiver.rejected == 0 and receiver.invalid == 0
        mqtt_rows = [n for n in notifications if n["target"] == "mqtt"]
        assert wait_until(lambda: len(live.all()) >= len(mqtt_rows), 10)
        q = "SELECT count(*) FROM device_event WHERE device = 'w-101-1'"
        assert wait_until(lambda: influx.query("carewatch", q), 10), "no fall in InfluxDB"
        assert wait_until(
            lambda: "carewatch_spool_backlog 0.0" in get(service, "/metrics").text, 10
        )

        # --- the scan --------------------------------------------------------------------
        secrets = [TOKEN, WRONG_TOKEN, session, boss, SECRET, WRONG_PIN]
        pin_forms = [f'"{PIN}"', f"'{PIN}'", f"pin={PIN}", f"pin: {PIN}"]
        hashes = [s.pin_hash.split("$")[-1] for s in REGISTRY.site.staff]

        def clean(what: str, text: str | bytes, names: Iterable[str] = NAMES) -> None:
            assert found(names, text) == [], f"resident name in {what}"
            as_bytes = text if isinstance(text, bytes) else text.encode()
            for s in [*secrets, *pin_forms, *hashes]:
                assert s.encode() not in as_bytes, f"secret {s[:6]}... in {what}"

        service_log = service.log()
        assert "w-101-1" in service_log, "the log names devices by id"
        clean("the service log", service_log)

        metrics = get(service, "/metrics").text
        assert "carewatch_messages_total" in metrics
        clean("/metrics", metrics)

        clean("/api/notifications", orjson.dumps(notifications))

        bodies = [d["body"] for d in receiver.received]
        assert any(b"w-101-1" in b for b in bodies), "a JSON webhook about the fall"
        assert any(b.startswith(b"<?xml") for b in bodies), "a CAP forward to the brigade"
        for d in receiver.received:
            clean(f"webhook {d['key']}", d["body"])

        published = live.all()
        assert any(b"w-101-1" in p for _, p in published)
        for topic, payload in published:
            clean(f"alert topic {topic}", topic + " " + payload.decode())

        series = influx_dump(influx)
        assert "w-101-1" in series and "p-1f-riser" in series
        clean("InfluxDB", series)

        # the dead letters: names only where the device put them, kept verbatim
        letters = get(service, "/api/dead-letters", limit=1000).json()
        assert len(letters) == 5, letters
        carrying = []
        for d in letters:
            text = json.dumps(d, ensure_ascii=False)
            as_sent = d["topic"] + d["payload_preview"]
            for name in found(NAMES, text):
                assert name in as_sent, f"CareWatch added {name!r} to a dead letter: {d}"
            if found(NAMES, as_sent):
                carrying.append(d)
            clean("a dead letter", text.replace(DEAD_LETTER_NAME, ""))
        assert len(carrying) == 2
        assert any(
            orjson.dumps({"heart_rate_bpm": DEAD_LETTER_NAME}).decode() == d["payload_preview"]
            for d in carrying
        )

        # the store: every table, row by row; then the raw files (deleted rows too)
        db = service.dir / "carewatch.db"
        others = [n for n in NAMES if n != DEAD_LETTER_NAME]
        for table, rows in sqlite_rows(db).items():
            # the dead letters' own payloads were checked above: as sent by the device
            names = others if table == "dead_letters" else NAMES
            for row in rows:
                clean(f"SQLite table {table}", row, names)
        for f in sorted(service.dir.glob("carewatch.db*")):
            assert found(others, f.read_bytes()) == [], f"resident name in {f.name}"
    finally:
        live.close()
        service.stop()
        receiver.stop()
    # after a clean stop the WAL is checkpointed into the file: scan that too
    for f in sorted(service.dir.glob("carewatch.db*")):
        others = [n for n in NAMES if n != DEAD_LETTER_NAME]
        assert found(others, f.read_bytes()) == [], f"resident name in {f.name} after stop"
