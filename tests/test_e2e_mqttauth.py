"""Broker accounts and TLS against real mosquitto: a device can publish only under its own
topic (another device's topic, or its own id under another site, is refused by the broker
and raises nothing), a service's account reads only its own sites, anonymous and wrong
passwords are refused, and the service works over TLS with a private CA."""

from __future__ import annotations

import csv
import threading
import time

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from carewatch.cli import main as carewatch
from ingest.broker import MosquittoProcess, TlsListener, free_port
from ingest.mqttauth import SERVICE_USER, ZIGBEE_USER, Grants, write_credentials
from tests.conftest import DEMO_SITE, ROOT, wait_until
from tests.pki import make_ca
from tests.servers import CarewatchProcess

T = "carewatch/v1/sunrise"


def one_site(site: str, devices: list[str], zigbee: bool = False) -> Grants:
    """The grants of a one-site service without a service id, as before sites."""
    gateways = ((ZIGBEE_USER, "zigbee2mqtt"),) if zigbee else ()
    return Grants(SERVICE_USER, (site,), tuple((site, d) for d in devices), gateways)


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
    accts = write_credentials(
        tmp_path / "auth", one_site("sunrise", ["w-101-1", "w-102-1", "sd-101"])
    )
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
    accts = write_credentials(
        tmp_path / "auth", one_site("sunrise", ["w-101-1", "sd-101"], zigbee=True)
    )
    rows = list(csv.DictReader((tmp_path / "auth" / "credentials.csv").open()))
    assert [r["username"] for r in rows] == [SERVICE_USER, "zigbee2mqtt", "w-101-1", "sd-101"]
    assert (tmp_path / "auth" / "credentials.csv").stat().st_mode & 0o077 == 0
    hashed = (tmp_path / "auth" / "passwd").read_text()
    assert all(a.password not in hashed for a in accts)  # hashed, never in clear
    acl = (tmp_path / "auth" / "acl").read_text()
    assert f"user w-101-1\ntopic write {T}/w-101-1/telemetry\ntopic write {T}/w-101-1/event" in acl
    assert "topic read" in acl
    assert "pattern" not in acl  # a rule for every username would hold under every site


def credentials(out, sites, service_id: str) -> dict[str, str]:
    """`carewatch mqtt-credentials` for a service's sites: username -> password."""
    args = ["mqtt-credentials", "--sites", str(sites), "--out", str(out)]
    assert carewatch([*args, "--service-id", service_id]) == 0
    return {r["username"]: r["password"] for r in csv.DictReader((out / "credentials.csv").open())}


def secured_broker(tmp_path, *auth_dirs) -> MosquittoProcess:
    """A broker with the password files and ACLs of several services, concatenated."""
    for name in ("passwd", "acl"):
        text = "\n".join((d / name).read_text() for d in auth_dirs)
        (tmp_path / name).write_text(text)
    broker = MosquittoProcess(
        tmp_path / "mosquitto",
        anonymous=False,
        extra={"password_file": str(tmp_path / "passwd"), "acl_file": str(tmp_path / "acl")},
    )
    broker.start()
    return broker


def refused(c: paho.Client, got: dict, topic: str) -> bool:
    info = c.publish(topic, b'{"event":"press","id":"p-1"}', qos=1)
    info.wait_for_publish(5)
    assert wait_until(lambda: got["pubacks"].get(info.mid) is not None, 5)
    return bool(got["pubacks"][info.mid].is_failure)


def test_a_device_cannot_publish_under_another_sites_topic(tmp_path):
    pw = credentials(tmp_path / "auth", ROOT / "examples" / "sites", "district")
    assert "carewatch-district" in pw
    assert {"zigbee2mqtt-riverside", "zigbee2mqtt-hb-wang"} <= pw.keys()  # their own gateways
    acl = (tmp_path / "auth" / "acl").read_text()
    assert "topic write carewatch/v1/riverside/rv-w-101-1/event" in acl
    assert "pattern" not in acl
    broker = secured_broker(tmp_path, tmp_path / "auth")
    try:
        dev, got = client(broker.port, "rv-w-101-1", pw["rv-w-101-1"])
        assert got["rc"] == 0
        assert refused(dev, got, "carewatch/v1/sunrise/rv-w-101-1/event")  # another site
        assert refused(dev, got, "carewatch/v1/riverside/rv-w-102-1/event")  # another device
        assert not refused(dev, got, "carewatch/v1/riverside/rv-w-101-1/event")
        dev.disconnect()
        gw, got = client(broker.port, "zigbee2mqtt-riverside", pw["zigbee2mqtt-riverside"])
        assert refused(gw, got, "zigbee2mqtt-hb-wang/hb-wang-smoke")  # another home's gateway
        assert not refused(gw, got, "zigbee2mqtt-riverside/rv-leak-1")
        gw.disconnect()
    finally:
        broker.stop()


def test_each_services_account_reads_only_its_own_sites(tmp_path):
    """Two services' accounts on one broker: home-b's service (2 ingest workers) takes its
    site's readings under its ACL; home-a's account never receives riverside's."""
    riverside = tmp_path / "riverside.yaml"
    riverside.write_text((ROOT / "examples" / "sites" / "2-riverside.yaml").read_text())
    pa = credentials(tmp_path / "a", DEMO_SITE, "home-a")
    pb = credentials(tmp_path / "b", riverside, "home-b")
    broker = secured_broker(tmp_path, tmp_path / "a", tmp_path / "b")
    try:
        url = f"mqtt://carewatch-home-b:{pb['carewatch-home-b']}@127.0.0.1:{broker.port}"
        service = CarewatchProcess(
            tmp_path / "cw",
            url,
            riverside,
            settings={"service_id": "home-b", "ingest_workers": "2"},
        )
        service.start()
        try:
            a, _ = client(broker.port, "carewatch-home-a", pa["carewatch-home-a"])
            seen: list[str] = []
            a.on_message = lambda _c, _u, m: seen.append(m.topic)
            a.subscribe([("carewatch/v1/#", 1), ("zigbee2mqtt-riverside/#", 1)])
            time.sleep(0.3)
            body = b'{"heart_rate_bpm": 70}'
            for user, topic in (
                ("w-101-1", f"{T}/w-101-1/telemetry"),
                ("rv-w-101-1", "carewatch/v1/riverside/rv-w-101-1/telemetry"),
            ):
                dev, _ = client(broker.port, user, pa.get(user) or pb[user])
                info = dev.publish(topic, body, qos=1)
                info.wait_for_publish(5)
                dev.disconnect()
            accepted = 'carewatch_messages_total{outcome="accepted",reason=""} 1.0'
            assert wait_until(lambda: accepted in service.get("/metrics").text, 10)
            assert (
                "rejected" not in service.get("/metrics").text.split("carewatch_messages_total")[1]
            )
            time.sleep(0.3)
            assert seen == [f"{T}/w-101-1/telemetry"]  # home-a's account: only its own site
            a.disconnect()
        finally:
            service.stop()
    finally:
        broker.stop()


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
