"""What a webhook carries (PROTOCOL.md, "Alert outputs"): versioned JSON or OASIS CAP 1.2
XML, signed with HMAC-SHA256 over the body. Bytes in, bytes out; the only I/O is reading
the shipped catalog once, on the first CAP notice written without `texts`.

JSON follows Prometheus Alertmanager's webhook: a `version`, a stable `reference` per alert
(Alertmanager's group key), `status` firing/resolved, and the alert itself.

CAP 1.2 (urn:oasis:names:tc:emergency:cap:1.2): one `<alert>` per notice; the first
message about an alert to a target is msgType Alert, later ones Update (Cancel for a
dismissed false alarm) with `<references>` naming the first, so the receiver threads them.

Field choices, kept simple:
- urgency: Immediate for `emergency` priority, Expected otherwise, Past once resolved;
- severity: critical/high/medium/low -> Extreme/Severe/Moderate/Minor;
- certainty: Observed when a person or a second sensor confirmed it (staff `confirm`,
  a confirming fire alarm such as a manual call point or a second detector, a forward
  "confirmed ..." by the fire policy, a call button pressed by someone); Unlikely for a
  Cancel (dismissed as a false alarm); Likely otherwise (one sensor's reading).

Every human text of a CAP notice (line labels, state and action names, instructions,
headline and place wording) comes from the catalog's `cap` namespace (devices/catalog):
one `<info>` in Chinese with English beside it, "zh / en", as `CapTexts` puts it.

A resident's name (`resident_name`) is shown on the duty screen only: it is never put in a
webhook (alerting.views.PRIVATE_FIELDS).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal, get_args

import orjson

from alerting.views import public_alert
from devices.catalog import Catalog, load_catalog

JSON_CONTENT_TYPE = "application/json"
CAP_CONTENT_TYPE = "application/cap+xml"
JSON_VERSION = "1"
CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
RESOLVED_STATES = frozenset({"closed", "cleared_unack"})
RESOLVED_ACTIONS = frozenset({"dismiss", "resolve", "clear"})
HEADLINE_MAX = 160  # CAP 1.2: "SHOULD be made as direct and actionable as possible ... 160"
PARAM_PREFIX = "carewatch:"

MsgType = Literal["Alert", "Update", "Cancel"]
Category = Literal["Fire", "Health", "Safety", "Infra"]

_SEVERITY = {"critical": "Extreme", "high": "Severe", "medium": "Moderate", "low": "Minor"}
# XML 1.0 forbids most control characters; ElementTree would write them and make the
# document unreadable, so they are dropped from every text.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# CAP 1.2: identifier and sender "MUST NOT include spaces, commas or restricted characters
# (< and &)"; escaped as %XX (and '%' itself) so distinct inputs stay distinct.
_CAP_UNSAFE = re.compile(r"[\s,<>&%\"']")


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification of one alert to one target (an outbox row, ready to send)."""

    key: str  # the Idempotency-Key, stable across retries
    reference: str  # stable per (site, alert): e.g. "carewatch:sunrise:42"
    seq: int  # 1, 2, 3... per (alert, target): the order of messages about one alert
    msg_type: MsgType
    action: str  # raise, repeat, escalate, renotify, forward, ack, clear, resolve, dismiss...
    target: str  # notifier target name, e.g. "fire_brigade", "supervisor"
    sent_ms: int  # when this notice was created (epoch ms)
    first_sent_ms: int  # when seq 1 for this (alert, target) was created (CAP references)
    alert: Mapping[str, Any]  # the API's alert JSON (alerting.views.AlertView)
    site: Mapping[str, Any]  # id, name, address, latitude, longitude
    note: str | None = None  # e.g. the dismissal reason
    category: Category = "Safety"


# ---------------------------------------------------------------------------- common


def is_resolved(n: Notice) -> bool:
    """Alertmanager's "resolved": the alert is over (closed, or cleared and waiting for an
    acknowledgement), or this notice closes it (dismiss, resolve, clear)."""
    return n.alert.get("state") in RESOLVED_STATES or n.action in RESOLVED_ACTIONS


