"""Broker accounts and TLS against real mosquitto: a device can publish only under its own
topic (another device's topic is refused by the broker and raises nothing), anonymous and
wrong passwords are refused, and the service works over TLS with a private CA."""

from __future__ import annotations

import csv
import subprocess
import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.broker import MosquittoProcess, TlsListener, free_port
from ingest.mqttauth import SERVICE_USER, write_credentials
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

T = "carewatch/v1/sunrise"


def client(port: int, user: str | None, password: str | None) -> tuple[paho.Client, dict]:
    got: dict = {"connect": threading.Event(), "rc": None, "pubacks": {}}
    c = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"t-{user}", protocol=MQTTProtocolVersion.MQTTv5
    )
    if user:
        c.username_pw_set(user, password)

    def on_connect(_c, _u, _f, rc, _p):
        got["rc"] = rc
        got["connect"].set()

    def on_publish(_c, _u, mid, rc, _p):
        got["pubacks"][mid] = rc

    c.on_connect = on_connect
    c.on_publish = on_publish
    c.connect("127.0.0.1", port)
    c.loop_start()
    got["connect"].wait(5)
    return c, got


@pytest.fixture
def secured(tmp_path):
    accts = write_credentials(tmp_path / "auth", "sunrise", ["w-101-1", "w-102-1", "sd-101"])
    broker = MosquittoProcess(
        tmp_path / "mosquitto",
        anonymous=False,
        extra={
            "password_file": str(tmp_path / "auth" / "passwd"),
            "acl_file": str(tmp_path / "auth" / "acl"),
        },
    )
    broker.start()
    yield broker, {a.username: a.password for a in accts}
    broker.stop()


def test_a_device_can_publish_only_under_its_own_topic(tmp_path, secured):
    broker, pw = secured
    url = f"mqtt://{SERVICE_USER}:{pw[SERVICE_USER]}@127.0.0.1:{broker.port}"
    service = CarewatchProcess(tmp_path / "cw", url, DEMO_SITE)
    service.start()
    try:
        dev, got = client(broker.port, "w-101-1", pw["w-101-1"])
        assert got["rc"] == 0
        spoof = dev.publish(f"{T}/w-102-1/event", b'{"event":"fall","id":"spoof-1"}', qos=1)
        spoof.wait_for_publish(5)
        own = dev.publish(f"{T}/w-101-1/event", b'{"event":"fall","id":"own-1"}', qos=1)
        own.wait_for_publish(5)
        assert wait_until(lambda: got["pubacks"].get(spoof.mid) is not None, 5)
        assert got["pubacks"][spoof.mid].is_failure  # "Not authorized" from the broker
        assert not got["pubacks"][own.mid].is_failure
        alerts = wait_until(lambda: service.get("/api/alerts").json(), 5)
        assert [a["device_id"] for a in alerts] == ["w-101-1"]  # the spoof raised nothing
        dev.disconnect()

        _, anon = client(broker.port, None, None)
        assert anon["rc"] is not None and anon["rc"].is_failure
        _, wrong = client(broker.port, "w-101-1", "not-the-password")
        assert wrong["rc"] is not None and wrong["rc"].is_failure
    finally:
        service.stop()


def test_credentials_file_lists_every_device_once_and_is_private(tmp_path):
    accts = write_credentials(tmp_path / "auth", "sunrise", ["w-101-1", "sd-101"], zigbee=True)
    rows = list(csv.DictReader((tmp_path / "auth" / "credentials.csv").open()))
    assert [r["username"] for r in rows] == [SERVICE_USER, "zigbee2mqtt", "w-101-1", "sd-101"]
    assert (tmp_path / "auth" / "credentials.csv").stat().st_mode & 0o077 == 0
    hashed = (tmp_path / "auth" / "passwd").read_text()
    assert all(a.password not in hashed for a in accts)  # hashed, never in clear
    acl = (tmp_path / "auth" / "acl").read_text()
    assert f"pattern write {T}/%u/event" in acl and "topic read" in acl


def make_ca(d):
    """A private CA and a server certificate for 127.0.0.1 (openssl)."""
    d.mkdir(parents=True, exist_ok=True)

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=CareWatch test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.crt",
    )
    return d / "ca.crt", d / "server.crt", d / "server.key"


def test_the_service_works_over_tls_with_a_private_ca(tmp_path, publisher):
    ca, cert, key = make_ca(tmp_path / "pki")
    tls = TlsListener(free_port(), ca, cert, key)
    broker = MosquittoProcess(tmp_path / "mosquitto", tls=tls)
    broker.start()
    try:
        service = CarewatchProcess(
            tmp_path / "cw",
            f"mqtts://127.0.0.1:{tls.port}",
            DEMO_SITE,
            settings={"mqtt_ca_file": str(ca)},
        )
        service.start()
        try:
            from simulators.publisher import Publisher

            pub = Publisher("127.0.0.1", broker.port, "tls-test")  # devices on the plain port
            pub.publish_all([(f"{T}/w-101-1/event", b'{"event":"fall","id":"tls-1"}')], 10)
            pub.close()
            assert wait_until(lambda: service.get("/api/alerts").json(), 5)
            assert service.get("/readyz").json()["checks"]["broker"] is True
        finally:
            service.stop()
    finally:
        broker.stop()
