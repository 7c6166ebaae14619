"""The read-ahead socket under paho: paho's small reads served from 64 KiB chunks."""

from __future__ import annotations

import itertools
import socket
import struct
import threading

import paho.mqtt.client as paho
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt._packet import decode_publish
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.fastpaho import BufferedClient, BufferedSocket, parse_publish_v5
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
    assert callable(paho.Client._handle_publish) and "_in_packet" in vars(
        paho.Client(CallbackAPIVersion.VERSION2)
    )


def test_every_private_name_of_paho_we_use_is_there_and_listed():
    """paho's internals are no contract: each one the code touches is listed in
    ingest/fastpaho.py and checked here against the installed paho, so an upgrade that
    moves one fails this test, not the watch."""
    import ast
    import inspect
    from pathlib import Path

    from ingest import fastpaho

    client = paho.Client(CallbackAPIVersion.VERSION2)
    for name in fastpaho.PAHO_PRIVATE_METHODS:
        assert callable(getattr(paho.Client, name, None)), f"paho.Client.{name} is gone"
    for name in fastpaho.PAHO_PRIVATE_ATTRIBUTES:
        assert name in vars(client) or hasattr(paho.Client, name), f"paho: no {name}"
    for name in fastpaho.PAHO_PRIVATE_MODULE_NAMES:
        assert hasattr(paho, name), f"paho.mqtt.client.{name} is gone"
    # the other way round: every private attribute the code reads on a paho client (self in
    # BufferedClient, `_client` in MqttSource) is in the lists
    listed = set(fastpaho.PAHO_PRIVATE_METHODS) | set(fastpaho.PAHO_PRIVATE_ATTRIBUTES)
    own = {n for n, _ in inspect.getmembers(fastpaho.BufferedClient) if n not in vars(paho.Client)}
    used: set[str] = set()
    tree = ast.parse(Path(fastpaho.__file__).read_text())
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if cls.name != "BufferedClient":
            continue
        for node in ast.walk(cls):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name | ast.Call)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                used.add(node.attr)
    mqtt_src = Path(fastpaho.__file__).with_name("mqtt.py").read_text()
    used |= {n for n in fastpaho.PAHO_PRIVATE_ATTRIBUTES if f'"{n}"' in mqtt_src}
    assert used - own - listed == set(), "a paho internal the code uses is not listed"


@pytest.mark.parametrize("lean", [False, True], ids=["paho-path", "lean-path"])
def test_a_burst_through_mosquitto_arrives_complete_in_order_and_is_acked(broker, publisher, lean):
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
    if lean:

        def on_publish(topic: bytes, payload: bytes, mid: int, qos: int, dup: bool) -> None:
            assert topic == b"burst/a" and qos == 1 and not dup
            got.append(payload)
            client.ack(mid, qos)

        client.on_publish_fast = on_publish
    client.on_connect = lambda c, *_: c.subscribe("burst/#", qos=1)
    client.on_subscribe = lambda *_: done.set()  # subscribed before anything is published
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


def _utf8(n: int) -> st.SearchStrategy[str]:
    """Property text both readers accept: UTF-8 without NUL ([MQTT-1.5.4-2]) and without
    U+FEFF, which paho's decoder refuses although [MQTT-1.5.4-3] makes it a legal character
    (see test_a_byte_order_mark_in_a_property_keeps_the_message)."""
    return st.text(
        st.characters(blacklist_characters="\x00\ufeff", blacklist_categories=["Cs"]),
        max_size=n,
    )


@settings(max_examples=300, deadline=None)
@given(
    topic=st.binary(min_size=1, max_size=300),
    payload=st.binary(max_size=3000),
    qos=st.sampled_from([0, 1]),
    mid=st.integers(1, 65535),
    user=st.lists(st.tuples(_utf8(20), _utf8(200)), max_size=30),
    expiry=st.none() | st.integers(0, 2**32 - 1),
)
def test_the_lean_publish_parser_reads_what_paho_reads(topic, payload, qos, mid, user, expiry):
    props = Properties(PacketTypes.PUBLISH)
    if user:
        props.UserProperty = user
    if expiry is not None:
        props.MessageExpiryInterval = expiry
    head = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    packet = head + props.pack() + payload
    ours = parse_publish_v5(packet, qos)
    theirs = decode_publish(0x30 | qos << 1, packet, MQTTProtocolVersion.MQTTv5)
    assert ours == (theirs.topic, theirs.payload, theirs.mid)


def test_a_byte_order_mark_in_a_property_keeps_the_message():
    """A broker forwards U+FEFF in a user property ([MQTT-1.5.4-3]: it must not be stripped);
    paho's decoder calls that packet malformed, the lean reader skips properties and keeps
    the reading. A device's message is not dropped for its metadata."""
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("src", "\ufeffgateway")]
    packet = struct.pack("!H", 5) + b"a/b/c" + struct.pack("!H", 7) + props.pack() + b"{}"
    with pytest.raises(MalformedPacket):
        decode_publish(0x32, packet, MQTTProtocolVersion.MQTTv5)
    assert parse_publish_v5(packet, 1) == (b"a/b/c", b"{}", 7)


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x00",
        b"\x00\x05ab",
        b"\x00\x01a\x00",
        b"\x00\x01a\x00\x01\x85",
        b"\x00\x01a\x00\x01\x05",
    ],
)
def test_a_truncated_publish_is_malformed_not_a_crash(packet):
    with pytest.raises(MalformedPacket):
        parse_publish_v5(packet, 1)


