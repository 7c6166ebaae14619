"""The MQTT alert topic of a site's alert and of the watch's own: two services on one broker
never overwrite each other's retained system alerts (their alert ids overlap)."""

from __future__ import annotations

from devices.siteconfig import SYSTEM_SITE
from ingest.alerttopic import AlertTopicPublisher
from ingest.mqttauth import Grants, acl_text


def test_a_sites_alert_and_the_services_own_have_topics_of_their_own() -> None:
    a = AlertTopicPublisher("mqtt://127.0.0.1:1", "a-alerts", "carewatch/v1", service_id="north")
    b = AlertTopicPublisher("mqtt://127.0.0.1:1", "b-alerts", "carewatch/v1", service_id="south")
    assert a.topic("sunrise", 7) == "carewatch/v1/sunrise/alerts/7"
    assert a.topic(SYSTEM_SITE, 1) == "carewatch/v1/_system-north/alerts/1"
    assert b.topic(SYSTEM_SITE, 1) == "carewatch/v1/_system-south/alerts/1"


def test_the_services_broker_account_may_write_its_own_system_topic_only() -> None:
    g = Grants("carewatch-north", ("sunrise",), (), (), "carewatch/v1", "_system-north")
    acl = acl_text(g)
    assert "topic write carewatch/v1/_system-north/alerts/#" in acl
    assert "_system/alerts" not in acl and "_system-south" not in acl
