"""paho-mqtt's client, reading its socket in 64 KiB chunks.

paho reads each incoming packet with three or four `recv()` calls (the type byte, the
remaining length one byte at a time, then the rest) and one `select()` per packet. In a
process whose other threads (the engine, the spool drainer) want the interpreter too, each
of those calls gives the GIL away and waits to get it back: measured, paho's network
thread then cost about twice the CPU per message that the same client costs alone
(docs/performance.md). Here the socket is read in chunks and paho's small reads are served
from memory, and a read goes on while whole packets are buffered.

And for MQTT 5 PUBLISH packets of QoS 0 and 1, `on_publish_fast` (when set) gets the
topic, payload, packet id and DUP flag straight from the packet: paho's own path builds, for every
message, a `Properties` object (properties CareWatch does not read), an `MQTTMessage` with
an `MQTTMessageInfo` and a `threading.Condition`, and matches the topic against per-topic
callbacks: about a third of the network thread's time (docs/performance.md).

Used of paho: its socket-like protocol (recv, send, close, fileno, setblocking, pending:
what its own websocket wrapper provides), the `_create_socket`, `loop_read`,
`_handle_publish` hooks with `_in_packet`, and for `ack_many` the out-packet queue and
wake-up socket `ack` uses; tests/test_fastpaho.py checks them against the installed paho
(pinned below 2.3 in pyproject.toml).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.exception import MalformedPacket

CHUNK = 65536

# Every private name of paho-mqtt this module (and ingest/mqtt.py) relies on: methods it
# overrides or calls, and attributes it reads. tests/test_fastpaho.py checks each against the
# installed paho, and that this list names every one the code uses; paho is pinned to the
# minor version these were checked on (pyproject.toml).
PAHO_PRIVATE_METHODS = (
    "_create_socket",
    "_handle_publish",
    "_send_puback",
    "_call_socket_register_write",
)
PAHO_PRIVATE_ATTRIBUTES = (
    "_in_packet",
    "_out_packet",
    "_sockpairW",
    "_protocol",
    "_manual_ack",
    "_transport",
    "_sock",
    "_thread",  # ingest/mqtt.py MqttSource.alive: paho's network thread
    "_msgtime_mutex",
    "_last_bytes_received",  # when bytes last came in: paho's keepalive
)
# paho.mqtt.client's wake-up byte, and its clock for `_last_bytes_received`
PAHO_PRIVATE_MODULE_NAMES = ("sockpair_data", "time_func")

# (topic as bytes, payload, packet id, QoS, DUP flag)
PublishHandler = Callable[[bytes, bytes, int, int, bool], None]


def parse_publish_v5(packet: bytes | bytearray, qos: int) -> tuple[bytes, bytes, int]:
    """An MQTT 5 PUBLISH's variable header and payload -> (topic, payload, packet id);
    the properties are skipped. Raises MalformedPacket as paho's decoder does."""
    return parse_publish_v5_at(packet, 0, len(packet), qos)


def varint(buf: bytes | bytearray, at: int, stop: int) -> tuple[int, int] | None:
    """The MQTT variable byte integer at buf[at:stop] and the index after it; None when it
    runs past `stop` or past its 4 bytes (the caller decides: wait for more, or malformed)."""
    value, shift = 0, 0
    while at < stop and shift <= 21:
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
    return None


def parse_publish_v5_at(
    buf: bytes | bytearray, start: int, stop: int, qos: int
) -> tuple[bytes, bytes, int]:
    """`parse_publish_v5` of the packet body at buf[start:stop], without copying it out."""
    try:
        end = start + 2 + ((buf[start] << 8) | buf[start + 1])
        if end > stop:
            raise MalformedPacket("topic longer than the packet")
        topic = bytes(buf[start + 2 : end])
        mid = 0
        if qos:
            if end + 2 > stop:
                raise MalformedPacket("PUBLISH packet too short")
            mid = (buf[end] << 8) | buf[end + 1]
            end += 2
        props = varint(buf, end, stop)  # the properties' length
        if props is None:
            raise MalformedPacket("properties length cut short or longer than 4 bytes")
        length, end = props
        end += length
        if end > stop:
            raise MalformedPacket("properties longer than the packet")
        return topic, bytes(buf[end:stop]), mid
    except IndexError as exc:
        raise MalformedPacket("PUBLISH packet too short") from exc


