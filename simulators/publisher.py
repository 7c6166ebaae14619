"""A paced QoS 1 publisher with a bounded window of un-acked messages (load and tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion


class Publisher:
    """Publishes (topic, payload) pairs at `rate` per second, waiting for PUBACKs."""

    def __init__(
        self, host: str, port: int, client_id: str = "cw-publisher", window: int = 1000
    ) -> None:
        self._window = threading.Semaphore(window)
        self._acked = 0
        self._lock = threading.Lock()
        c = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv311
        )
        c.max_inflight_messages_set(0)
        c.max_queued_messages_set(0)
        c.on_publish = self._on_publish
        c.connect(host, port, keepalive=30)
        c.loop_start()
        self._client = c

    def _on_publish(self, *_args: object) -> None:
        with self._lock:
            self._acked += 1
        self._window.release()

    @property
    def acked(self) -> int:
        return self._acked

    def publish_all(self, messages: Iterable[tuple[str, bytes]], rate: float) -> int:
        """Returns how many were handed to the broker; raises if paho refuses one."""
        start = time.monotonic()
        n = 0
        for topic, payload in messages:
            target = start + n / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._window.acquire()
            info = self._client.publish(topic, payload, qos=1)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish refused: rc={info.rc}")
            n += 1
        return n

    def wait_acked(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._acked >= n:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
