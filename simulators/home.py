"""SimulatedHome: one MQTT connection per device (each with its own last will), one thread.

Zigbee devices speak through one shared connection, as a Zigbee2MQTT bridge does, at
`zigbee2mqtt/<friendly_name>` with retained availability.
"""

from __future__ import annotations

import contextlib
import logging
import random
import select
import threading
import time
import uuid
from collections.abc import Collection
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from devices.ports import Clock
from devices.registry import Registry
from simulators.models import DeviceModel, Out, Step
from simulators.models.patrol import Patrol

log = logging.getLogger("carewatch.simulators")
MIN_REAL_GAP_S = 0.5  # between two periodic messages of one device, in real seconds


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
        start_hour: float | None = None,
        loss: float = 0.0,
        devices: Collection[str] | None = None,
        zigbee_prefix: str = "zigbee2mqtt",
        patrol_tz: tzinfo | None = None,
    ) -> None:
        """`start_hour`: the simulated clock at the start (None: follow the wall clock);
        `loss`: share of periodic messages lost; `devices`: simulate only these (and the
        devices the steps name), default all."""
        self._registry = registry
        self._host, self._port = _broker(mqtt_url)
        self._clock = clock
        self._steps = sorted(steps, key=lambda s: s.at_s)
        self._prefix = prefix.rstrip("/")
        self._zprefix = zigbee_prefix.rstrip("/")
        self._speed = speed
        rng = random.Random(seed)
        wanted = None if devices is None else {*devices, *(s.device for s in steps)}
        unknown = {s.device for s in steps} - {d.id for d in registry.devices()}
        if unknown:
            raise ValueError(f"steps name devices not in the site: {sorted(unknown)}")
        self._models = [
            DeviceModel(d, random.Random(rng.random()), start_hour, loss)
            for d in registry.devices()
            if wanted is None or d.id in wanted
        ]
        self._by_id = {m.device.id: m for m in self._models}
        self._walk_rounds(patrol_tz)
        self._clients: dict[str, paho.Client] = {}
        self._bridge: paho.Client | None = None
        self._down: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0
        self.done_steps: list[Step] = []
        self.played_ms: list[int] = []  # wall-clock time each done step was played
        self.errors: list[str] = []

    def _walk_rounds(self, tz: tzinfo | None) -> None:
        """The site's tag reader (the first) walks its rounds on the site's clock (its
        `timezone`, else `tz`, else Asia/Shanghai, the rules' default), only when the
        simulated clock is the wall clock (a fast-forwarded day has no real rounds)."""
        if self._speed != 1:
            return
        for sid, site in self._registry.sites.items():
            reader = next((m for m in self._models if m.device.site == sid
                           and m.device.type.name == "tag_reader"), None)  # fmt: skip
            if site.rounds is None or not site.rounds.routes or reader is None:
                continue
            zone = ZoneInfo(site.timezone) if site.timezone else tz or ZoneInfo("Asia/Shanghai")
            staff = site.staff[0].id if site.staff else None
            reader.patrol = Patrol(site.rounds, zone, staff)

    def _topic(self, device_id: str, kind: str) -> str:
        site = self._registry.by_id(device_id)
        assert site is not None, device_id
        return f"{self._prefix}/{site.site}/{device_id}/{kind}"

    def _zigbee_topic(self, device_id: str, kind: str) -> str:
        dev = self._registry.by_id(device_id)
        assert dev is not None, device_id
        assert dev.friendly_name, device_id
        suffix = "/availability" if kind == "availability" else ""
        return f"{self._zprefix}/{dev.friendly_name}{suffix}"

    def _client(self, client_id: str) -> paho.Client:
        return paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv311
        )

    def _connect_all(self) -> None:
        zigbee = [m for m in self._models if m.zigbee]
        if zigbee:
            self._bridge = self._client(f"sim-zigbee2mqtt-{self._registry.site.id}")
            # as Zigbee2MQTT: its own state retained, offline as its last will
            state = f"{self._zprefix}/bridge/state"
            self._bridge.will_set(state, b'{"state":"offline"}', qos=1, retain=True)
            self._bridge.connect(self._host, self._port, keepalive=30)
            self._bridge.publish(state, b'{"state":"online"}', qos=1, retain=True)
            for m in zigbee:
                self._send(m.device.id, Out("availability", {"state": "online"}, True))
        for m in self._models:
            if m.zigbee:
                continue
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

    def _send(self, device_id: str, out: Out) -> None:
        if out.kind in ("zigbee", "availability"):
            assert self._bridge is not None
            info = self._bridge.publish(
                self._zigbee_topic(device_id, out.kind),
                orjson.dumps(out.payload),
                qos=1,
                retain=out.retain,
            )
            if info.rc == paho.MQTT_ERR_SUCCESS:
                self.published += 1
            return
        self._publish(device_id, out.kind, out.payload, out.retain)

    def all_played(self) -> bool:
        return len(self.done_steps) == len(self._steps)

    @property
    def clients(self) -> list[paho.Client]:
        return [*self._clients.values(), *([self._bridge] if self._bridge else [])]

    def start(self) -> None:
        self._connect_all()
        self._thread = threading.Thread(target=self._run, name="simulated-home", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        for device_id, c in self._clients.items():
            if device_id in self._down:
                continue
            self._publish(device_id, "status", {"online": False}, retain=True)
            c.loop_write()
            c.disconnect()
        if self._bridge is not None:
            for m in self._models:
                if m.zigbee:
                    self._send(m.device.id, Out("availability", {"state": "offline"}, True))
            self._bridge.loop_write()
            self._bridge.disconnect()

    def _run(self) -> None:
        t0 = time.monotonic()
        steps = list(self._steps)
        clients = self.clients
        while not self._stop.is_set():
            elapsed = (time.monotonic() - t0) * self._speed
            now_ms = self._clock.now_ms()
            for m in self._models:
                if m.next_at <= elapsed:
                    # fast-forwarded, a device still speaks at most twice a real second
                    every = max(m.every_s, self._speed * MIN_REAL_GAP_S)
                    m.next_at = elapsed + every * m.rng.uniform(0.9, 1.1)
                    if not m.link_down(elapsed):
                        for out in m.periodic(now_ms, elapsed):
                            self._send(m.device.id, out)
            while steps and steps[0].at_s <= elapsed:
                step = steps.pop(0)
                try:
                    self._play(step, now_ms, elapsed)
                except (ValueError, KeyError, OSError) as exc:  # a bad step must not stop it
                    self.errors.append(f"{step.label or step.device}: {exc}")
                    log.warning(
                        "scenario step failed", extra={"step": step.label, "error": str(exc)}
                    )
                self.done_steps.append(step)
                self.played_ms.append(now_ms)
                log.info("scenario step", extra={"step": step.label, "device": step.device})
            self._pump(clients, 0.05)

    def _play(self, step: Step, now_ms: int, elapsed: float) -> None:
        model = self._by_id[step.device]
        if step.action is None:
            body = dict(step.payload)
            if step.kind in ("telemetry", "event", "status"):
                body.setdefault("ts", now_ms)
            if step.kind == "event":
                body.setdefault("id", f"sim-{uuid.uuid4().hex[:12]}")
            self._send(step.device, Out(step.kind, body, step.kind in ("status", "availability")))
            return
        if step.action == "link_up" and step.device in self._clients:
            self._down.discard(step.device)
            self._clients[step.device].reconnect()
        for out in model.act(step.action, dict(step.payload), now_ms, elapsed):
            if out.kind == "event":
                out.payload.setdefault("id", f"sim-{uuid.uuid4().hex[:12]}")
            self._send(step.device, out)
        if step.action == "link_down" and step.device in self._clients:
            # the broker would publish the last will; the model sent the same words
            c = self._clients[step.device]
            c.loop_write()
            c.disconnect()
            self._down.add(step.device)

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
        down = {id(self._clients[d]) for d in self._down}
        for c in clients:
            if c.loop_misc() == paho.MQTT_ERR_NO_CONN and id(c) not in down:
                with contextlib.suppress(OSError):
                    c.reconnect()
