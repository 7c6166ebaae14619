"""One load-generator process: wearables' telemetry at a paced rate, MQTT QoS 1 with a
bounded window of un-acked messages.

    python -m bench.loadgen --port P --rate 2000 --duration 60 --devices 0:5000 --id lg0

Devices `w-<start>` .. `w-<end - 1>` of site `bench` take turns, each message a JSON
reading with the device's own `ts` (epoch ms, strictly increasing per device, so every
message is its own InfluxDB point). With `--sites PATH` (a site file or a folder of them,
e.g. the district of bench/district.py) the devices are those of the sites instead, in a
shuffled order that is the same in every process (`--devices` takes a stretch of it), each
publishing what its type sends (bench/district.py; Zigbee2MQTT devices their state on
their gateway's topic). `--count N` publishes exactly N messages instead of
running for a duration. Prints a JSON line every 0.25 s (`{"t": wall, "acked": n}`) and a
last line with `"done": true`, the totals and the CPU seconds this process used, so the
harness can check that the publisher side kept the offered rate.

Two clients (`--client`):
- `raw` (default): MQTT 3.1.1 written on a plain socket: CONNECT, QoS 1 PUBLISH with packet
  ids, PUBACKs counted against the window. The broker sees what a device's client sends,
  at ~10-25 µs of CPU a message instead of paho's ~130-150 µs (measured here); that matters
  when the publishers, the broker and the service share two cores.
- `paho`: the simulators' publisher (simulators/publisher.py), for comparison.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.district import Payload, publishing, wearable
from simulators.publisher import Publisher

SITE = "bench"


def devices(start: int, end: int, sites: Path | None) -> list[tuple[str, Payload]]:
    """The topics and readings of devices `start`..`end - 1`: the bench site's wearables
    `w-<i>`, or the stretch of the sites' shuffled devices."""
    if sites is None:
        return [(f"carewatch/v1/{SITE}/w-{i}/telemetry", wearable) for i in range(start, end)]
    return [(p.topic, p.payload) for p in publishing(sites)[start:end]]


