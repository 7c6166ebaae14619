"""Signing a webhook body, both ways the receivers check: `X-CareWatch-Signature`
(HMAC-SHA256 over the body, the device contract) and Standard Webhooks (an id, a
timestamp per attempt and an HMAC over both and the body: a captured request cannot be
replayed later). The Idempotency-Key is the Standard Webhooks id."""

from __future__ import annotations

import base64
import hashlib
import hmac

SIGNATURE_HEADER = "X-CareWatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


def sign(body: bytes, secret: bytes) -> str:
    """The `X-CareWatch-Signature` value: "sha256=<hex>" of HMAC-SHA256 over the raw body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: bytes, header: str | None) -> bool:
    """True if `header` is the body's signature under `secret` (constant-time compare)."""
    if header is None:
        return False
    expected = sign(body, secret).encode("ascii")
    given = header.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(expected, given)


# Standard Webhooks (standardwebhooks.com): the id, a timestamp and a signature over both
# and the body, so a captured request cannot be replayed later or altered; the id is the
# Idempotency-Key (the same for every retry of one notification), the timestamp is new
# for each attempt. A secret written `whsec_<base64>` (as Standard Webhooks libraries make
# them) is used decoded; any other secret as its bytes.
WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
TOLERANCE_S = 300  # a timestamp further from the receiver's clock is refused


def standard_key(secret: bytes) -> bytes:
    """The HMAC key of a secret: `whsec_` + base64 decoded, else the bytes as they are."""
    if secret.startswith(b"whsec_"):
        try:
            return base64.b64decode(secret[6:], validate=True)
        except ValueError:
            return secret
    return secret


def standard_signature(msg_id: str, timestamp: int, body: bytes, secret: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def standard_headers(msg_id: str, timestamp: int, body: bytes, secret: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt."""
    return {
        WEBHOOK_ID: msg_id,
        WEBHOOK_TIMESTAMP: str(timestamp),
        WEBHOOK_SIGNATURE: standard_signature(msg_id, timestamp, body, secret),
    }


def verify_standard(
    body: bytes,
    secret: bytes,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    now_s: float,
    tolerance_s: int = TOLERANCE_S,
) -> str | None:
    """None when the Standard Webhooks headers are right; else why not (missing, stale,
    bad signature). `signature` may list several space-separated `v1,...` values (a key
    being rotated)."""
    if not msg_id or not timestamp or not signature:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    if not timestamp.isdigit():
        return "webhook-timestamp is not whole seconds"
    if abs(now_s - int(timestamp)) > tolerance_s:
        return f"webhook-timestamp more than {tolerance_s} s from now (stale or replayed)"
    expected = standard_signature(msg_id, int(timestamp), body, secret).encode("ascii")
    for given in signature.split():
        if hmac.compare_digest(expected, given.encode("utf-8", "replace")):
            return None
    return "bad webhook-signature"