def rfc3339_ms(ms: int) -> str:
    """Epoch ms as the API writes times: UTC, milliseconds, 'Z'."""
    return (
        datetime.fromtimestamp(ms / 1000, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def cap_time(ms: int, tz: tzinfo = UTC) -> str:
    """CAP's dateTime: whole seconds and a numeric offset ("+08:00", "+00:00"), no 'Z'."""
    return datetime.fromtimestamp(ms // 1000, tz).isoformat(timespec="seconds")


def cap_safe(text: str) -> str:
    """Text usable as a CAP identifier or sender: spaces, commas, '<', '&' (and '>', quotes,
    '%') percent-encoded."""
    return _CAP_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), text)


def _str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return str(v)


# ---------------------------------------------------------------------------- JSON


def to_json(n: Notice) -> bytes:
    """The versioned JSON body (UTF-8, Chinese kept as is)."""
    a = n.alert
    site = n.site
    doc = {
        "version": JSON_VERSION,
        "key": n.key,
        "reference": n.reference,
        "seq": n.seq,
        "status": "resolved" if is_resolved(n) else "firing",
        "action": n.action,
        "msg_type": n.msg_type,
        "target": n.target,
        "category": n.category,
        "sent": rfc3339_ms(n.sent_ms),
        "first_sent": rfc3339_ms(n.first_sent_ms),
        "site": {
            "id": site.get("id"),
            "name": site.get("name"),
            "address": site.get("address"),
            "latitude": site.get("latitude"),
            "longitude": site.get("longitude"),
        },
        "location": {
            "floor": a.get("floor"),
            "room": a.get("room"),
            "bed": a.get("bed"),
            "address": site.get("address"),
        },
        "device": {"id": a.get("device_id"), "type": a.get("device_type")},
        "alert": public_alert(a),
        "note": n.note,
    }
    return orjson.dumps(doc)


# ---------------------------------------------------------------------------- CAP


def cap_identifier(reference: str, seq: int) -> str:
    """The CAP `<identifier>` of one message about an alert: its reference and sequence number, made
    CAP-safe, so each message is unique and the first is citable."""
    return cap_safe(f"{reference}:{seq}")


def certainty(n: Notice) -> str:
    """See the module doc: Observed / Likely / Unlikely."""
    if n.msg_type == "Cancel":
        return "Unlikely"
    a = n.alert
    if (
        n.action == "confirm"
        or a.get("fire") == "forward"
        or (n.action == "forward" and (n.note or "").startswith("confirmed"))
        or a.get("device_type") == "call_button"
    ):
        return "Observed"
    return "Likely"


def urgency(n: Notice) -> str:
    """CAP urgency: Past once resolved or cancelled, else Immediate for the `emergency` priority and
    Expected for the rest."""
    if n.msg_type == "Cancel" or is_resolved(n):
        return "Past"
    return "Immediate" if n.alert.get("priority") == "emergency" else "Expected"


def _local(rfc3339: Any, tz: tzinfo) -> str | None:
    """An API time shown in the site's zone ("2026-11-23 16:00:00+08:00")."""
    if not isinstance(rfc3339, str) or not rfc3339:
        return None
    try:
        t = datetime.fromisoformat(rfc3339)
    except ValueError:
        return rfc3339
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(tz).isoformat(sep=" ", timespec="seconds")


class CapTexts:
    """The wording of CAP notices, from the catalog's `cap` namespace: the headline in the
    `<info>`'s language (`main`, zh), every other human text in both, "main / second"."""

    def __init__(self, catalog: Catalog, main: str = "zh", second: str = "en") -> None:
        self._cat = catalog
        self.main = main
        self.second = second
        # the <info>'s language tag, e.g. "zh-CN"
        self.language = catalog.get(main, "_meta.lang") or main

    def one(self, key: str, **values: object) -> str:
        """`cap.<key>` in the main language."""
        return self._cat.text(self.main, f"cap.{key}", **values)

    def both(self, key: str, **values: object) -> str:
        """`cap.<key>` as "main / second"."""
        second = self._cat.text(self.second, f"cap.{key}", **values)
        return f"{self.one(key, **values)} / {second}"

    def line(self, label: str, value: str) -> str:
        """One description line: "事件 / What: <value>"."""
        return f"{self.both('label.' + label)}: {value}"

    def name(self, kind: str, code: str) -> str:
        """A state's or action's name as "main / second"; the code itself where the catalog
        has no name for it."""
        main = self._cat.get(self.main, f"cap.{kind}.{code}") or code
        second = self._cat.get(self.second, f"cap.{kind}.{code}") or code
        return f"{main} / {second}"

    def place(self, key: str, **values: object) -> str:
        """Floor, room or bed: "3层 (floor 3)"."""
        second = self._cat.text(self.second, f"cap.place.{key}", **values)
        return f"{self.one('place.' + key, **values)} ({second})"


def cap_texts() -> CapTexts:
    """The shipped catalog's CAP wording (read on first use)."""
    return CapTexts(load_catalog())


def _place(a: Mapping[str, Any], texts: CapTexts) -> str:
    return ", ".join(
        texts.place(key, **{key: a[key]}) for key in ("floor", "room", "bed") if _str(a.get(key))
    )


def headline(n: Notice, texts: CapTexts) -> str:
    """In the `<info>`'s language only: CAP asks for it short (HEADLINE_MAX)."""
    a = n.alert
    title = _str(a.get("title")) or _str(a.get("rule")) or "CareWatch"
    room = _str(a.get("room"))
    text = texts.one("headline.room", title=title, room=room) if room else title
    if n.msg_type == "Cancel":
        text = texts.one("headline.cancel", title=text)
    elif is_resolved(n):
        text = texts.one("headline.all_clear", title=text)
    if len(text) > HEADLINE_MAX:
        text = text[: HEADLINE_MAX - 1] + "…"
    return text


def description(n: Notice, texts: CapTexts, tz: tzinfo = UTC) -> str:
    """What, where, when, occurrences, state and value, in Chinese and English."""
    a = n.alert
    site = n.site
    title = _str(a.get("title")) or _str(a.get("rule")) or ""
    title_en = _str(a.get("title_en")) or _str(a.get("rule")) or ""
    lines = [texts.line("what", f"{title} / {title_en}")]
    where = ", ".join(
        p for p in (_str(site.get("name")), _str(site.get("address")), _place(a, texts)) if p
    )
    if where:
        lines.append(texts.line("where", where))
    if _str(a.get("device_id")):
        lines.append(texts.line("device", f"{a['device_id']} ({a.get('device_type') or '?'})"))
    raised = _local(a.get("raised_at"), tz)
    if raised:
        lines.append(texts.line("raised", raised))
    acked = _local(a.get("acknowledged_at"), tz)
    if acked:
        by = _str(a.get("acknowledged_by"))
        lines.append(texts.line("acknowledged", acked + (f" ({by})" if by else "")))
    cleared = _local(a.get("cleared_at"), tz)
    if cleared:
        lines.append(texts.line("cleared", cleared))
    if a.get("occurrences") is not None:
        lines.append(texts.line("occurrences", str(a["occurrences"])))
    state = _str(a.get("state"))
    if state:
        lines.append(texts.line("state", texts.name("state", state)))
    lines.append(texts.line("action", texts.name("action", n.action)))
    if _str(a.get("value")):
        lines.append(texts.line("value", str(a["value"])))
    if n.note:
        lines.append(texts.line("note", n.note))
    return "\n".join(lines)


def instruction(n: Notice, texts: CapTexts) -> str:
    """What the reader should do, "main / second": the cancel or all-clear wording, else the
    instruction of the notice's category."""
    if n.msg_type == "Cancel":
        return texts.both("instruction.cancel")
    if is_resolved(n):
        return texts.both("instruction.all_clear")
    kind = n.category if n.category in get_args(Category) else "Safety"
    return texts.both("instruction." + kind.lower())


def _coordinate(v: Any, limit: float) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    if f != f or abs(f) > limit:  # NaN or out of range
        return None
    return f


def _num(f: float) -> str:
    return f"{f:.6f}".rstrip("0").rstrip(".")


def area_desc(n: Notice, texts: CapTexts) -> str:
    """CAP's `<areaDesc>`: site name, address and the alert's floor, room and bed, or at least the
    site id (CAP requires the element)."""
    site = n.site
    parts = [_str(site.get("name")), _str(site.get("address")), _place(n.alert, texts) or None]
    return " ".join(p for p in parts if p) or _str(site.get("id")) or "CareWatch"


def circle(site: Mapping[str, Any]) -> str | None:
    """CAP circle "lat,lon radius_km": 100 m around the site, when its position is known."""
    lat = _coordinate(site.get("latitude"), 90)
    lon = _coordinate(site.get("longitude"), 180)
    if lat is None or lon is None:
        return None
    return f"{_num(lat)},{_num(lon)} 0.1"


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text)