def readings(
    devs: list[tuple[str, Payload]], stop_at: float, count: int | None
) -> Iterator[tuple[str, bytes]]:
    """Telemetry round robin over the devices, until `stop_at` (monotonic) or `count`
    messages."""
    n_dev = len(devs)
    last_ts = [0] * n_dev
    n = 0
    while (count is None or n < count) and (count is not None or time.monotonic() < stop_at):
        k = n % n_dev
        ts = max(int(time.time() * 1000), last_ts[k] + 1)
        last_ts[k] = ts
        topic, payload = devs[k]
        yield topic, payload(ts, n, n // n_dev)
        n += 1


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _str(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


class RawPublisher:
    """MQTT 3.1.1 QoS 1 on a socket, single-threaded: paced sends, PUBACKs counted."""

    def __init__(self, host: str, port: int, client_id: str, window: int = 1000) -> None:
        self.window = min(window, 60_000)
        self.acked = 0
        self._sock = socket.create_connection((host, port), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        var = _str(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0)  # clean, no keepalive
        body = var + _str(client_id.encode())
        self._sock.sendall(b"\x10" + _varint(len(body)) + body)
        connack = self._recv_exact(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"CONNACK refused: {connack!r}")
        self._sock.setblocking(False)
        self._buf = b""
        self._pid = 0
        self._outstanding: set[int] = set()

    def _recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def _packet(self, topic: str, payload: bytes) -> bytes:
        pid = self._pid
        while True:
            pid = pid % 65535 + 1
            if pid not in self._outstanding:
                break
        self._pid = pid
        self._outstanding.add(pid)
        t = topic.encode()
        body = struct.pack("!H", len(t)) + t + struct.pack("!H", pid) + payload
        return b"\x32" + _varint(len(body)) + body

    def _read_acks(self, timeout: float) -> None:
        r, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        if not r:
            return
        try:
            data = self._sock.recv(1 << 16)
        except BlockingIOError:
            return
        if not data:
            raise ConnectionError("broker closed the connection")
        buf = self._buf + data
        i = 0
        while len(buf) - i >= 2:
            # PUBACK is 4 bytes; anything else the broker sends here is also short
            length, shift, j = 0, 0, i + 1
            while j < len(buf):
                b = buf[j]
                length |= (b & 0x7F) << shift
                j += 1
                if not b & 0x80:
                    break
                shift += 7
            else:
                break
            if len(buf) < j + length:
                break
            if buf[i] & 0xF0 == 0x40:  # PUBACK
                (pid,) = struct.unpack_from("!H", buf, j)
                if pid in self._outstanding:
                    self._outstanding.discard(pid)
                    self.acked += 1
            i = j + length
        self._buf = buf[i:]

    def publish_all(self, messages: Iterator[tuple[str, bytes]], rate: float) -> int:
        """Sends what is due every ~2 ms (one write), reading PUBACKs in between."""
        tick = max(1, int(rate * 0.002))
        start = time.monotonic()
        sent = 0
        while True:
            due = int((time.monotonic() - start) * rate) + 1 - sent
            k = min(due, self.window - len(self._outstanding), 2000)
            chunk = []
            for m in itertools.islice(messages, max(0, k)):
                chunk.append(self._packet(*m))
            if k > 0 and not chunk:
                return sent  # the messages ran out
            if chunk:
                self._send(b"".join(chunk))
                sent += len(chunk)
            if len(self._outstanding) >= self.window:
                self._pump(time.monotonic() + 0.05, until_room=True)
            else:
                self._pump(start + (sent + tick) / rate)

    def _pump(self, until: float, until_room: bool = False) -> None:
        """Read PUBACKs until `until` (monotonic), or until the window has room."""
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return
            self._read_acks(left)
            if until_room and len(self._outstanding) < self.window:
                return

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = self._sock.send(view)
            except BlockingIOError:
                select.select([], [self._sock], [], 0.05)
                self._read_acks(0)
                continue
            view = view[n:]

    def wait_acked(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.acked < n and time.monotonic() < deadline:
            self._read_acks(deadline - time.monotonic())
        return self.acked >= n

    def close(self) -> None:
        try:
            self._sock.setblocking(True)
            self._sock.sendall(b"\xe0\x00")
        finally:
            self._sock.close()


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True, help="messages per second")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--count", type=int, default=None, help="exactly this many, then stop")
    ap.add_argument("--devices", default="0:1000", help="START:END device numbers")
    ap.add_argument("--sites", type=Path, default=None, help="the devices of these sites")
    ap.add_argument("--id", default="lg0", help="MQTT client id")
    ap.add_argument("--window", type=int, default=1000, help="un-acked messages at most")
    ap.add_argument("--client", choices=["raw", "paho"], default="raw")
    args = ap.parse_args()
    start, end = (int(x) for x in args.devices.split(":"))
    devs = devices(start, end, args.sites)
    pub: RawPublisher | Publisher
    if args.client == "raw":
        pub = RawPublisher("127.0.0.1", args.port, args.id, window=args.window)
    else:
        pub = Publisher("127.0.0.1", args.port, args.id, window=args.window)
    stop = threading.Event()

    def progress() -> None:
        while not stop.wait(0.25):
            print(json.dumps({"t": time.time(), "acked": pub.acked}), flush=True)

    threading.Thread(target=progress, daemon=True).start()
    t0_wall, t0 = time.time(), time.monotonic()
    sent = pub.publish_all(readings(devs, t0 + args.duration, args.count), args.rate)
    elapsed = time.monotonic() - t0
    complete = pub.wait_acked(sent, 60)
    stop.set()
    print(
        json.dumps(
            {
                "done": True,
                "t": time.time(),
                "t0": t0_wall,
                "published": sent,
                "acked": pub.acked,
                "all_acked": complete,
                "elapsed_s": elapsed,
                "offered_rate": args.rate,
                "achieved_rate": sent / elapsed if elapsed > 0 else 0.0,
                "cpu_s": cpu_seconds(),
            }
        ),
        flush=True,
    )
    pub.close()
    sys.exit(0 if complete else 1)


if __name__ == "__main__":
    main()
