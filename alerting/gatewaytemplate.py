"""The SMS/voice gateway's templates as data: which `{field}`s a gateway target's body and
message may name, and the defaults. The rules file's check (alerting/ruleset.py) and the
notifier that fills them (alerting/notify/gateway.py) read this one table."""

from __future__ import annotations

import string
from typing import Any

# what a gateway target's body and message templates may name (alerting/notify/gateway.py)
GATEWAY_FIELDS = frozenset(
    {
        "phone",  # the contact's number, E.164
        "channel",  # sms or voice
        "message",  # the text to send or speak (the `message` template, filled)
        "key",  # the Idempotency-Key
        "reference",  # the same for every message about one alert
        "alert_id",
        "site",  # site id
        "site_name",
        "address",
        "rule",
        "title",  # the rule's title (Chinese)
        "title_en",
        "priority",
        "step",  # the escalation step: family_1, community, ...
        "resident",  # the resident's id (never the name)
        "contact",  # the contact's id (daughter...)
        "time",  # when the alert was raised, site local HH:MM
        "seq",
    }
)
DEFAULT_GATEWAY_BODY: dict[str, Any] = {
    "to": "{phone}",
    "channel": "{channel}",
    "text": "{message}",
    "reference": "{reference}",
    "key": "{key}",
    "alert_id": "{alert_id}",
    "site": "{site}",
}
DEFAULT_GATEWAY_MESSAGE = (
    "【CareWatch】{title}：{address}，{time}。请尽快联系老人或回电呼叫中心。"
    " {title_en} at {address}, {time}: please check on them or call the centre back."
)


def template_fields(template: object) -> set[str]:
    """Every `{field}` named in a template (a string, or lists and mappings of them);
    ValueError when a string is no format string."""
    if isinstance(template, str):
        return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    if isinstance(template, dict):
        return set().union(*(template_fields(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(template_fields(v) for v in template))
    return set()
