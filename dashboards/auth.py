"""Who is at the screen: staff log in with a PIN (site file) and get a signed session
token for the shift; `by` in the audit log is then the staff id, not whatever a client
claims. PINs are stored as PBKDF2 hashes only; failed attempts are limited per staff id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from devices.ports import Clock
from devices.registry import ApiTokenConfig, StaffConfig

ITERATIONS = 200_000
SHIFT_MS = 12 * 3600 * 1000
MAX_FAILURES = 5
FAILURE_WINDOW_MS = 5 * 60 * 1000


def hash_pin(pin: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${salt.hex()}${digest.hex()}"


def pin_matches(pin: str, stored: str) -> bool:
    _, iterations, salt, digest = stored.split("$")
    got = hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(got.hex(), digest)


def load_secret(path: Path) -> bytes:
    """The key that signs session tokens, created once (mode 600) so tokens survive a
    restart of the service: nobody at the screen is logged out at 3 a.m."""
    if path.exists():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    path.touch(mode=0o600)
    path.write_bytes(key)
    return key


class LoginError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    staff_id: str
    name: str
    expires_ms: int


class StaffAuth:
    def __init__(self, staff: list[StaffConfig], secret: bytes, clock: Clock) -> None:
        self._staff = {s.id: s for s in staff}
        self._secret = secret
        self._clock = clock
        self._failures: dict[str, deque[int]] = {}

    def staff(self) -> list[dict[str, str]]:
        return [{"id": s.id, "name": s.name} for s in self._staff.values()]

    def login(self, staff_id: str, pin: str) -> Session:
        now = self._clock.now_ms()
        fails = self._failures.setdefault(staff_id, deque())
        while fails and fails[0] <= now - FAILURE_WINDOW_MS:
            fails.popleft()
        if len(fails) >= MAX_FAILURES:
            raise LoginError(
                429, "too many wrong PINs: wait 5 minutes / PIN错误次数过多，请5分钟后再试"
            )
        member = self._staff.get(staff_id)
        if member is None or not pin_matches(pin, member.pin_hash):
            fails.append(now)
            raise LoginError(401, "wrong staff id or PIN / 工号或PIN错误")
        fails.clear()
        expires = now + SHIFT_MS
        body = f"{staff_id}.{expires}"
        sig = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        token = "s." + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=") + "."
        token += base64.urlsafe_b64encode(sig).decode().rstrip("=")
        return Session(token, staff_id, member.name, expires)

    def verify(self, token: str) -> str | None:
        """The staff id a session token belongs to, or None (forged, expired, unknown)."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "s":
            return None
        try:
            body = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
            sig = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
        except (ValueError, TypeError):
            return None
        want = hmac.new(self._secret, body, hashlib.sha256).digest()
        if not hmac.compare_digest(sig, want):
            return None
        staff_id, _, expires = body.decode(errors="replace").rpartition(".")
        if not expires.isdigit() or int(expires) < self._clock.now_ms():
            return None
        return staff_id if staff_id in self._staff else None


Role = str  # "viewer" < "duty" < "admin"
RANK = {"viewer": 0, "duty": 1, "admin": 2}


def token_sha256(token: str) -> str:
    """API tokens are long random strings: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "cw_" + secrets.token_urlsafe(32)


class TokenBook:
    """Bearer tokens and their roles: the site file's `api_tokens` (hashed) and the
    service's own admin token (CAREWATCH_API_TOKEN). Staff sessions are `duty`."""

    def __init__(self, tokens: list[ApiTokenConfig], admin_token: str | None) -> None:
        self._by_hash = {t.token_sha256: (t.name, t.role) for t in tokens}
        if admin_token:
            self._by_hash[token_sha256(admin_token)] = ("api-token", "admin")

    def role_of(self, token: str) -> tuple[str, Role] | None:
        """(holder name, role) of a token, or None. Compared by hash, in constant time."""
        digest = token_sha256(token)
        found = None
        for known, who in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                found = who
        return found
