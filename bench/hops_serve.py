"""`python -m bench.hops_serve serve --config FILE`: `carewatch serve` with a stopwatch on
each hop of an alarm, for bench/hops.py. Benchmark code only: it wraps methods of the
service's classes from outside, so production code carries no tracing.

Every stamp is `time.monotonic()` (CLOCK_MONOTONIC, one clock for every process of the
machine), so the publisher's send and the receiver's arrival, taken in other processes,
line up with these. The stamps go to $BENCH_HOPS_OUT as JSON when the service exits.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

Stamps = dict[str, dict[str, float]]  # device id -> hop -> monotonic s


def install(out: str) -> Stamps:
    """Wrap the hops; returns the stamps, written to `out` at exit."""
    from alerting.engine import Engine
    from alerting.items import Incoming
    from alerting.notify.webhook import WebhookPoster, WebhookSender
    from alerting.notify.worker import DeliveryWorker
    from alerting.outbox import OutboxRow
    from alerting.runner import EngineRunner
    from devices.model import Decoded, DeviceEvent
    from ingest.mqtt import MqttSource

    stamps: Stamps = {}
    local = threading.local()
    wakes: list[float] = []

    def mark(device: str, hop: str, t: float | None = None) -> None:
        stamps.setdefault(device, {}).setdefault(hop, time.monotonic() if t is None else t)

    on_publish = MqttSource._on_publish

    def traced_on_publish(self: MqttSource, *a: Any, **kw: Any) -> Any:
        local.t0 = time.monotonic()  # paho's thread has the PUBLISH parsed
        return on_publish(self, *a, **kw)

    deliver = EngineRunner.deliver

    def traced_deliver(self: EngineRunner, decoded: Decoded, ack: Any) -> None:
        if isinstance(decoded, DeviceEvent):
            mark(decoded.device_id, "paho_thread", getattr(local, "t0", None))
            mark(decoded.device_id, "decoded")
        deliver(self, decoded, ack)

    process = Engine.process

    def traced_process(self: Engine, batch: Sequence[Any]) -> Any:
        t0 = time.monotonic()
        result = process(self, batch)
        t1 = time.monotonic()
        local.batch_devices = [
            i.decoded.device_id
            for i in batch
            if isinstance(i, Incoming) and isinstance(i.decoded, DeviceEvent)
        ]
        for device in local.batch_devices:
            mark(device, "engine_took", t0)
            mark(device, "committed", t1)
        return result

    run_batch = EngineRunner._run_batch

    def traced_run_batch(self: EngineRunner, raw: list[object]) -> None:
        local.batch_devices = []
        run_batch(self, raw)
        for d in local.batch_devices:
            mark(d, "listeners_acked")

    wake = DeliveryWorker.wake

    def traced_wake(self: DeliveryWorker) -> None:
        wakes.append(time.monotonic())
        wake(self)

    deliver_once = DeliveryWorker.deliver_once

    def traced_deliver_once(self: DeliveryWorker, conn: Any) -> int | None:
        local.turn = time.monotonic()
        return deliver_once(self, conn)

    send = WebhookSender.send

    def traced_send(self: WebhookSender, row: OutboxRow) -> int:
        device = str(row.alert.get("device_id"))
        mark(device, "worker_turn", getattr(local, "turn", None))
        mark(device, "send")
        local.device = device
        return send(self, row)

    post = WebhookPoster.post

    def traced_post(self: WebhookPoster, body: bytes, content_type: str, key: str) -> int:
        device = getattr(local, "device", None)
        if device is not None:
            mark(device, "http_start")
        status = post(self, body, content_type, key)
        if device is not None:
            mark(device, "http_answered")
        return status

    patches: list[tuple[type, str, Callable[..., Any]]] = [
        (MqttSource, "_on_publish", traced_on_publish),
        (EngineRunner, "deliver", traced_deliver),
        (Engine, "process", traced_process),
        (EngineRunner, "_run_batch", traced_run_batch),
        (DeliveryWorker, "wake", traced_wake),
        (DeliveryWorker, "deliver_once", traced_deliver_once),
        (WebhookSender, "send", traced_send),
        (WebhookPoster, "post", traced_post),
    ]
    for cls, name, fn in patches:
        setattr(cls, name, fn)

    def dump() -> None:
        with open(out, "wb") as f:
            f.write(orjson.dumps({"stamps": stamps, "wakes": wakes}))

    atexit.register(dump)
    return stamps


def main() -> int:
    out = os.environ.get("BENCH_HOPS_OUT")
    if not out:
        raise SystemExit("set BENCH_HOPS_OUT to the JSON file the stamps go to")
    install(out)
    from carewatch.cli import main as carewatch_main

    return carewatch_main()


if __name__ == "__main__":
    sys.exit(main())
