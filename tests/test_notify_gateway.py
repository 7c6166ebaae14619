"""The SMS/voice gateway notifier against the reference receiver on loopback (no HTTP
mocks): the rows a home call's climb writes become one JSON POST each, the target's body
template filled with the contact's number (E.164), the channel, the message, the key;
signed (HMAC, like every webhook) or with a bearer token; taken once per Idempotency-Key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerting.contacts import ContactBook
from alerting.notify.gateway import GatewaySender
from alerting.notify.receiver import Receiver
from alerting.notify.sender import DeliveryError
from alerting.notify.signing import sign
from alerting.notify.webhook import WebhookPoster
from alerting.outbox import OutboxRow, install_id, next_pending
from alerting.ruleset import RuleSetFile
from carewatch.cli import main
from carewatch.delivery import places
from tests.home_escalation import SITE, home_harness

KEY = b"gateway-test-secret"
PRESS = '{"event":"press","id":"p1"}'


@pytest.fixture
def climbed(tmp_path):
    """A call unanswered for 60 s: the daughter's voice and SMS rows are pending."""
    h = home_harness(tmp_path)
    h.send("hbt-call", "event", PRESS)
    h.tick(60)
    return h


def _sender(h, url: str, secret: bytes = KEY, signing="both", **template) -> GatewaySender:
    book = ContactBook(h.registry, h.book)
    place = places(h.registry, h.book, "svc")
    return GatewaySender(
        WebhookPoster(url, secret, signing=signing), book.contact, place, **template
    )


def _row(h, target: str) -> OutboxRow:
    row = next_pending(h.conn, target)
    assert row is not None
    return row


def test_a_step_is_one_signed_json_request_with_the_number_and_the_key(climbed):
    h = climbed
    row = _row(h, "sms_gw")
    alert = h.one("call")
    with Receiver(secret=KEY) as rx:
        sender = _sender(h, rx.url)
        assert sender.send(row) == 200
        assert sender.send(row) == 200  # a retry whose answer was lost: taken once
        sender.close()
    assert rx.keys() == [row.key] and rx.duplicates == 1
    got = rx.received[0]
    assert got["verified"] is True  # Standard Webhooks and X-CareWatch-Signature, as a webhook
    body = got["parsed"]
    text = body.pop("text")
    assert body == {
        "to": "+8613800001234",
        "channel": "sms",
        "reference": f"carewatch:{SITE}:{install_id(h.conn)}:{alert.id}",
        "key": f"{SITE}:{install_id(h.conn)}:{alert.id}:sms_gw/r-1/daughter:1",
        "alert_id": str(alert.id),
        "site": SITE,
    }
    assert "杭州市测试路 1 号" in text and "06:26" in text  # where, and when (site time)
    # the exact bytes are what the signature covers
    assert sign(got["body"], KEY) == sign(sender.request(row), KEY)


def test_a_bearer_token_instead_of_a_signature(climbed):
    h = climbed
    row = _row(h, "voice_gw")
    with Receiver(bearer=b"gw-token-1") as rx:
        good = _sender(h, rx.url, b"gw-token-1", signing="bearer")
        assert good.send(row) == 200
        wrong = _sender(h, rx.url, b"not-the-token", signing="bearer")
        with pytest.raises(DeliveryError) as refused:
            wrong.send(row)
        good.close()
        wrong.close()
    assert refused.value.status == 401
    assert rx.received[0]["parsed"]["channel"] == "voice" and rx.rejected == 1


def test_the_body_and_message_follow_the_targets_templates(climbed):
    h = climbed
    row = _row(h, "voice_gw")
    body = {"mobile": "{phone}", "tts": "{message}", "meta": {"ref": "{key}", "who": "{contact}"}}
    with Receiver(secret=KEY) as rx:
        sender = _sender(h, rx.url, body=body, message="{title}，{site_name}。第{seq}次 {step}")
        sender.send(row)
        sender.close()
    got = rx.received[0]["parsed"]
    assert got["mobile"] == "+8613800001234"
    assert got["meta"] == {"ref": row.key, "who": "daughter"}
    assert got["tts"].endswith("测试家庭床位。第1次 family_1")


def test_a_contact_removed_from_the_site_file_is_not_delivered(climbed):
    h = climbed
    row = _row(h, "voice_gw")
    gone = OutboxRow(**{**{f: getattr(row, f) for f in row.__slots__}, "recipient": "r-1/nobody"})
    with Receiver(secret=KEY) as rx:
        sender = _sender(h, rx.url)
        with pytest.raises(DeliveryError, match="no such contact"):
            sender.send(gone)
        sender.close()
    assert rx.received == []


def test_gateway_targets_are_checked_when_the_rules_are_loaded(tmp_path, capsys):
    gw = {"kind": "gateway", "url": "https://sms.example.com/send", "secret_env": "GW_KEY"}
    with pytest.raises(ValidationError, match="unknown fields \\['name'\\]"):
        RuleSetFile.model_validate(
            {"notify": {"targets": {"sms": {**gw, "body": {"to": "{phone}", "n": "{name}"}}}}}
        )
    with pytest.raises(ValidationError, match="'hook' is not a gateway target"):
        RuleSetFile.model_validate(
            {
                "notify": {
                    "targets": {"hook": {"url": "https://x.example/", "secret_env": "K"}},
                    "contacts": {"sms": "hook"},
                }
            }
        )
    with pytest.raises(ValidationError, match="needs url and secret_env"):
        RuleSetFile.model_validate({"notify": {"targets": {"sms": {"kind": "gateway"}}}})
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "notify:\n  targets:\n    sms:\n      kind: gateway\n      url: https://sms.example.com/\n"
        "      secret_env: GW_KEY\n      message: '{title} {phone_number}'\n",
        encoding="utf-8",
    )
    assert main(["check-config", str(rules)]) == 1
    err = capsys.readouterr().err
    assert f"{rules}:4: notify.targets.sms" in err and "phone_number" in err


def test_a_policy_step_names_the_person_not_the_gateway(tmp_path, capsys):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "notify:\n"
        "  targets:\n"
        "    sms: {kind: gateway, url: 'https://sms.example.com/', secret_env: GW_KEY}\n"
        "  contacts: {sms: sms}\n"
        "escalation:\n"
        "  policies:\n"
        "    home_routine:\n"
        "      steps: [{after_s: 0, notify: operator}, {after_s: 60, notify: sms}]\n",
        encoding="utf-8",
    )
    assert main(["check-config", str(rules)]) == 1
    err = capsys.readouterr().err
    assert "escalation.policies.home_routine.steps.1.notify: sms is a gateway" in err