class BufferedSocket:
    """A connected (TLS or plain) socket whose `recv` is served from a read-ahead buffer."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
        """At most `n` bytes: from the buffer, else one read of at least 64 KiB whose rest is
        buffered. BlockingIOError when nothing has arrived."""
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            data: bytes = self._sock.recv(max(n, CHUNK))  # BlockingIOError: nothing yet
            if len(data) <= n:
                return data
            self._buf, pos = data, 0
            buf = data
        out = buf[pos : pos + n]
        self._pos = pos + len(out)
        return out

    def buffered(self) -> int:
        """Bytes read ahead and not yet handed to paho."""
        return len(self._buf) - self._pos

    def peek(self) -> tuple[bytes, int]:
        """The read-ahead buffer and where its unread part begins (`consume` moves that)."""
        return self._buf, self._pos

    def consume(self, pos: int) -> None:
        """Mark the buffer read up to `pos` (taken from it without `recv`)."""
        self._pos = pos

    def pending(self) -> int:
        """What can be read without waiting (paho skips `select` while this is > 0)."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return self.buffered() + inner

    def send(self, data: bytes | bytearray) -> int:
        """Send on the socket itself; writes are not buffered."""
        return int(self._sock.send(data))

    def close(self) -> None:
        """Close the socket; what is buffered is dropped with it."""
        self._sock.close()

    def fileno(self) -> int:
        """The socket's descriptor, for paho's select()."""
        return int(self._sock.fileno())

    def setblocking(self, flag: bool) -> None:
        """Set the socket's blocking mode; the buffer is not affected."""
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(paho.Client):
    """paho.Client with a read-ahead socket (TCP transport only) and, when
    `on_publish_fast` is set, a lean path for MQTT 5 PUBLISH packets of QoS 0 and 1."""

    on_publish_fast: PublishHandler | None = None

    def ack_many(self, mids: Sequence[int]) -> None:
        """PUBACKs (QoS 1, manual ack) for `mids`, queued together with one wake-up of the
        network thread: paho's `ack` writes to its wake-up socket once per message, a
        system call (and a GIL hand-off) per message in the engine's thread."""
        if not mids:
            return
        out = self._out_packet
        for mid in mids:
            out.append(
                {
                    "command": paho.PUBACK,
                    "mid": mid,
                    "qos": 1,
                    "pos": 0,
                    "to_process": 4,
                    "packet": struct.pack("!BBH", paho.PUBACK, 2, mid),
                    "info": None,
                }
            )
        wake = self._sockpairW
        if wake is not None:
            with contextlib.suppress(BlockingIOError):  # a wake-up is pending already
                wake.send(paho.sockpair_data)
        self._call_socket_register_write()

    def _handle_publish(self) -> MQTTErrorCode:
        handler = self.on_publish_fast
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        packet = self._in_packet["packet"]
        if (
            handler is None
            or self._protocol != MQTTProtocolVersion.MQTTv5
            or qos > 1
            or len(packet) < 2
            or (packet[0] == 0 and packet[1] == 0)  # a topic alias: paho's path
        ):
            return super()._handle_publish()
        topic, payload, mid = parse_publish_v5(packet, qos)
        handler(topic, payload, mid, qos, bool(header & 0x08))
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if self._transport != "tcp":
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """paho's read, then the packets already buffered, without a select() for each;
        whole PUBLISH packets in the buffer go straight to `on_publish_fast`."""
        rc = super().loop_read(max_packets)
        sock = self._sock
        if not isinstance(sock, BufferedSocket):
            return rc
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            if sock.buffered() == 0 or not self._reading(sock):
                break
            if self._in_packet["command"] == 0 and self._fast_publishes(sock):
                continue
            rc = super().loop_read(1)
        return rc

    def _reading(self, sock: BufferedSocket) -> bool:
        """`sock` is still the client's socket (a handler may have disconnected it)."""
        return self._sock is sock

    def _fast_publishes(self, sock: BufferedSocket) -> bool:
        """Hand every whole MQTT 5 PUBLISH (QoS 0/1, no topic alias) at the head of the
        buffer to `on_publish_fast`, as `_handle_publish` would, without paho's per-packet
        reads (a recv per header byte, a dict of state, a bytearray per packet): about a
        quarter of the interpreter's time at 10,000 msg/s (docs/performance.md). Stops at
        anything else, a partial packet or a malformed one, which paho's path then reads.
        True if it took at least one."""
        handler = self.on_publish_fast
        if handler is None or self._protocol != MQTTProtocolVersion.MQTTv5:
            return False
        buf, pos = sock.peek()
        size = len(buf)
        manual = self._manual_ack
        took = 0
        while pos < size and self._reading(sock):
            header = buf[pos]
            qos = (header & 0x06) >> 1
            if header & 0xF0 != paho.PUBLISH or qos > 1:
                break
            remaining = varint(buf, pos + 1, size)
            if remaining is None:
                break  # not all here yet, or longer than 4 bytes: paho's path
            length, i = remaining
            end = i + length
            if end > size or length < 2 or (buf[i] == 0 and buf[i + 1] == 0):
                break  # partial, too short, or a topic alias: paho's path
            try:
                topic, payload, mid = parse_publish_v5_at(buf, i, end, qos)
            except MalformedPacket:
                break  # paho's path reads it and reports the protocol error
            sock.consume(end)
            pos = end
            took += 1
            handler(topic, payload, mid, qos, bool(header & 0x08))
            if qos == 1 and not manual:
                self._send_puback(mid)
        if took:
            with self._msgtime_mutex:  # paho's keepalive reads it
                self._last_bytes_received = paho.time_func()
        return took > 0
