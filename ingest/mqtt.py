"""The MQTT source: paho-mqtt 2, MQTT 5, persistent session, QoS 1, manual ack.

Each message is decoded on paho's thread and handed on with an `ack` callable; the engine
calls it only after the message's effects are committed, so nothing acked is lost.

A source may also retire a session the service no longer runs (ingest/sessions.py): it
connects it once more, takes what the broker queued for it, unsubscribes it and, once
everything taken is committed and acked, ends it (session expiry 0), so that mosquitto
stops giving it a share of a group.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.decode import Decoder, Lane
from devices.model import Decoded, DeviceEvent, DeviceStatus, Reading, Rejection
from devices.ports import Clock
from ingest.fastpaho import BufferedClient

SESSION_TAKEN_OVER = 0x8E  # MQTT 5 DISCONNECT reason: a client with the same id connected
CONTEST_WINDOW_S = 60.0
FLAPS = 3  # disconnects within CONTEST_WINDOW_S that mean the session is contested

log = logging.getLogger("carewatch.ingest.mqtt")

Ack = Callable[[], None]
Deliver = Callable[[Decoded, Ack | None], None]


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """An MQTT URL taken apart (parse_mqtt_url): host, port (1883, or 8883 for TLS), TLS or not, and
    the account if the URL carries one."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_mqtt_url(url: str) -> BrokerAddress:
    """mqtt://[user:pass@]host[:port] or mqtts://... (TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"MQTT URL must look like mqtt://host:1883, got {url!r}")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=parts.username,
        password=parts.password,
    )


PACKET_BUDGET = 16_384  # bytes of topic filters in one SUBSCRIBE / UNSUBSCRIBE


def packet_chunks(topics: list[str], budget: int = PACKET_BUDGET) -> list[list[str]]:
    """The filters in groups whose SUBSCRIBE packet stays under `budget` bytes (each filter
    costs its UTF-8 length, 2 length bytes and an options byte); never an empty group."""
    chunks: list[list[str]] = []
    size = 0
    for t in topics:
        cost = len(t.encode()) + 3
        if not chunks or size + cost > budget:
            chunks.append([])
            size = 0
        chunks[-1].append(t)
        size += cost
    return chunks


class MqttSource:
    """One MQTT session (persistent, QoS 1, manual ack) that decodes each message on paho's thread
    and delivers it with its ack; PUBACKs go out only via `flush_acks`."""

    def __init__(
        self,
        url: str,
        client_id: str,
        decoder: Decoder,
        deliver: Deliver,
        clock: Clock,
        session_expiry_s: int = 7 * 24 * 3600,
        receive_maximum: int = 65535,
        ca_file: Path | None = None,
        lane: Lane = "all",
        share: str | None = None,
        stale: Sequence[str] = (),
        retire: bool = False,
    ) -> None:
        self._addr = parse_mqtt_url(url)
        self.client_id = client_id
        # a shared-subscription group: `$share/<share>/<topic>` (ingest/workers.py)
        self._share = share
        # filters the session may still hold from an earlier setting (another share group,
        # lane or set of sites): removed when the broker still has the session
        self._stale = list(stale)
        # a session no longer used: take what it holds, unsubscribe `stale`, end it
        self._retire = retire
        self.unsubscribed = threading.Event()  # this connection's stale filters are gone
        self.taken = 0  # messages received
        self._owed = 0  # QoS 1 messages received (an ack is owed), paho's thread
        self._settled = 0  # of those, acked (or of a past connection), the engine's thread
        self._last = time.monotonic()  # last message, connect or UNSUBACK
        self._decoder = decoder
        self._deliver = deliver
        self._clock = clock
        self._lane: Lane = lane
        self._generation = 0
        self._lock = threading.Lock()
        self.connected = False
        self.ever_connected = False  # the broker took this session at least once
        self.taken_over_at: float | None = None  # monotonic: the session last contested
        self._drops: list[float] = []  # monotonic times of the recent disconnects
        # set by the SUBACK of this connection's subscribe: the broker now queues what is
        # published (the demo starts its simulated home only then)
        self.subscribed = threading.Event()
        self._subacks_due = 0  # SUBACKs still to come for the current connection's chunks
        self._unsubacks_due = 0
        self._acks: list[tuple[int, int]] = []  # (packet id, connection) the engine acked
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if self._addr.username:
            client.username_pw_set(self._addr.username, self._addr.password)
        if self._addr.tls:
            client.tls_set(ca_certs=str(ca_file) if ca_file else None)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_publish_fast = self._on_publish
        self._client = client
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = session_expiry_s
        props.ReceiveMaximum = receive_maximum
        self._connect_props = props

    def start(self) -> None:
        """Connect in the background with the session kept (clean_start off), so messages a crashed
        predecessor left un-acked are delivered again."""
        # clean_start=False: the default (clean on first connect) would drop the queued
        # messages a crashed predecessor left un-acked (INFRA-NOTES.md).
        self._client.connect_async(
            self._addr.host,
            self._addr.port,
            keepalive=15,
            clean_start=False,
            properties=self._connect_props,
        )
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop paho's thread; un-acked messages stay queued at the broker for the
        session's next connection."""
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def retiring(self) -> bool:
        """An old session being emptied: it unsubscribes instead of subscribing."""
        return self._retire

    def drained(self, quiet_s: float) -> bool:
        """A retiring session has nothing left: connected, its filters removed, every
        message taken acked after its commit, and none for `quiet_s` (the broker sends
        what it queued at once, up to its in-flight limit, and the rest as acks return)."""
        return (
            self.connected
            and self.unsubscribed.is_set()
            and self._settled >= self._owed
            and time.monotonic() - self._last >= quiet_s
        )

    def end_session(self) -> None:
        """Disconnect with session expiry 0: the broker forgets the session, its queue and
        its memberships of share groups. Only once `drained`: what it still held is lost."""
        props = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 0
        self._client.disconnect(properties=props)
        self._client.loop_stop()

    def alive(self) -> bool:
        """paho's network thread runs (connected or reconnecting): the service watchdog's
        test of ingest. A broker that is down is not a dead thread."""
        thread = getattr(self._client, "_thread", None)
        return thread is not None and thread.is_alive()

    def _on_connect(
        self,
        client: paho.Client,
        _u: object,
        flags: paho.ConnectFlags,
        rc: ReasonCode,
        _p: Properties | None,
    ) -> None:
        if rc.is_failure:
            log.error("broker refused connection", extra={"reason": str(rc)})
            return
        with self._lock:
            self._generation += 1
        self.connected = True
        self.ever_connected = True
        self._last = time.monotonic()
        log.info(
            "broker connected",
            extra={"client_id": self.client_id, "session_present": flags.session_present},
        )
        self.unsubscribed.clear()
        if flags.session_present and self._stale:
            # what the broker queued for it still comes; a filter it does not hold is
            # answered "no subscription existed"
            chunks = packet_chunks(list(self._stale))
            self._unsubacks_due = len(chunks)
            for chunk in chunks:
                client.unsubscribe(chunk)
        else:  # a new session holds nothing
            self.unsubscribed.set()
        if self._retire:
            return
        self.subscribed.clear()
        topics = [self._shared(t) for t in self._decoder.subscriptions(self._lane)]
        # a service of hundreds of sites has thousands of filters: one SUBSCRIBE of them
        # all would pass the broker's packet limit (mosquitto's max_packet_size) and the
        # broker would drop the connection, again and again
        chunks = packet_chunks(topics)
        self._subacks_due = len(chunks)
        for chunk in chunks:
            client.subscribe([(topic, 1) for topic in chunk])

    def _on_subscribe(
        self, _c: paho.Client, _u: object, _mid: int, codes: list[ReasonCode], _p: object
    ) -> None:
        if any(c.is_failure for c in codes):
            log.error("broker refused a subscription", extra={"reasons": [str(c) for c in codes]})
            return
        self._subacks_due -= 1
        if self._subacks_due <= 0:  # every chunk's SUBACK: the broker keeps all of them
            self.subscribed.set()

    def _on_unsubscribe(
        self, _c: paho.Client, _u: object, _mid: int, _codes: object, _p: object
    ) -> None:
        self._last = time.monotonic()
        self._unsubacks_due -= 1
        if self._unsubacks_due <= 0:
            self.unsubscribed.set()

    def _shared(self, topic: str) -> str:
        return f"$share/{self._share}/{topic}" if self._share else topic

    def _on_disconnect(
        self,
        _c: paho.Client,
        _u: object,
        _f: paho.DisconnectFlags,
        rc: ReasonCode,
        _p: Properties | None,
    ) -> None:
        self.connected = False
        now = time.monotonic()
        self._drops = [t for t in self._drops if now - t < CONTEST_WINDOW_S] + [now]
        if rc.value == SESSION_TAKEN_OVER or len(self._drops) >= FLAPS:
            if not self.contested():  # once per episode, not once per drop
                log.error(
                    "the broker keeps dropping this session: another client with the same"
                    " client id (two services? give each its own CAREWATCH_MQTT_CLIENT_ID)",
                    extra={"client_id": self.client_id, "reason": str(rc)},
                )
            self.taken_over_at = now
            return
        log.warning("broker disconnected", extra={"reason": str(rc)})

    def contested(self, window_s: float = CONTEST_WINDOW_S) -> bool:
        """The session was taken over, or dropped FLAPS times, within `window_s`: two
        clients with one client id push each other off (mosquitto 2.0 just closes the
        socket, no "session taken over" reason) and each sees about half the messages, so
        the link counts as down (readyz, the watchdog's broker check) even while connected.
        A broker that is down refuses the reconnects instead, and counts as down anyway."""
        return self.taken_over_at is not None and time.monotonic() - self.taken_over_at < window_s

    def _ack_fn(self, mid: int, generation: int) -> Ack:
        def ack() -> None:
            self._acks.append((mid, generation))

        return ack

    def flush_acks(self) -> None:
        """Send the PUBACKs the engine recorded (its thread, after a commit), together."""
        acks, self._acks = self._acks, []
        if acks:
            self._settled += len(acks)
            # an ack for a message of a previous connection could hit a reused packet id
            current = self._generation
            self._client.ack_many([mid for mid, gen in acks if gen == current])

    def _on_message(self, _c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        """paho's path (QoS 2, topic aliases); the others come to `_on_publish`."""
        self._on_publish(msg._topic, bytes(msg.payload), msg.mid, msg.qos, msg.dup)

    def _on_publish(
        self, raw_topic: bytes, payload: bytes, mid: int, qos: int, dup: bool = False
    ) -> None:
        now = self._clock.now_ms()
        self.taken += 1
        self._last = time.monotonic()
        ack = None
        if qos > 0:
            self._owed += 1
            ack = self._ack_fn(mid, self._generation)
        try:
            try:
                topic = raw_topic.decode("utf-8")
            except UnicodeDecodeError:
                decoded: Decoded = Rejection(
                    "bad_topic", "topic is not UTF-8", repr(raw_topic)[:200], payload, now
                )
            else:
                if self._decoder.is_own(topic):  # the watch's own status: not a device's
                    if ack is not None:
                        ack()
                    return
                decoded = self._decoder.decode(topic, payload, now)
                if dup and isinstance(decoded, Reading | DeviceEvent | DeviceStatus):
                    decoded = replace(decoded, redelivered=True)
        except Exception as exc:  # a decoder bug must not stop the watch
            log.exception("decoder failed")
            decoded = Rejection("internal_error", type(exc).__name__, "?", payload, now)
        self._deliver(decoded, ack)
