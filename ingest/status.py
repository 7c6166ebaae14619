"""The watch announces itself: `carewatch/v1/<site>/service/status`, retained, for each
watched site, so a building management system, the district platform or the call centre
sees the watch of that site go down.

A last will is one per MQTT connection, and every site needs its own, so each site gets a
small connection of its own whose will says offline. One thread drives them all through
paho's external-loop calls (select on the sockets, loop_read / loop_write / loop_misc):
500 sites are 500 sockets, not 500 threads. A crash or a lost network is announced by the
broker after 1.5 keepalives (KEEPALIVE_S); a clean stop publishes offline itself (a will
is not sent on a clean disconnect).

Payloads: `{"online": true, "service": <service id>, "since": <RFC 3339>}` and
`{"online": false, "service": <service id>}` (the will, fixed when it connects).
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.mqtt import parse_mqtt_url

log = logging.getLogger("carewatch.ingest.status")

KEEPALIVE_S = 15
RETRY_S = 5.0  # between reconnect attempts of one site's connection


def status_topic(prefix: str, site: str) -> str:
    """The site's watch status topic."""
    return f"{prefix.rstrip('/')}/{site}/service/status"


class _Site:
    """One site's status connection."""

    def __init__(self, site: str, client: paho.Client, topic: str) -> None:
        self.site = site
        self.client = client
        self.topic = topic
        self.connected = False
        self.next_try = 0.0


class ServiceStatus:
    """Retained online/offline per site, each with its own last will; one thread."""

    def __init__(
        self,
        url: str,
        client_id: str,
        prefix: str,
        sites: Sequence[str],
        service_id: str,
        ca_file: Path | None = None,
        now_s: Callable[[], float] = time.time,
        keepalive_s: int = KEEPALIVE_S,
    ) -> None:
        self._addr = parse_mqtt_url(url)
        self._keepalive = keepalive_s
        self._service = service_id
        self._now_s = now_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sites: list[_Site] = []
        offline = orjson.dumps({"online": False, "service": service_id})
        for site in sites:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"{client_id}-status-{site}",
                protocol=MQTTProtocolVersion.MQTTv311,
            )
            if self._addr.username:
                client.username_pw_set(self._addr.username, self._addr.password)
            if self._addr.tls:
                client.tls_set(ca_certs=str(ca_file) if ca_file else None)
            topic = status_topic(prefix, site)
            client.will_set(topic, offline, qos=1, retain=True)
            one = _Site(site, client, topic)
            client.on_connect = self._on_connect(one)
            client.on_disconnect = self._on_disconnect(one)
            self._sites.append(one)

    def _on_connect(self, one: _Site) -> Callable[..., None]:
        def on_connect(client: paho.Client, _u: object, _f: object, rc: object, _p: object) -> None:
            if getattr(rc, "is_failure", False):
                log.warning("status connection refused", extra={"site": one.site})
                return
            one.connected = True
            since = datetime.fromtimestamp(self._now_s(), UTC).isoformat(timespec="seconds")
            body = {"online": True, "service": self._service, "since": since}
            client.publish(one.topic, orjson.dumps(body), qos=1, retain=True)

        return on_connect

    def _on_disconnect(self, one: _Site) -> Callable[..., None]:
        def on_disconnect(*_a: object) -> None:
            one.connected = False
            one.next_try = time.monotonic() + RETRY_S

        return on_disconnect

    def online(self) -> int:
        """How many sites' status connections are up."""
        return sum(1 for s in self._sites if s.connected)

    def start(self) -> None:
        """Connect every site's connection and drive them on one daemon thread."""
        self._thread = threading.Thread(target=self._run, name="service-status", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Announce offline on every site (a clean stop sends no will), then disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        offline = orjson.dumps({"online": False, "service": self._service})
        pending = []
        for one in self._sites:
            if one.connected:
                pending.append(one.client.publish(one.topic, offline, qos=1, retain=True))
        deadline = time.monotonic() + timeout_s
        for one in self._sites:  # flush: each publish and its PUBACK, then the DISCONNECT
            while one.connected and one.client.want_write() and time.monotonic() < deadline:
                one.client.loop_write()
        for info in pending:
            left = max(0.0, deadline - time.monotonic())
            while not info.is_published() and left > 0:
                self._pump(0.05)
                left = deadline - time.monotonic()
        for one in self._sites:
            if one.connected:
                one.client.disconnect()
                one.client.loop_write()

    # the thread -----------------------------------------------------------------------

    def _connect(self, one: _Site) -> None:
        try:
            one.client.connect(self._addr.host, self._addr.port, keepalive=self._keepalive)
        except OSError as exc:
            one.next_try = time.monotonic() + RETRY_S
            log.warning("status connection failed", extra={"site": one.site, "error": str(exc)})

    def _run(self) -> None:
        for one in self._sites:
            self._connect(one)
        last_misc = 0.0
        while not self._stop.is_set():
            self._pump(0.5)
            now = time.monotonic()
            if now - last_misc >= 1.0:
                last_misc = now
                for one in self._sites:
                    if one.client.socket() is not None:
                        one.client.loop_misc()  # keepalive pings, timeouts
                    elif now >= one.next_try:
                        self._connect(one)

    def _pump(self, timeout_s: float) -> None:
        """One wait on every connected socket (poll: no limit on descriptor numbers, a
        service of 500 sites holds more than select's 1,024), then read and write."""
        poll = select.poll()
        by_fd: dict[int, _Site] = {}
        for one in self._sites:
            sock = one.client.socket()
            if sock is None:
                continue
            fd = sock.fileno()
            by_fd[fd] = one
            poll.register(fd, select.POLLIN | (select.POLLOUT if one.client.want_write() else 0))
        if not by_fd:
            time.sleep(timeout_s)
            return
        for fd, events in poll.poll(timeout_s * 1000):
            one = by_fd[fd]
            if events & (select.POLLIN | select.POLLERR | select.POLLHUP):
                one.client.loop_read()
            if events & select.POLLOUT:
                one.client.loop_write()
