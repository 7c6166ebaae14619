"""The ceiling: a bare paho subscriber that only counts and acks, subscribed like the service
(MQTT 5, persistent session, QoS 1, manual ack after "handling" = counting).

    python -m bench.sink --port P [--id bench-sink]

Prints a JSON line every 0.25 s (`{"t": wall, "count": n, "cpu_s": s}`) until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
from types import FrameType

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TOPICS = ["carewatch/v1/+/+/telemetry", "carewatch/v1/+/+/event", "carewatch/v1/+/+/status"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--id", default="bench-sink")
    args = ap.parse_args()
    count = 0
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=args.id,
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )

    def on_connect(c: paho.Client, *_a: object) -> None:
        c.subscribe([(t, 1) for t in TOPICS])

    def on_message(c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        nonlocal count
        count += 1
        c.ack(msg.mid, 1)

    client.on_connect = on_connect
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 65535
    client.connect("127.0.0.1", args.port, keepalive=30, clean_start=False, properties=props)
    client.loop_start()
    stop = threading.Event()

    def on_term(_s: int, _f: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    while not stop.wait(0.25):
        t = os.times()
        doc = {"t": time.time(), "count": count, "cpu_s": t.user + t.system}
        print(json.dumps(doc), flush=True)
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