def _add(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        el.text = _clean(text)
    return el


def _pair(parent: ET.Element, tag: str, name: str, value: str) -> None:
    el = _add(parent, tag)
    _add(el, "valueName", name)
    _add(el, "value", value)


def to_cap(n: Notice, sender: str, *, tz: tzinfo = UTC, texts: CapTexts | None = None) -> bytes:
    """The notice as one CAP 1.2 `<alert>` (UTF-8). `tz` is the zone its times are written in
    (e.g. ZoneInfo("Asia/Shanghai") gives "+08:00"); UTC gives "+00:00". `texts`: the
    wording (default: the shipped catalog's)."""
    texts = texts or cap_texts()
    a = n.alert
    safe_sender = cap_safe(sender)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _add(root, "identifier", cap_identifier(n.reference, n.seq))
    _add(root, "sender", safe_sender)
    _add(root, "sent", cap_time(n.sent_ms, tz))
    _add(root, "status", "Actual")
    _add(root, "msgType", n.msg_type)
    _add(root, "scope", "Public")
    if n.note and n.msg_type == "Cancel":
        _add(root, "note", n.note)
    if n.msg_type != "Alert" and n.seq > 1:
        first = cap_identifier(n.reference, 1)
        _add(root, "references", f"{safe_sender},{first},{cap_time(n.first_sent_ms, tz)}")

    info = _add(root, "info")
    _add(info, "language", texts.language)
    _add(info, "category", n.category)
    _add(info, "event", _str(a.get("title")) or _str(a.get("rule")) or "CareWatch")
    if n.msg_type == "Cancel" or is_resolved(n):
        _add(info, "responseType", "AllClear")
    _add(info, "urgency", urgency(n))
    _add(info, "severity", _SEVERITY.get(str(a.get("severity")), "Unknown"))
    _add(info, "certainty", certainty(n))
    if _str(n.site.get("name")):
        _add(info, "senderName", str(n.site["name"]))
    _add(info, "headline", headline(n, texts))
    _add(info, "description", description(n, texts, tz))
    _add(info, "instruction", instruction(n, texts))
    params = {
        "reference": n.reference,
        "seq": str(n.seq),
        "alert_id": _str(a.get("id")),
        "rule": _str(a.get("rule")),
        "action": n.action,
        "target": n.target,
        "state": _str(a.get("state")),
        "priority": _str(a.get("priority")),
        "device_id": _str(a.get("device_id")),
        "key": n.key,
    }
    for name, value in params.items():
        if value is not None:
            _pair(info, "parameter", PARAM_PREFIX + name, value)

    area = _add(info, "area")
    _add(area, "areaDesc", area_desc(n, texts))
    c = circle(n.site)
    if c is not None:
        _add(area, "circle", c)
    if _str(n.site.get("id")):
        _pair(area, "geocode", PARAM_PREFIX + "site", str(n.site["id"]))

    body: bytes = ET.tostring(
        root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS
    )
    return body
