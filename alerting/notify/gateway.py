"""The SMS/voice gateway notifier (`kind: gateway` targets): a step of a home call's
escalation that names a person (family_1, community...) reaches them through a gateway,
one outbox row per channel (alerting/outbox.py, alerting/contacts.py).

The request is one JSON POST to the target's `url`, the body the target's `body` template
with its `{field}`s filled (alerting/gatewaytemplate.py: the contact's number in E.164, the
channel, the message text, the key, the alert id, the site...), the `Idempotency-Key` the
row's key. It is authenticated as the target's `auth` says: `hmac` signs it like any
webhook (Standard Webhooks and `X-CareWatch-Signature`, `signing`), `bearer` sends the
secret as `Authorization: Bearer`. docs/notifications.md shows the exact request.

The number is read here, at sending time, from the site file (`contact`): the database,
the outbox and the logs hold only `<resident>/<contact>` ids. This request is the one place
a phone number leaves the house.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson

from alerting.gatewaytemplate import DEFAULT_GATEWAY_BODY, DEFAULT_GATEWAY_MESSAGE
from alerting.notify.formats import JSON_CONTENT_TYPE
from alerting.notify.notice import reference
from alerting.notify.sender import DeliveryError
from alerting.notify.webhook import Place, WebhookPoster
from alerting.outbox import OutboxRow
from devices.siteconfig import ContactConfig

ContactOf = Callable[[str, str], ContactConfig | None]  # (site, recipient) -> contact


def fill(template: Any, fields: Mapping[str, str]) -> Any:
    """The template with every string's `{field}`s filled from `fields` (lists and mappings
    walked; other values kept). Filled values are data, never read as a template again."""
    if isinstance(template, str):
        return template.format_map(fields)
    if isinstance(template, dict):
        return {k: fill(v, fields) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, fields) for v in template]
    return template


def _local_hhmm(iso: object, place: Place) -> str:
    if not isinstance(iso, str):
        return ""
    try:
        return (
            datetime.fromisoformat(iso.replace("Z", "+00:00"))
            .astimezone(place.tz)
            .strftime("%H:%M")
        )
    except ValueError:
        return ""


class GatewaySender:
    """A `kind: gateway` target as a Sender: each row is one message to one contact."""

    def __init__(
        self,
        poster: WebhookPoster,
        contact: ContactOf,
        place: Callable[[str], Place],
        body: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> None:
        self._poster = poster
        self._contact = contact
        self._place = place
        self._body = dict(body) if body is not None else DEFAULT_GATEWAY_BODY
        self._message = message or DEFAULT_GATEWAY_MESSAGE

    def fields(self, row: OutboxRow) -> dict[str, str]:
        """The template fields of one row (GATEWAY_FIELDS), `message` filled last; raises
        DeliveryError when the row names no contact the site file still has."""
        site = str(row.alert.get("site", ""))
        contact = self._contact(site, row.recipient) if row.recipient else None
        if contact is None:
            raise DeliveryError("no such contact in the site file (removed since?)")
        where = self._place(site)
        resident, _, contact_id = row.recipient.partition("/")
        out = {
            "phone": contact.e164,
            "channel": row.channel,
            "key": row.key,
            "reference": reference(row.key),
            "alert_id": str(row.alert_id),
            "site": site,
            "site_name": str(where.site.get("name") or site),
            "address": str(where.site.get("address") or ""),
            "rule": str(row.alert.get("rule", "")),
            "title": str(row.alert.get("title") or row.alert.get("rule", "")),
            "title_en": str(row.alert.get("title_en") or row.alert.get("rule", "")),
            "priority": str(row.alert.get("priority", "")),
            "step": row.note or "",
            "resident": resident,
            "contact": contact_id,
            "time": _local_hhmm(row.alert.get("raised_at"), where),
            "seq": str(row.seq),
        }
        out["message"] = self._message.format_map(out)
        return out

    def request(self, row: OutboxRow) -> bytes:
        """The JSON body of the row's request: the target's template, filled."""
        return orjson.dumps(fill(self._body, self.fields(row)))

    def send(self, row: OutboxRow) -> int:
        """POST the row's message to the gateway; DeliveryError when it did not take it."""
        return self._poster.post(self.request(row), JSON_CONTENT_TYPE, row.key)

    def close(self) -> None:
        """Close the poster's HTTP client at shutdown."""
        self._poster.close()