def test_a_message_left_unacked_comes_back_flagged_as_a_redelivery(broker, publisher):
    """The lean path reads the DUP flag: a reading the broker held over a reconnect must not
    pass for a new sign of life (the engine keeps the device's deadline)."""
    got: list[tuple[bytes, bool]] = []
    subscribed = threading.Event()

    def client() -> BufferedClient:
        c = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id="fastpaho-dup",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        c.on_publish_fast = lambda _t, payload, _m, _q, dup: got.append((payload, dup))
        c.on_connect = lambda c, *_: c.subscribe("dup/#", qos=1)
        c.on_subscribe = lambda *_: subscribed.set()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 60  # the broker keeps the session and its in-flight
        c.connect("127.0.0.1", broker.port, clean_start=False, properties=props)
        c.loop_start()
        return c

    first = client()
    try:
        assert subscribed.wait(5)
        assert publisher.publish_all([("dup/a", b"reading")], rate=100) == 1
        assert wait_until(lambda: got, 5)
    finally:  # never acked: the broker still owes it
        first.disconnect()
        first.loop_stop()
    assert got == [(b"reading", False)]
    second = client()
    try:
        assert wait_until(lambda: len(got) == 2, 5)
        assert got[1] == (b"reading", True)
    finally:
        second.disconnect()
        second.loop_stop()


def _publish_packet(topic: bytes, payload: bytes, qos: int, mid: int, props: bytes) -> bytes:
    body = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", mid) if qos else b"")
    body += props + payload
    n, length = len(body), b""
    while True:  # the remaining length, a variable byte integer
        byte, n = n % 128, n // 128
        length += bytes([byte | (0x80 if n else 0)])
        if not n:
            break
    return bytes([0x30 | qos << 1]) + length + body


def _reader(got: list[tuple[bytes, bytes, int, int]]) -> tuple[BufferedClient, socket.socket]:
    """A client whose socket is one end of a socketpair (no broker: the test writes the
    broker's bytes itself); returns it and the other end."""
    a, b = socket.socketpair()
    a.setblocking(False)
    client = BufferedClient(
        CallbackAPIVersion.VERSION2,
        client_id="fastpaho-stream",
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=True,
    )
    client.on_publish_fast = lambda t, p, m, q, _d: got.append((t, p, m, q))
    client._sock = BufferedSocket(a)
    return client, b


@settings(max_examples=150, deadline=None)
@given(
    msgs=st.lists(
        st.tuples(
            st.binary(min_size=1, max_size=40),
            st.binary(max_size=300),
            st.sampled_from([0, 1]),
            st.integers(1, 65535),
            st.sampled_from([b"\x00", b"\x05\x02\x00\x00\x00\x3c"]),  # none, an expiry
        ),
        min_size=1,
        max_size=60,
    ),
    cuts=st.lists(st.integers(0, 20_000), max_size=8),
    ping_at=st.integers(0, 60),
)
def test_publishes_read_from_the_buffer_arrive_whole_and_in_order_however_the_bytes_come(
    msgs, cuts, ping_at
):
    """A stream of PUBLISH packets (and a PINGRESP, which paho's own path reads), written in
    arbitrary pieces: whole packets in the buffer are taken straight from it, a packet cut
    across pieces is finished by paho's reads; every message arrives once, in order."""
    got: list[tuple[bytes, bytes, int, int]] = []
    client, peer = _reader(got)
    try:
        packets = [_publish_packet(t, p, q, m, pr) for t, p, q, m, pr in msgs]
        packets.insert(min(ping_at, len(packets)), bytes([0xD0, 0x00]))
        stream = b"".join(packets)
        bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
        for lo, hi in itertools.pairwise(bounds):
            peer.sendall(stream[lo:hi])
            assert client.loop_read() == 0
        want = [(t, p, m if q else 0, q) for t, p, q, m, _pr in msgs]
        assert got == want
        assert client._in_packet["command"] == 0  # nothing half-read is left
    finally:
        peer.close()
        client._sock.close()


def test_a_malformed_publish_after_good_ones_is_paho_s_protocol_error_and_the_good_ones_arrive():
    got: list[tuple[bytes, bytes, int, int]] = []
    client, peer = _reader(got)
    try:
        good = _publish_packet(b"a/b", b"1", 1, 7, b"\x00")
        bad = bytes([0x32, 0x05]) + b"\x00\x09abc"  # topic longer than the packet
        peer.sendall(good + good + bad)
        assert client.loop_read() == paho.MQTT_ERR_PROTOCOL
        assert got == [(b"a/b", b"1", 7, 1)] * 2
        assert client._sock is None  # paho dropped the connection, as it does
    finally:
        peer.close()


def test_whole_publishes_in_the_buffer_skip_paho_s_packet_reader():
    got: list[tuple[bytes, bytes, int, int]] = []
    client, peer = _reader(got)
    reads = 0
    paho_read = client._packet_read

    def counted() -> paho.MQTTErrorCode:
        nonlocal reads
        reads += 1
        return paho_read()

    client._packet_read = counted  # type: ignore[method-assign]
    try:
        peer.sendall(
            b"".join(_publish_packet(b"t", b"%d" % k, 1, k + 1, b"\x00") for k in range(100))
        )
        assert client.loop_read() == 0
        assert len(got) == 100
        assert reads == 1  # the first packet: the one that filled the buffer
    finally:
        peer.close()
        client._sock.close()
