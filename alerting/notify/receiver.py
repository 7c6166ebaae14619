"""A webhook receiver for integrators: the fire brigade's IT tests their side against it, and
our tests use it as the real receiver on loopback. Standard library only.

It does what a careful receiver should (PROTOCOL.md, "Alert outputs"):
- checks the Standard Webhooks headers when they come (`webhook-id`, `webhook-timestamp`,
  `webhook-signature`): a timestamp more than 5 min from its clock is refused (401: a
  capture replayed later, or a sender whose clock is wrong); inside those 5 minutes an id
  it has taken is never taken again (below: a retry and a replay cannot be told apart
  there, and neither does anything). Without them it checks `X-CareWatch-Signature`
  (HMAC-SHA256 over the raw body), unless `require_standard` is set. A missing or wrong
  signature gets 401 (counted in `rejected`);
- takes each `Idempotency-Key` once: a retry of a delivery it already has gets 200 again
  and is counted in `duplicates`, not recorded twice;
- accepts `application/json` (versioned JSON) and `application/cap+xml` /
  `application/xml` (CAP 1.2); anything else gets 415, a body it cannot read 400
  (both counted in `invalid`);
- with `bearer` set (an SMS/voice gateway's token, alerting/notify/gateway.py) it checks
  `Authorization: Bearer <token>` instead of a signature;
- answers `fail_with` (e.g. 503) to every POST while that is set, recording nothing, so a
  sender's retries can be tested.

    carewatch webhook-receiver --port 9000 --secret-env CAREWATCH_WEBHOOK_SECRET

prints one JSON line per accepted delivery on stdout. `GET /` answers the counts. The
command line is in receiver_cli.py (`parse_args`, `run`), with the secret as bytes:
carewatch/cli.py reads it from the environment variable in between.
"""

from __future__ import annotations

import hmac
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from alerting.notify.formats import CAP_NS, PARAM_PREFIX
from alerting.notify.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TOLERANCE_S,
    WEBHOOK_ID,
    WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP,
    verify,
    verify_standard,
)

MAX_BODY = 1 << 20  # 1 MiB: a notice is a few KiB
JSON_TYPES = frozenset({"application/json"})
CAP_TYPES = frozenset({"application/cap+xml", "application/xml", "text/xml"})
DEFAULT_SECRET_ENV = "CAREWATCH_WEBHOOK_SECRET"  # noqa: S105 - a variable's name

Delivery = dict[str, Any]


def parse_cap(body: bytes) -> dict[str, Any]:
    """The fields of a CAP 1.2 alert a receiver acts on; ValueError if it is none.

    The body's signature has been checked before this runs; expat (2.4.1 and later, as
    bundled with Python) refuses entity-expansion bombs and never fetches external ones.
    """
    try:
        root = ET.fromstring(body)  # noqa: S314 - signed body, see docstring
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    ns = {"cap": CAP_NS}
    if root.tag != f"{{{CAP_NS}}}alert":
        raise ValueError(f"not a CAP 1.2 alert: root element {root.tag}")

    def text(el: ET.Element, path: str) -> str | None:
        found = el.find(path, ns)
        return None if found is None else (found.text or "")

    out: dict[str, Any] = {
        name: text(root, f"cap:{name}")
        for name in (
            "identifier",
            "sender",
            "sent",
            "status",
            "msgType",
            "scope",
            "note",
            "references",
        )
    }
    infos = []
    for info in root.findall("cap:info", ns):
        d: dict[str, Any] = {
            name: text(info, f"cap:{name}")
            for name in (
                "language",
                "event",
                "urgency",
                "severity",
                "certainty",
                "senderName",
                "headline",
                "description",
                "instruction",
                "web",
            )
        }
        d["category"] = [c.text or "" for c in info.findall("cap:category", ns)]
        d["responseType"] = [c.text or "" for c in info.findall("cap:responseType", ns)]
        d["parameters"] = {
            text(p, "cap:valueName") or "": text(p, "cap:value") or ""
            for p in info.findall("cap:parameter", ns)
        }
        d["areas"] = [
            {
                "areaDesc": text(area, "cap:areaDesc"),
                "circle": [c.text or "" for c in area.findall("cap:circle", ns)],
                "polygon": [c.text or "" for c in area.findall("cap:polygon", ns)],
                "geocode": {
                    text(g, "cap:valueName") or "": text(g, "cap:value") or ""
                    for g in area.findall("cap:geocode", ns)
                },
            }
            for area in info.findall("cap:area", ns)
        ]
        infos.append(d)
    out["info"] = infos
    return out


