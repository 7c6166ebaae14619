"""The webhook receiver, over real loopback sockets (no HTTP mocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from alerting.notify.formats import CAP_CONTENT_TYPE, Notice, to_cap, to_json
from alerting.notify.receiver import Receiver
from alerting.notify.signing import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign
from carewatch.cli import main as carewatch_main

ROOT = Path(__file__).resolve().parent.parent
SECRET = b"test-secret"
RECEIVER_COMMAND = [sys.executable, "-m", "carewatch", "webhook-receiver"]


def notice(seq=1, action="forward"):
    return Notice(
        key=f"sunrise:42:fire_brigade:{seq}",
        reference="carewatch:sunrise:42",
        seq=seq,
        msg_type="Alert" if seq == 1 else "Update",
        action=action,
        target="fire_brigade",
        sent_ms=1_795_420_800_000 + seq,
        first_sent_ms=1_795_420_800_000,
        alert={
            "id": "42",
            "rule": "smoke_alarm",
            "title": "烟感报警",
            "title_en": "Smoke alarm",
            "severity": "critical",
            "state": "active_unack",
            "priority": "emergency",
            "room": "305",
            "floor": "3",
            "device_id": "sd-305",
            "device_type": "smoke_detector",
        },
        site={"id": "sunrise", "name": "阳光颐养院", "address": "文三路 100 号"},
        category="Fire",
    )


def main(argv: list[str]) -> int:
    """`carewatch webhook-receiver ...`: the command reads the key from the environment."""
    return carewatch_main(["webhook-receiver", *argv])


def post(url, body, *, key, content_type="application/json", secret=SECRET, signature=None):
    headers = {"Content-Type": content_type, IDEMPOTENCY_HEADER: key}
    if signature is None:
        signature = sign(body, secret)
    if signature:
        headers[SIGNATURE_HEADER] = signature
    return httpx.post(url, content=body, headers=headers, timeout=5)


@pytest.fixture
def receiver():
    r = Receiver(secret=SECRET).start()
    yield r
    r.stop()


def test_valid_signed_json_is_accepted(receiver):
    n = notice()
    body = to_json(n)
    before = time.monotonic()
    r = post(receiver.url, body, key=n.key)
    assert r.status_code == 200
    assert r.json() == {"ok": True, "duplicate": False, "key": n.key}
    assert len(receiver.received) == 1
    d = receiver.received[0]
    assert d["key"] == n.key and d["seq"] == 1 and d["reference"] == "carewatch:sunrise:42"
    assert (d["action"], d["alert_id"], d["rule"]) == ("forward", "42", "smoke_alarm")
    assert d["content_type"] == "application/json" and d["format"] == "json"
    assert d["body"] == body
    assert d["parsed"]["alert"]["title"] == "烟感报警"
    assert d["verified"] is True
    assert d["arrived_monotonic"] >= before
    assert abs(d["arrived_ms"] - time.time() * 1000) < 60_000


def test_valid_signed_cap_is_accepted(receiver):
    n = notice(seq=2, action="ack")
    body = to_cap(n, "carewatch@sunrise")
    for ctype, key in ((CAP_CONTENT_TYPE, "k-cap"), ("application/xml; charset=utf-8", "k-xml")):
        assert post(receiver.url, body, key=key, content_type=ctype).status_code == 200
    assert receiver.wait_for(2)
    d = receiver.received[0]
    assert d["format"] == "cap" and d["content_type"] == CAP_CONTENT_TYPE
    assert (d["seq"], d["action"], d["alert_id"], d["rule"]) == (2, "ack", "42", "smoke_alarm")
    assert d["parsed"]["msgType"] == "Update"
    assert d["parsed"]["identifier"] == "carewatch:sunrise:42:2"
    assert receiver.received[1]["content_type"] == "application/xml"


def test_bad_or_missing_signature_is_401(receiver):
    n = notice()
    body = to_json(n)
    assert post(receiver.url, body, key="a", secret=b"wrong").status_code == 401
    assert post(receiver.url, body, key="b", signature="").status_code == 401
    tampered = body.replace(b"critical", b"low")
    assert post(receiver.url, tampered, key="c", signature=sign(body, SECRET)).status_code == 401
    assert receiver.rejected == 3
    assert receiver.received == []
    # a rejected attempt does not use up the key: the properly signed retry is taken
    assert post(receiver.url, body, key="a").status_code == 200
    assert receiver.keys() == ["a"]


def test_duplicate_key_is_recorded_once(receiver):
    n = notice()
    body = to_json(n)
    first = post(receiver.url, body, key=n.key)
    again = post(receiver.url, body, key=n.key)
    assert first.status_code == again.status_code == 200
    assert again.json()["duplicate"] is True
    assert len(receiver.received) == 1
    assert receiver.duplicates == 1
    assert receiver.counts()["duplicates"] == 1
    assert httpx.get(receiver.url, timeout=5).json()["received"] == 1


def test_unreadable_or_unknown_bodies_are_refused(receiver):
    for body, ctype, status in (
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"<alert>", CAP_CONTENT_TYPE, 400),
        (b"<other xmlns='urn:x'/>", CAP_CONTENT_TYPE, 400),
        (b"hello", "text/plain", 415),
    ):
        assert (
            post(receiver.url, body, key=f"k{status}{len(body)}", content_type=ctype).status_code
            == status
        )
    assert receiver.received == [] and receiver.invalid == 5


def test_fail_with_answers_that_status_and_records_nothing(receiver):
    n = notice()
    body = to_json(n)
    receiver.fail_with = 503
    assert post(receiver.url, body, key=n.key).status_code == 503
    assert post(receiver.url, body, key=n.key).status_code == 503
    assert receiver.received == [] and receiver.duplicates == 0
    receiver.fail_with = None
    assert post(receiver.url, body, key=n.key).status_code == 200  # the retry lands
    assert receiver.keys() == [n.key]


def test_fail_with_from_the_constructor():
    with Receiver(secret=SECRET, fail_with=500) as r:
        assert post(r.url, b"{}", key="k").status_code == 500
        assert r.received == []


def test_stop_and_restart_on_the_same_port():
    first = Receiver(secret=SECRET).start()
    port = first.port
    body = to_json(notice())
    assert post(first.url, body, key="k1").status_code == 200
    first.stop()
    with pytest.raises(httpx.ConnectError):
        post(f"http://127.0.0.1:{port}/", body, key="k2")
    second = Receiver(port=port, secret=SECRET).start()
    try:
        assert second.port == port and second.url == first.url
        assert post(second.url, body, key="k2").status_code == 200
        assert second.keys() == ["k2"]
        assert first.keys() == ["k1"]  # the stopped one got nothing more
    finally:
        second.stop()


def test_cli_refuses_to_start_without_the_secret(monkeypatch, capsys):
    monkeypatch.delenv("CAREWATCH_WEBHOOK_SECRET", raising=False)
    assert main(["--port", "0"]) == 2
    assert "CAREWATCH_WEBHOOK_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("CAREWATCH_WEBHOOK_SECRET", "")
    assert main(["--port", "0"]) == 2
    monkeypatch.delenv("MY_SECRET", raising=False)
    assert main(["--port", "0", "--secret-env", "MY_SECRET"]) == 2


def test_cli_prints_one_line_per_delivery_and_stops_on_ctrl_c():
    env = dict(os.environ, MY_SECRET=SECRET.decode())
    proc = subprocess.Popen(
        [*RECEIVER_COMMAND, "--port", "0", "--secret-env", "MY_SECRET"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        url = orjson.loads(proc.stderr.readline())["listening"]
        n = notice()
        body = to_json(n)
        assert post(url, body, key=n.key).status_code == 200
        assert post(url, body, key=n.key).status_code == 200  # a retry: no second line
        assert post(url, body, key="x", secret=b"wrong").status_code == 401
        cap = to_cap(notice(seq=2, action="ack"), "carewatch")
        assert post(url, cap, key="k2", content_type=CAP_CONTENT_TYPE).status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    lines = [orjson.loads(line) for line in out.splitlines()]
    assert [(x["key"], x["seq"], x["action"]) for x in lines] == [
        (n.key, 1, "forward"),
        ("k2", 2, "ack"),
    ]
    assert all(x["verified"] is True and x["alert_id"] == "42" for x in lines)
    assert all(x["rule"] == "smoke_alarm" for x in lines)
    counts = orjson.loads(err.splitlines()[-1])
    assert counts["received"] == 2 and counts["duplicates"] == 1 and counts["rejected"] == 1
