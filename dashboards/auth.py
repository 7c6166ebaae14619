"""Who is calling and for which sites. Staff log in with a PIN (their site file) and get
a signed session token for the shift; `by` in the audit log is then the staff id, not
whatever a client claims, and the session works for her own site only. Bearer tokens are
grants: a site file's `api_tokens` for that site, the access file's for the sites it
lists (dashboards/access.py), the service token for every site. PINs and tokens are
stored as hashes only; failed PIN attempts are limited per staff id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devices.ports import Clock
from devices.siteconfig import SiteConfig, StaffConfig

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


class PinGate:
    """Wrong PINs per id: after MAX_FAILURES within FAILURE_WINDOW_MS the id is refused (429)
    until the window passes, so a 4-digit PIN cannot be guessed by trying. One gate for the
    staff's login and the visiting workers'."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[int]] = {}

    def check(self, who: str, pin: str, pin_hash: str | None, now: int, wrong: str) -> None:
        """Pass for the right PIN (the id's failures forgotten); LoginError 429 while the id is
        locked out, 401 with `wrong` for an unknown id (`pin_hash` None) or a wrong PIN."""
        fails = self._failures.setdefault(who, deque())
        while fails and fails[0] <= now - FAILURE_WINDOW_MS:
            fails.popleft()
        if len(fails) >= MAX_FAILURES:
            raise LoginError(
                429, "too many wrong PINs: wait 5 minutes / PIN错误次数过多，请5分钟后再试"
            )
        if pin_hash is None or not pin_matches(pin, pin_hash):
            fails.append(now)
            raise LoginError(401, wrong)
        fails.clear()


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    staff_id: str
    name: str
    expires_ms: int
    site: str | None = None  # the site she works at (her site file)
    role: str = "carer"  # carer or supervisor (her site file)


class StaffAuth:
    """PIN log-in and session tokens; `site_of` maps each staff id to her site (staff ids
    are unique across the service, devices/registry.py), so a session names its site."""

    def __init__(
        self,
        staff: Sequence[StaffConfig],
        secret: bytes,
        clock: Clock,
        site_of: Mapping[str, str] | None = None,
    ) -> None:
        self._staff = {s.id: s for s in staff}
        self._site_of = dict(site_of or {})
        self._secret = secret
        self._clock = clock
        self._gate = PinGate()

    @classmethod
    def of_sites(cls, sites: Iterable[SiteConfig], secret: bytes, clock: Clock) -> StaffAuth:
        """Every site's staff, each bound to her site."""
        listed = list(sites)
        staff = [p for s in listed for p in s.staff]
        return cls(staff, secret, clock, {p.id: s.id for s in listed for p in s.staff})

    def site_of(self, staff_id: str) -> str | None:
        """The site a staff member works at; None for staff given without one."""
        return self._site_of.get(staff_id)

    def role_of(self, staff_id: str) -> str | None:
        """A staff member's role (carer or supervisor); None for an id nobody has: only a
        supervisor overrides a call's bedside reset (dashboards/alerts.py)."""
        member = self._staff.get(staff_id)
        return member.role if member else None

    def staff(self, site: str | None = None) -> list[dict[str, str]]:
        """Ids and names (never PINs): of one site's staff when given, else everybody's."""
        return [
            {"id": s.id, "name": s.name}
            for s in self._staff.values()
            if site is None or self._site_of.get(s.id) == site
        ]

    def login(self, staff_id: str, pin: str) -> Session:
        now = self._clock.now_ms()
        member = self._staff.get(staff_id)
        self._gate.check(
            staff_id,
            pin,
            None if member is None else member.pin_hash,
            now,
            "wrong staff id or PIN / 工号或PIN错误",
        )
        assert member is not None  # the gate passed
        expires = now + SHIFT_MS
        body = f"{staff_id}.{expires}"
        sig = hmac.new(self._secret, body.encode(), hashlib.sha256).digest()
        token = "s." + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=") + "."
        token += base64.urlsafe_b64encode(sig).decode().rstrip("=")
        site = self._site_of.get(staff_id)
        return Session(token, staff_id, member.name, expires, site, member.role)

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


Role = Literal["viewer", "duty", "admin", "operator", "district"]
# what each role may do on its sites: viewer reads; duty answers alerts (ack, resolve,
# shelve, confirm, dismiss); admin also takes devices out of service. operator (a call
# centre) is duty on the sites assigned to it; district reads its sites and changes nothing.
RANK = {"viewer": 0, "district": 0, "duty": 1, "operator": 1, "admin": 2}
READ_ONLY: frozenset[str] = frozenset({"district"})


def token_sha256(token: str) -> str:
    """API tokens are long random strings: a plain SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "cw_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Grant:
    """What one bearer token may do: its holder's name, its role and its sites (None:
    every site of the service). The token itself is kept only as its SHA-256."""

    name: str
    role: Role
    sites: frozenset[str] | None
    token_sha256: str


def site_grants(sites: Iterable[SiteConfig]) -> list[Grant]:
    """The site files' `api_tokens`: each works for its own site only."""
    return [
        Grant(t.name, t.role, frozenset({s.id}), t.token_sha256)
        for s in sites
        for t in s.api_tokens
    ]


SERVICE_TOKEN_NAME = "api-token"  # noqa: S105 (a holder name, not a secret)


class TokenBook:
    """Bearer tokens and their grants: the site files' `api_tokens`, the access file's
    users, and the service's own admin token (CAREWATCH_API_TOKEN), admin of every site."""

    def __init__(self, grants: Sequence[Grant], admin_token: str | None) -> None:
        self._by_hash = {g.token_sha256: g for g in grants}
        if admin_token:
            digest = token_sha256(admin_token)
            self._by_hash[digest] = Grant(SERVICE_TOKEN_NAME, "admin", None, digest)

    def grant_of(self, token: str) -> Grant | None:
        """The grant of a token, or None. Compared by hash, in constant time."""
        digest = token_sha256(token)
        found = None
        for known, grant in self._by_hash.items():
            if hmac.compare_digest(known, digest):
                found = grant
        return found
