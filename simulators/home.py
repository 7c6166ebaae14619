"""SimulatedHome: one MQTT connection per device (each with its own last will), one thread."""

from __future__ import annotations

import contextlib
import logging
import random
import select
import threading
import time
import uuid
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.ports import Clock
from devices.registry import Registry
from simulators.models import DeviceModel, Step

log = logging.getLogger("carewatch.simulators")


def _broker(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[-1].rsplit("@", 1)[-1]
    host, _, port = rest.partition(":")
    return host or "127.0.0.1", int(port or 1883)


class SimulatedHome:
    def __init__(
        self,
        registry: Registry,
        mqtt_url: str,
        clock: Clock,
        steps: list[Step],
        prefix: str = "carewatch/v1",
        speed: float = 1.0,
        seed: int = 1,
    ) -> None:
        self._registry = registry
        self._host, self._port = _broker(mqtt_url)
        self._clock = clock
        self._steps = sorted(steps, key=lambda s: s.at_s)
        self._prefix = prefix.rstrip("/")
        self._speed = speed
        rng = random.Random(seed)
        self._models = [
            DeviceModel(d, random.Random(rng.random()))
            for d in registry.devices()
            if d.source == "carewatch"
        ]
        self._clients: dict[str, paho.Client] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.done_steps: list[Step] = []

    def _topic(self, device_id: str, kind: str) -> str:
        site = self._registry.by_id(device_id)
        assert site is not None, device_id
        return f"{self._prefix}/{site.site}/{device_id}/{kind}"

    def _connect_all(self) -> None:
        for m in self._models:
            c = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"sim-{m.device.id}",
                protocol=MQTTProtocolVersion.MQTTv311,
            )
            status = self._topic(m.device.id, "status")
            c.will_set(status, b'{"online":false}', qos=1, retain=True)
            c.connect(self._host, self._port, keepalive=30)
            self._clients[m.device.id] = c
            self._publish(m.device.id, "status", {"online": True}, retain=True)

    def _publish(
        self, device_id: str, kind: str, body: dict[str, Any], retain: bool = False
    ) -> None:
        info = self._clients[device_id].publish(
            self._topic(device_id, kind), orjson.dumps(body), qos=1, retain=retain
        )
        if info.rc == paho.MQTT_ERR_SUCCESS:
            self.published += 1

    def start(self) -> None:
        self._connect_all()
        self._thread = threading.Thread(target=self._run, name="simulated-home", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for device_id, c in self._clients.items():
            self._publish(device_id, "status", {"online": False}, retain=True)
            c.loop_write()
            c.disconnect()

    def _run(self) -> None:
        t0 = time.monotonic()
        steps = list(self._steps)
        clients = list(self._clients.values())
        while not self._stop.is_set():
            elapsed = (time.monotonic() - t0) * self._speed
            now_ms = self._clock.now_ms()
            for m in self._models:
                if m.next_at <= elapsed:
                    m.next_at = elapsed + m.every_s * m.rng.uniform(0.9, 1.1)
                    self._publish(m.device.id, "telemetry", m.telemetry(now_ms))
            while steps and steps[0].at_s <= elapsed:
                step = steps.pop(0)
                body = dict(step.payload)
                body.setdefault("ts", now_ms)
                if step.kind == "event":
                    body.setdefault("id", f"sim-{uuid.uuid4().hex[:12]}")
                self._publish(step.device, step.kind, body)
                self.done_steps.append(step)
                log.info("scenario step", extra={"step": step.label, "device": step.device})
            self._pump(clients, 0.05)

    def _pump(self, clients: list[paho.Client], timeout: float) -> None:
        socks: dict[Any, paho.Client] = {}
        for c in clients:
            sock = c.socket()
            if sock is not None:
                socks[sock] = c
        wants = [s for s, c in socks.items() if c.want_write()]
        readable, writable, _ = select.select(list(socks), wants, [], timeout)
        for s in readable:
            socks[s].loop_read()
        for s in writable:
            socks[s].loop_write()
        for c in clients:
            if c.loop_misc() == paho.MQTT_ERR_NO_CONN:
                with contextlib.suppress(OSError):
                    c.reconnect()