def _summary(content_type: str, doc: dict[str, Any]) -> dict[str, Any]:
    """seq, reference, action, alert id and rule, from either format."""
    if content_type in JSON_TYPES:
        alert = doc.get("alert")
        if not isinstance(alert, dict):
            alert = {}
        return {
            "seq": doc.get("seq"),
            "reference": doc.get("reference"),
            "action": doc.get("action"),
            "alert_id": alert.get("id"),
            "rule": alert.get("rule"),
        }
    params: dict[str, str] = {}
    for info in doc.get("info", []):
        params.update(info.get("parameters", {}))

    def p(name: str) -> str | None:
        return params.get(PARAM_PREFIX + name)

    seq = p("seq")
    return {
        "seq": int(seq) if seq is not None and seq.isdigit() else None,
        "reference": p("reference"),
        "action": p("action"),
        "alert_id": p("alert_id"),
        "rule": p("rule"),
    }


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True  # stop and start again on the same port at once
    daemon_threads = True
    receiver: Receiver

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.receiver = receiver
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: a stopped receiver is gone
    timeout = 10.0
    server_version = "CareWatchReceiver/1"
    # the answer leaves as one segment, not head then body (Nagle against delayed ACK)
    wbufsize = -1  # buffered; handle_one_request flushes after each request

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: deliveries are printed by `main`, not one access line each."""

    def _answer(self, status: int, doc: dict[str, Any]) -> None:
        body = orjson.dumps(doc)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(200, self.server.receiver.counts())

    def do_POST(self) -> None:
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self._answer(411, {"error": "Content-Length required"})
            return
        length = int(length_header)
        if length > MAX_BODY:
            self._answer(413, {"error": "body too large"})
            return
        body = self.rfile.read(length)
        status, doc = self.server.receiver.handle(
            body,
            self.headers.get("Content-Type"),
            self.headers.get(SIGNATURE_HEADER),
            self.headers.get(IDEMPOTENCY_HEADER),
            Standard(
                self.headers.get(WEBHOOK_ID),
                self.headers.get(WEBHOOK_TIMESTAMP),
                self.headers.get(WEBHOOK_SIGNATURE),
            ),
            self.headers.get("Authorization"),
        )
        self._answer(status, doc)


@dataclass(frozen=True, slots=True)
class Standard:
    """The Standard Webhooks headers of one request, as they came (None: absent)."""

    id: str | None
    timestamp: str | None
    signature: str | None


class Receiver:
    """A webhook receiver on a background thread: `start()`, deliveries in `received`,
    `stop()`. `port=0` picks a free port; `Receiver(port=old.port)` takes over the same one.
    `on_accept` is called (on the request's thread) with each new delivery."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: bytes = b"carewatch-test-secret",
        fail_with: int | None = None,
        on_accept: Callable[[Delivery], None] | None = None,
        require_standard: bool = False,
        now_s: Callable[[], float] = time.time,
        tolerance_s: int = TOLERANCE_S,
        bearer: bytes | None = None,
    ) -> None:
        self.host = host
        self.bearer = bearer  # set: a gateway's token instead of signatures
        self._port = port
        self.secret = secret
        self.fail_with = fail_with
        self.on_accept = on_accept
        self.require_standard = require_standard
        self._now_s = now_s
        self.tolerance_s = tolerance_s  # how far a sender's clock may be from ours
        self.received: list[Delivery] = []
        self.duplicates = 0
        self.rejected = 0  # bad or missing signature (401)
        self.invalid = 0  # unreadable body, unknown content type, no key (400/415)
        self.failed = 0  # answered `fail_with`
        self._keys: set[str] = set()
        self._cond = threading.Condition()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> Receiver:
        """Bind and serve on a daemon thread; returns itself, so `with Receiver()` and
        `Receiver().start()` both work. A second start raises RuntimeError."""
        if self._server is not None:
            raise RuntimeError("receiver already started")
        self._server = _Server((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"webhook-receiver:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut the server down and wait for its thread; a receiver not started is fine. The port
        stays known, so a new receiver can take it over."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on: the one picked once started with `port=0`."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL to configure as a webhook target (IPv6 hosts bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}/"

    # -------------------------------------------------------------- reading

    def counts(self) -> dict[str, int]:
        """Accepted, duplicate, rejected, invalid and failed requests so far, read under the lock
        (the `GET /` answer)."""
        with self._cond:
            return {
                "received": len(self.received),
                "duplicates": self.duplicates,
                "rejected": self.rejected,
                "invalid": self.invalid,
                "failed": self.failed,
            }

    def wait_for(self, count: int, timeout_s: float = 5.0) -> bool:
        """Until at least `count` deliveries have been received; False on time-out."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.received) >= count, timeout_s)

    def keys(self) -> list[str]:
        """The Idempotency-Keys of the accepted deliveries, in arrival order."""
        with self._cond:
            return [d["key"] for d in self.received]

    # -------------------------------------------------------------- one request

    def handle(
        self,
        body: bytes,
        content_type: str | None,
        signature: str | None,
        key: str | None,
        standard: Standard | None = None,
        authorization: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """Status and answer for one POST (the HTTP handler's logic, socket-free)."""
        fail_with = self.fail_with
        if fail_with is not None:
            with self._cond:
                self.failed += 1
            return fail_with, {"error": "failing on purpose (fail_with)"}
        std = standard or Standard(None, None, None)
        if self.bearer is not None:
            given = (authorization or "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, b"Bearer " + self.bearer):
                with self._cond:
                    self.rejected += 1
                return 401, {"error": "bad or missing Authorization: Bearer"}
        elif std.id or std.timestamp or std.signature or self.require_standard:
            now = self._now_s()
            problem = verify_standard(
                body, self.secret, std.id, std.timestamp, std.signature, now, self.tolerance_s
            )
            if problem is not None:
                with self._cond:
                    self.rejected += 1
                return 401, {"error": problem}
            key = key or std.id
        elif not verify(body, self.secret, signature):
            with self._cond:
                self.rejected += 1
            return 401, {"error": f"bad or missing {SIGNATURE_HEADER}"}
        if not key:
            return self._invalid(400, f"missing {IDEMPOTENCY_HEADER}")
        with self._cond:
            if key in self._keys:
                self.duplicates += 1
                return 200, {"ok": True, "duplicate": True, "key": key}
        ctype = (content_type or "").split(";")[0].strip().lower()
        doc: dict[str, Any]
        if ctype in JSON_TYPES:
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                return self._invalid(400, f"not JSON: {exc}")
            if not isinstance(parsed, dict):
                return self._invalid(400, "not a JSON object")
            doc = parsed
        elif ctype in CAP_TYPES:
            try:
                doc = parse_cap(body)
            except ValueError as exc:
                return self._invalid(400, str(exc))
        else:
            return self._invalid(415, f"unsupported content type {content_type!r}")
        delivery: Delivery = {
            "key": key,
            **_summary(ctype, doc),
            "content_type": ctype,
            "body": body,
            "format": "json" if ctype in JSON_TYPES else "cap",
            "parsed": doc,
            "verified": True,
            "arrived_monotonic": time.monotonic(),
            "arrived_ms": time.time_ns() // 1_000_000,
        }
        with self._cond:
            if key in self._keys:  # the same key raced in on another connection
                self.duplicates += 1
                return 200, {"ok": True, "duplicate": True, "key": key}
            self._keys.add(key)
            self.received.append(delivery)
            self._cond.notify_all()
        if self.on_accept is not None:
            self.on_accept(delivery)
        return 200, {"ok": True, "duplicate": False, "key": key}

    def _invalid(self, status: int, error: str) -> tuple[int, dict[str, Any]]:
        with self._cond:
            self.invalid += 1
        return status, {"error": error}


# ------------------------------------------------------------------ command line
