"""An outbox row as a Notice: its thread reference and its CAP category, which the
device-type table decides (DeviceType.concern), not a list of type names in code."""

from __future__ import annotations

import dataclasses

import pytest

from alerting.notify.notice import category, notice, reference
from alerting.outbox import next_pending
from devices.profiles import DEVICE_TYPES
from tests.outbox_rows import add, table


@pytest.mark.parametrize(
    ("device_type", "fire", "priority", "expected"),
    [
        ("smoke_detector", "watch", "emergency", "Fire"),
        ("smoke_detector", None, "trouble", "Fire"),  # a silent smoke detector
        ("call_point", "forward", "emergency", "Fire"),
        (None, "forward", "emergency", "Fire"),  # fire_confirmed: a floor, no one device
        ("wearable", None, "emergency", "Health"),
        ("call_button", None, "emergency", "Health"),
        ("wearable", None, "trouble", "Infra"),  # a wearable's battery
        ("water_pressure", None, "routine", "Safety"),
        ("water_pressure", None, "trouble", "Infra"),
        ("electrical_monitor", None, "routine", "Safety"),
        ("water_leak", None, "routine", "Safety"),
        ("motion_sensor", None, "routine", "Safety"),
        (None, None, "trouble", "Infra"),  # the service's own health
        ("not_a_type", None, "routine", "Safety"),
    ],
)
def test_category_of_todays_types(device_type, fire, priority, expected):
    alert = {"device_type": device_type, "fire": fire, "priority": priority}
    assert category(alert) == expected


def test_category_comes_from_the_table_not_from_names_in_code():
    pendant = dataclasses.replace(DEVICE_TYPES["motion_sensor"], name="pendant")
    heat = dataclasses.replace(DEVICE_TYPES["motion_sensor"], name="heat", concern="fire")
    care = dataclasses.replace(pendant, concern="health")
    alert = {"device_type": "pendant", "priority": "emergency"}
    assert category(alert, {"pendant": pendant}) == "Safety"
    assert category(alert, {"pendant": care}) == "Health"
    assert category({"device_type": "heat", "priority": "trouble"}, {"heat": heat}) == "Fire"


def test_reference_is_the_same_for_every_message_about_one_alert():
    assert reference("sunrise:i1:42:fire_brigade:1") == "carewatch:sunrise:i1:42"
    assert reference("sunrise:i1:42:supervisor:3") == "carewatch:sunrise:i1:42"


def test_notice_of_a_row():
    conn = table()
    add(conn, "supervisor", alert_id=42, seq=2, action="ack")
    row = next_pending(conn, "supervisor")
    assert row is not None
    site = {"id": "sunrise"}
    n = notice(row, site)
    assert (n.key, n.reference, n.seq, n.msg_type) == (
        "sunrise:i1:42:supervisor:2",
        "carewatch:sunrise:i1:42",
        2,
        "Update",
    )
    assert (n.action, n.target, n.sent_ms, n.first_sent_ms) == (
        "ack",
        "supervisor",
        row.created_ms,
        row.first_ms,
    )
    assert n.alert == row.alert and n.site == site and n.category == "Health"
