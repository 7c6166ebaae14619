"""The MQTT alert topic (PROTOCOL.md): `{prefix}/{site}/alerts/{alert_id}` carries each
alert's current state as JSON, retained while the alert is open, cleared with an empty
retained message when it closes. Fed from the outbox like any notification target, so a
crash delays an update but never loses it; a publish counts only once the broker has
acknowledged it (QoS 1)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.siteconfig import SYSTEM_SITE
from ingest.mqtt import parse_mqtt_url


def system_topic_site(service_id: str) -> str:
    """The topic level of a service's own alerts: `_system-<service id>` (outside the site
    pattern, so never a site's)."""
    return f"{SYSTEM_SITE}-{service_id}"


class AlertTopicPublisher:
    """Publishes alert states to the MQTT alert topic on its own connection (MQTT 5, QoS 1,
    retained). Called by the `mqtt` target's delivery worker, which retries what failed."""

    def __init__(
        self,
        url: str,
        client_id: str,
        prefix: str,
        timeout_s: float = 5.0,
        ca_file: Path | None = None,
        service_id: str = "carewatch",
    ) -> None:
        addr = parse_mqtt_url(url)
        self._prefix = prefix.rstrip("/")
        # the watch's own alerts are this service's: two services on one broker must not
        # overwrite each other's retained states (their alert ids overlap)
        self._system = system_topic_site(service_id)
        self._timeout_s = timeout_s
        self._connected = threading.Event()
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        if addr.username:
            client.username_pw_set(addr.username, addr.password)
        if addr.tls:
            client.tls_set(ca_certs=str(ca_file) if ca_file else None)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = lambda *_a: self._connected.set()
        client.on_disconnect = lambda *_a: self._connected.clear()
        self._client = client
        self._addr = addr

    def start(self) -> None:
        """Connect in the background and keep reconnecting; `publish` waits up to `timeout_s` for
        the connection."""
        self._client.connect_async(self._addr.host, self._addr.port, keepalive=15)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()

    def topic(self, site: str, alert_id: int | str) -> str:
        """The alert's topic: {prefix}/{site}/alerts/{alert_id}; the watch's own alerts
        under {prefix}/_system-<service id>/alerts/{alert_id}."""
        level = self._system if site == SYSTEM_SITE else site
        return f"{self._prefix}/{level}/alerts/{alert_id}"

    def publish(self, site: str, alert_id: int | str, alert: Mapping[str, Any]) -> None:
        """Retained state while open; an empty retained message once closed."""
        if not self._connected.wait(self._timeout_s):
            raise ConnectionError("not connected to the MQTT broker")
        closed = alert.get("state") == "closed"
        payload = b"" if closed else orjson.dumps(alert)
        info = self._client.publish(self.topic(site, alert_id), payload, qos=1, retain=True)
        info.wait_for_publish(self._timeout_s)
        if not info.is_published():
            raise TimeoutError("the broker did not acknowledge the alert state")
