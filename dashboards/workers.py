"""Community workers' log-in on the phone page (/visit): worker id and PIN (the access
file's `workers`, PIN as its PBKDF2 hash) give a short-lived session token that records
visits of her own home beds and nothing else. The token starts with `w.` and is signed
with a key of its own (derived from the service's session key), so it is never a staff
session nor a bearer token: any other route answers it 401. Wrong PINs are limited per
worker id, as staff PINs are (dashboards/auth.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from dashboards.access import Worker
from dashboards.auth import PinGate
from devices.ports import Clock

# a round of visits takes a morning; a phone left somewhere is not a key for the day
WORKER_SESSION_MS = 4 * 3600 * 1000
PREFIX = "w"


@dataclass(frozen=True, slots=True)
class WorkerSession:
    token: str
    worker: Worker
    expires_ms: int


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class WorkerAuth:
    """PIN log-in of community workers and their session tokens."""

    def __init__(self, workers: Sequence[Worker], secret: bytes, clock: Clock) -> None:
        self._workers = {w.id: w for w in workers}
        # a key of its own: a staff token's signature is never a worker's
        self._key = hmac.new(secret, b"carewatch worker sessions", hashlib.sha256).digest()
        self._clock = clock
        self._gate = PinGate()

    def worker(self, worker_id: str) -> Worker | None:
        return self._workers.get(worker_id)

    def assigned(self) -> dict[str, frozenset[str]]:
        """Each worker's sites: who may record a visit where."""
        return {w.id: w.sites for w in self._workers.values()}

    def login(self, worker_id: str, pin: str) -> WorkerSession:
        """A session for a worker's right PIN; LoginError 401 for a wrong id or PIN, 429
        after MAX_FAILURES wrong ones within FAILURE_WINDOW_MS (per worker id)."""
        now = self._clock.now_ms()
        worker = self._workers.get(worker_id)
        self._gate.check(
            worker_id,
            pin,
            None if worker is None else worker.pin_hash,
            now,
            "wrong worker id or PIN / 工号或PIN错误",
        )
        assert worker is not None  # the gate passed
        expires = now + WORKER_SESSION_MS
        body = f"{worker_id}.{expires}".encode()
        sig = hmac.new(self._key, body, hashlib.sha256).digest()
        return WorkerSession(f"{PREFIX}.{_b64(body)}.{_b64(sig)}", worker, expires)

    def verify(self, token: str) -> Worker | None:
        """The worker a session token belongs to, or None (forged, expired, unknown)."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            return None
        try:
            body, sig = _unb64(parts[1]), _unb64(parts[2])
        except (ValueError, TypeError):
            return None
        if not hmac.compare_digest(sig, hmac.new(self._key, body, hashlib.sha256).digest()):
            return None
        worker_id, _, expires = body.decode(errors="replace").rpartition(".")
        if not expires.isdigit() or int(expires) < self._clock.now_ms():
            return None
        return self._workers.get(worker_id)
