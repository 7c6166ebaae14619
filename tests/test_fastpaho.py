"""The read-ahead socket under paho: paho's small reads served from 64 KiB chunks."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from ingest.fastpaho import BufferedClient, BufferedSocket
from tests.conftest import wait_until


def test_small_reads_are_served_from_one_chunk_in_order():
    a, b = socket.socketpair()
    try:
        b.sendall(bytes(range(200)) * 10)
        s = BufferedSocket(a)
        got = s.recv(1) + s.recv(1) + s.recv(300)
        assert s.buffered() == 2000 - 302 and s.pending() == 2000 - 302
        got += s.recv(5000)  # what is buffered, never more
        assert got == bytes(range(200)) * 10 and s.buffered() == 0
        a.setblocking(False)
        try:
            s.recv(1)
            raise AssertionError("nothing is buffered and nothing arrived")
        except BlockingIOError:
            pass
        b.close()
        a.setblocking(True)
        assert s.recv(10) == b""  # the peer closed: paho sees a lost connection
    finally:
        a.close()


def test_the_installed_paho_still_has_the_hooks_the_buffer_uses():
    assert callable(paho.Client._create_socket) and callable(paho.Client.loop_read)


def test_a_burst_through_mosquitto_arrives_complete_in_order_and_is_acked(broker, publisher):
    got: list[bytes] = []
    done = threading.Event()
    client = BufferedClient(
        CallbackAPIVersion.VERSION2,
        client_id="fastpaho-test",
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )

    def on_message(c, _u, msg):
        got.append(msg.payload)
        c.ack(msg.mid, 1)

    client.on_message = on_message
    client.on_connect = lambda c, *_: (c.subscribe("burst/#", qos=1), done.set())
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert done.wait(5)
        sent = [b"%d:" % i + b"x" * (i % 700) for i in range(5000)]  # packets across chunks
        assert publisher.publish_all([("burst/a", p) for p in sent], rate=1e6) == len(sent)
        assert wait_until(lambda: len(got) >= len(sent), 20)
        assert got == sent
        assert isinstance(client.socket(), BufferedSocket)
    finally:
        client.disconnect()
        client.loop_stop()
