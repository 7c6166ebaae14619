"""The screen's backend against a real service: PIN login, identity in the audit log,
and the SSE stream (live within a second, resumable with Last-Event-ID)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import DEMO_SITE, running
from tests.servers import CarewatchProcess

T = "carewatch/v1/sunrise"


@pytest.fixture
def service(tmp_path, broker):
    yield from running(CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE))


def events(resp: httpx.Response) -> Iterator[dict]:
    """Parse a text/event-stream into {'event', 'id', 'data'} dicts (pings skipped)."""
    ev: dict = {}
    for line in resp.iter_lines():
        if not line:
            if "data" in ev:
                yield {**ev, "data": json.loads(ev["data"])}
            ev = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            ev[key] = value.removeprefix(" ")


def login(service: CarewatchProcess, staff: str = "nurse-li", pin: str = "1234") -> httpx.Response:
    return httpx.post(
        service.url + "/api/session", json={"staff_id": staff, "pin": pin}, timeout=10
    )


def test_pin_login_puts_the_staff_id_in_the_audit_log(service, publisher):
    meta = service.get("/api/meta").json()
    assert {"id": "nurse-li", "name": "李护士"} in meta["staff"]
    assert "pin_hash" not in json.dumps(meta)
    assert meta["rules"]["fall"]["title_zh"] == "老人跌倒"
    assert meta["device_types"]["water_pressure"]["fields"]["pressure_mpa"]["unit"] == "MPa"
    assert login(service, pin="9999").status_code == 401
    r = login(service)
    assert r.status_code == 200 and r.json()["name"] == "李护士"
    token = r.json()["token"]
    publisher.publish_all([(f"{T}/w-101-1/event", b'{"event":"fall","id":"f-1"}')], rate=10)
    deadline = time.monotonic() + 5
    while not service.get("/api/alerts").json() and time.monotonic() < deadline:
        time.sleep(0.05)
    [a] = service.get("/api/alerts").json()
    assert a["resident_name"]  # the screen shows who; the logs never do
    r = service.post(f"/api/alerts/{a['id']}/ack", {"by": "someone-else", "note": "来了"}, token)
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "nurse-li"
    r = service.post(f"/api/alerts/{a['id']}/resolve", {"note": "x"}, token="s.forged.token")
    assert r.status_code == 401
    r = service.post(f"/api/alerts/{a['id']}/resolve", {"note": "x"})  # API token needs `by`
    assert r.status_code == 422
    assert a["resident_name"] not in service.log()


def test_stream_is_live_within_a_second_and_resumes_with_last_event_id(service, publisher):
    url = service.url + "/api/alerts/stream"
    auth = {"Authorization": f"Bearer {service.token}"}  # reads need a token
    with httpx.stream("GET", url, headers=auth, timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        it = events(resp)
        snap = next(it)
        assert snap["event"] == "snapshot" and snap["data"]["alerts"] == []
        first_id = snap["data"]["last_id"]
        sent = time.monotonic()
        publisher.publish_all([(f"{T}/cb-102-1/event", b'{"event":"press","id":"p-1"}')], 10)
        change = next(it)
        latency = time.monotonic() - sent
        assert latency < 1.0, f"change streamed after {latency:.3f} s"
        assert change["event"] == "change" and change["data"]["action"] == "raise"
        assert change["data"]["alert"]["rule"] == "call" and not change["data"]["replay"]
        assert int(change["id"]) > first_id
    # the page is away: the call is acknowledged and a fall comes in meanwhile
    token = login(service).json()["token"]
    alert_id = change["data"]["alert"]["id"]
    assert service.post(f"/api/alerts/{alert_id}/ack", {}, token).status_code == 200
    publisher.publish_all([(f"{T}/w-102-1/event", b'{"event":"fall","id":"f-9"}')], 10)
    time.sleep(0.5)
    headers = {**auth, "Last-Event-ID": change["id"]}
    with httpx.stream("GET", url, headers=headers, timeout=10) as resp:
        it = events(resp)
        snap = next(it)
        assert {a["rule"] for a in snap["data"]["alerts"]} == {"call", "fall"}
        missed = []
        while not missed or missed[-1]["id"] != str(snap["data"]["last_id"]):
            missed.append(next(it))
        actions = [(m["data"]["alert"]["rule"], m["data"]["action"]) for m in missed]
        assert ("call", "ack") in actions and ("fall", "raise") in actions
        assert all(m["data"]["replay"] for m in missed)
        ack = next(m for m in missed if m["data"]["action"] == "ack")
        assert ack["data"]["by"] == "nurse-li"
