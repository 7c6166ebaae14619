"""The one HTTP poster and the webhook sender, against the reference receiver on loopback
(no HTTP mocks): signed, with the Idempotency-Key; anything but 2xx is DeliveryError."""

from __future__ import annotations

import orjson
import pytest

from alerting.notify.receiver import Receiver
from alerting.notify.sender import DeliveryError
from alerting.notify.webhook import Place, WebhookPoster, WebhookSender
from alerting.outbox import next_pending
from ingest.broker import free_port
from tests.outbox_rows import add, table

SECRET = b"webhook-test-secret"
SITE = {"id": "sunrise", "name": "阳光颐养院"}


@pytest.fixture
def receiver():
    with Receiver(secret=SECRET) as r:
        yield r


def test_a_signed_post_with_its_key_is_taken(receiver):
    poster = WebhookPoster(receiver.url, SECRET)
    try:
        assert poster.post(b'{"seq": 1}', "application/json", "k-1") == 200
        assert poster.post(b'{"seq": 1}', "application/json", "k-1") == 200  # a retry
    finally:
        poster.close()
    assert receiver.keys() == ["k-1"] and receiver.duplicates == 1
    assert receiver.received[0]["verified"] is True


def test_a_refusal_is_a_delivery_error_with_the_status(receiver):
    receiver.fail_with = 503
    poster = WebhookPoster(receiver.url, SECRET)
    with pytest.raises(DeliveryError, match="HTTP 503") as refused:
        poster.post(b"{}", "application/json", "k-2")
    assert refused.value.status == 503
    receiver.fail_with = None
    wrong = WebhookPoster(receiver.url, b"not the key")
    with pytest.raises(DeliveryError) as unsigned:
        wrong.post(b"{}", "application/json", "k-3")
    assert unsigned.value.status == 401 and receiver.received == []
    poster.close()
    wrong.close()


def test_no_answer_is_a_delivery_error_without_a_status():
    poster = WebhookPoster(f"http://127.0.0.1:{free_port()}/", SECRET, timeout_s=2)
    with pytest.raises(DeliveryError, match=r"^ConnectionRefusedError") as down:
        poster.post(b"{}", "application/json", "k-4")
    assert down.value.status is None
    poster.close()


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("json", "application/json"), ("cap", "application/cap+xml")]
)
def test_the_sender_posts_a_row_as_json_or_cap(receiver, fmt, content_type):
    conn = table()
    add(conn, "fire_brigade", alert_id=42)
    row = next_pending(conn, "fire_brigade")
    assert row is not None
    sender = WebhookSender(
        WebhookPoster(receiver.url, SECRET), fmt, Place(SITE, sender_id="carewatch@sunrise")
    )
    assert sender.send(row) == 200
    sender.close()
    [d] = receiver.received
    assert (d["key"], d["seq"], d["action"], d["alert_id"]) == (row.key, 1, "escalate", "42")
    assert d["content_type"] == content_type and d["format"] == fmt
    if fmt == "json":
        assert orjson.loads(d["body"])["reference"] == "carewatch:sunrise:i1:42"
    else:
        assert d["parsed"]["identifier"] == "carewatch:sunrise:i1:42:1"
