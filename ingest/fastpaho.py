"""paho-mqtt's client, reading its socket in 64 KiB chunks.

paho reads each incoming packet with three or four `recv()` calls (the type byte, the
remaining length one byte at a time, then the rest) and one `select()` per packet. In a
process whose other threads (the engine, the spool drainer) want the interpreter too, each
of those calls gives the GIL away and waits to get it back: measured, paho's network
thread then cost about twice the CPU per message that the same client costs alone
(docs/performance.md). Here the socket is read in chunks and paho's small reads are served
from memory, and a read goes on while whole packets are buffered.

Only paho's socket-like protocol (recv, send, close, fileno, setblocking, pending: what
its own websocket wrapper provides) and its `_create_socket` / `loop_read` hooks are
used; tests/test_fastpaho.py checks them against the installed paho.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode

CHUNK = 65536


class BufferedSocket:
    """A connected (TLS or plain) socket whose `recv` is served from a read-ahead buffer."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0

    def recv(self, n: int) -> bytes:
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
        return len(self._buf) - self._pos

    def pending(self) -> int:
        """What can be read without waiting (paho skips `select` while this is > 0)."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return self.buffered() + inner

    def send(self, data: bytes | bytearray) -> int:
        return int(self._sock.send(data))

    def close(self) -> None:
        self._sock.close()

    def fileno(self) -> int:
        return int(self._sock.fileno())

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BufferedClient(paho.Client):
    """paho.Client with a read-ahead socket (TCP transport only)."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if self._transport != "tcp":
            return sock
        return BufferedSocket(sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        # the packets already in memory, without a select() for each
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and isinstance(sock, BufferedSocket):
            if sock.buffered() == 0 or self._sock is not sock:
                break
            rc = super().loop_read(1)
        return rc
