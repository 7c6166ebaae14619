"""Standard Webhooks signing: every attempt carries webhook-id (the Idempotency-Key),
a fresh webhook-timestamp and a signature over both and the body; the reference receiver
refuses a stale timestamp (a capture replayed later) and never takes one id twice (a
retry or a replay inside the window does nothing)."""

from __future__ import annotations

import time

import httpx
import pytest

from alerting.notify.receiver import Receiver, Standard
from alerting.notify.sender import DeliveryError
from alerting.notify.signing import (
    SIGNATURE_HEADER,
    WEBHOOK_ID,
    WEBHOOK_SIGNATURE,
    WEBHOOK_TIMESTAMP,
    sign,
    standard_headers,
    standard_signature,
    verify_standard,
)
from alerting.notify.webhook import WebhookPoster

SECRET = b"standard-webhooks-secret-0123"
BODY = b'{"version":"1","key":"k"}'


def test_the_signature_matches_the_standard_webhooks_test_vector() -> None:
    """The example of the Standard Webhooks reference libraries: a `whsec_` secret is used
    base64-decoded, so a receiver built on those libraries verifies our signatures."""
    got = standard_signature(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
        b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_refuses_stale_altered_and_missing() -> None:
    now = 1_795_300_000
    h = standard_headers("k1", now, BODY, SECRET)
    ok = (h[WEBHOOK_ID], h[WEBHOOK_TIMESTAMP], h[WEBHOOK_SIGNATURE])
    assert verify_standard(BODY, SECRET, *ok, now_s=now + 299) is None
    assert "stale" in (verify_standard(BODY, SECRET, *ok, now_s=now + 301) or "")
    assert "stale" in (verify_standard(BODY, SECRET, *ok, now_s=now - 301) or "")
    assert verify_standard(BODY + b" ", SECRET, *ok, now_s=now) == "bad webhook-signature"
    other = ("k2", ok[1], ok[2])  # the signature covers the id
    assert verify_standard(BODY, SECRET, *other, now_s=now) == "bad webhook-signature"
    assert "missing" in (verify_standard(BODY, SECRET, None, ok[1], ok[2], now_s=now) or "")
    rotated = (ok[0], ok[1], "v1,AAAA " + ok[2])  # several signatures: one must match
    assert verify_standard(BODY, SECRET, *rotated, now_s=now) is None


def test_a_replayed_request_does_nothing_and_a_stale_one_is_refused() -> None:
    now = [1_795_300_000.0]
    rx = Receiver(secret=SECRET, now_s=lambda: now[0])
    h = standard_headers("k-1", int(now[0]), BODY, SECRET)
    std = Standard(h[WEBHOOK_ID], h[WEBHOOK_TIMESTAMP], h[WEBHOOK_SIGNATURE])
    assert rx.handle(BODY, "application/json", None, "k-1", std)[0] == 200
    # the same request again (captured and sent by someone else): not taken again
    status, answer = rx.handle(BODY, "application/json", None, "k-1", std)
    assert status == 200 and answer["duplicate"] is True and rx.keys() == ["k-1"]
    # the sender's own retry: same id, new timestamp and signature -> not taken twice
    now[0] += 30
    h2 = standard_headers("k-1", int(now[0]), BODY, SECRET)
    retry = Standard(h2[WEBHOOK_ID], h2[WEBHOOK_TIMESTAMP], h2[WEBHOOK_SIGNATURE])
    status, answer = rx.handle(BODY, "application/json", None, "k-1", retry)
    assert status == 200 and answer["duplicate"] is True
    assert rx.keys() == ["k-1"]
    # a capture replayed ten minutes later: stale
    now[0] += 600
    assert rx.handle(BODY, "application/json", None, "k-1", std)[0] == 401


def test_a_legacy_signature_alone_is_taken_unless_the_receiver_requires_standard() -> None:
    legacy = sign(BODY, SECRET)
    assert Receiver(secret=SECRET).handle(BODY, "application/json", legacy, "k-2")[0] == 200
    strict = Receiver(secret=SECRET, require_standard=True)
    assert strict.handle(BODY, "application/json", legacy, "k-2")[0] == 401


@pytest.mark.parametrize(
    ("signing", "standard", "legacy"),
    [("both", True, True), ("standard", True, False), ("legacy", False, True)],
)
def test_the_poster_signs_as_its_target_says(signing: str, standard: bool, legacy: bool) -> None:
    seen: list[httpx.Headers] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(200)

    client = httpx.Client(transport=httpx.MockTransport(answer))
    poster = WebhookPoster("http://receiver.test/", SECRET, client=client, signing=signing)  # type: ignore[arg-type]
    poster.post(BODY, "application/json", "key-9")
    poster.post(BODY, "application/json", "key-9")  # a retry
    h = seen[0]
    assert (WEBHOOK_SIGNATURE in h) is standard and (SIGNATURE_HEADER in h) is legacy
    if standard:
        assert h[WEBHOOK_ID] == "key-9" and abs(int(h[WEBHOOK_TIMESTAMP]) - time.time()) < 5
        assert (
            verify_standard(
                BODY, SECRET, h[WEBHOOK_ID], h[WEBHOOK_TIMESTAMP], h[WEBHOOK_SIGNATURE], time.time()
            )
            is None
        )


def test_the_reference_receiver_takes_both_headers_over_http() -> None:
    rx = Receiver(secret=SECRET).start()
    try:
        WebhookPoster(rx.url, SECRET).post(BODY, "application/json", "key-h")
        assert rx.keys() == ["key-h"] and rx.rejected == 0
        with pytest.raises(DeliveryError):
            WebhookPoster(rx.url, b"wrong key", signing="standard").post(
                BODY, "application/json", "key-w"
            )
        assert rx.rejected == 1
    finally:
        rx.stop()
