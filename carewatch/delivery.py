"""The notification delivery of a running service: one worker per target of each set of
targets (the service's rules, a site's own rules file) scoped to the sites that use it,
exports apart from alerts, and the MQTT alert topic for every site."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from alerting import outbox
from alerting.contacts import ContactBook
from alerting.notify.gateway import GatewaySender
from alerting.notify.log import LogSender
from alerting.notify.sender import Sender
from alerting.notify.webhook import Place, WebhookPoster, WebhookSender
from alerting.notify.worker import DeliveryWorker, delivery_counter
from alerting.outbox import MQTT_TARGET, OutboxRow, Scope
from alerting.rulebook import Rulebook
from alerting.views import public_alert
from carewatch.settings import Settings
from devices.ports import Clock, Writer
from devices.registry import Registry
from ingest.alerttopic import AlertTopicPublisher


@dataclass(frozen=True)
class DeliveryWiring:
    """What every worker shares: its connections, the clock, the engine's writer (its
    delivered marks go in the engine's next transaction), the metrics."""

    connect: Callable[[], sqlite3.Connection]
    clock: Clock
    write: Writer
    metrics: CollectorRegistry


def places(registry: Registry, rules: Rulebook, service_id: str) -> Callable[[str], Place]:
    """Where an alert happened, for a notice, by site (remembered): the site's details and
    zone; the watch's own alerts name the service."""
    known: dict[str, Place] = {}

    def place(site_id: str) -> Place:
        found = known.get(site_id)
        if found is not None:
            return found
        site = registry.sites.get(site_id)
        if site is None:
            found = Place(
                {"id": site_id, "name": service_id}, rules.default.tz, f"carewatch@{service_id}"
            )
        else:
            info: dict[str, object] = {
                "id": site.id,
                "name": site.name,
                "address": site.address,
                "latitude": site.latitude,
                "longitude": site.longitude,
            }
            found = Place(info, rules.tz(site.id), f"carewatch@{site.id}")
        known[site_id] = found
        return found

    return place


def delivery_workers(
    settings: Settings,
    registry: Registry,
    rules: Rulebook,
    keys: Sequence[Mapping[str, bytes]],
    wiring: DeliveryWiring,
    service_id: str,
) -> tuple[AlertTopicPublisher | None, list[DeliveryWorker]]:
    """The MQTT alert topic's publisher (None without one) and every delivery worker;
    `keys`: each set of targets' HMAC keys by target name, in `rules.groups()` order."""
    counter = delivery_counter(wiring.metrics)
    place = places(registry, rules, service_id)
    contacts = ContactBook(registry, rules)  # a gateway reads the number when it sends

    def worker(
        name: str, sender: Sender, horizon_s: float, scope: Scope | None = None
    ) -> DeliveryWorker:
        return DeliveryWorker(
            name, sender, wiring.connect, wiring.clock, horizon_s, counter,
            write=wiring.write, scope=scope,
        )  # fmt: skip

    workers = []
    own = rules.own_sites()
    for (rs, sites), secrets in zip(rules.groups(), keys, strict=True):
        scope = Scope(only=sites) if sites is not None else Scope(not_=own) if own else None
        members = sites if sites is not None else set(registry.sites) - own
        exported = {registry.sites[s].export.notify for s in members}
        for name, target in rs.notify.targets.items():
            for lane in outbox.lanes(scope, name in exported):  # exports apart
                sender: Sender = LogSender()
                if target.kind == "gateway" and target.url:
                    sign = "bearer" if target.auth == "bearer" else target.signing
                    poster = WebhookPoster(
                        target.url, secrets[name], target.timeout_s, signing=sign
                    )
                    sender = GatewaySender(
                        poster, contacts.contact, place, target.body, target.message
                    )
                elif target.kind == "webhook" and target.url:
                    poster = WebhookPoster(
                        target.url, secrets[name], target.timeout_s, signing=target.signing
                    )
                    sender = WebhookSender(poster, target.format, place)
                workers.append(worker(name, sender, target.horizon_s, lane))
    topic = None
    if any(rs.notify.mqtt_alerts for rs, _ in rules.groups()) and settings.mqtt_url:
        topic = AlertTopicPublisher(
            settings.mqtt_url,
            settings.mqtt_client_id + "-alerts",
            settings.mqtt_prefix,
            ca_file=settings.mqtt_ca_file,
            service_id=service_id,
        )
        workers.append(worker(MQTT_TARGET, TopicSender(topic), 7 * 86400))
    return topic, workers


class TopicSender:
    """The MQTT alert topic as a delivery target."""

    def __init__(self, publisher: AlertTopicPublisher) -> None:
        self._pub = publisher

    def send(self, row: OutboxRow) -> int:
        """Publish the alert's state, retained; residents' names stay on the duty screen
        (the topic may have many readers)."""
        self._pub.publish(str(row.alert.get("site", "")), row.alert_id, public_alert(row.alert))
        return 0
