"""Zigbee2MQTT watched as a system: each gateway's bridge/state is an alert of the sites
it carries (and its end a clear), its bridge/devices list is checked against the site
files, and each Zigbee device's levels outlive a restart so a standing `smoke: true` is no
new alarm (devices/bridge.py, ingest/zigbee.py)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from alerting.engine import Engine
from alerting.items import Incoming
from alerting.model import Alert
from alerting.ruleset import RuleSet, RuleSetFile
from devices.bridge import Gateway, check, parse_devices, site_check, zigbee_bases
from devices.decode import Decoder
from devices.model import (
    BridgeDevice,
    BridgeDevices,
    BridgeState,
    Decoded,
    DeviceEvent,
    Reading,
    Rejection,
)
from devices.ports import FakeClock
from devices.registry import Registry, load_sites
from devices.siteconfig import SYSTEM_SITE
from ingest.deadletter import DeadLetterLog
from ingest.spool import Spool
from ingest.sqlite import connect
from ingest.zigbee import ZigbeeBook
from tests.conftest import ROOT

SITES = ROOT / "examples" / "sites"
RV, HB = "zigbee2mqtt-riverside", "zigbee2mqtt-hb-wang"
NOW = 1_795_316_645_000
SMOKE = "rv-z-smoke-kitchen"  # 1F/kitchen/smoke, SMSZB-120
ALARM = b'{"smoke":true,"test":false,"trouble":false,"tamper":false,"battery":100}'
CALM = b'{"smoke":false,"test":false,"trouble":false,"tamper":false,"battery":100}'


def entry(name: str, ieee: str, model: str | None = "SJCGQ11LM", **more: object) -> dict:
    """One entry of bridge/devices as Zigbee2MQTT publishes it (the fields read, and some
    of the many it also sends)."""
    definition = None if model is None else {"model": model, "vendor": "Aqara", "exposes": []}
    return {
        "ieee_address": ieee,
        "type": "EndDevice",
        "network_address": 4242,
        "supported": model is not None,
        "friendly_name": name,
        "disabled": False,
        "definition": definition,
        "power_source": "Battery",
        "interview_completed": True,
        "interviewing": False,
        **more,
    }


COORDINATOR = {
    "ieee_address": "0x00124b0022aa3d1c",
    "type": "Coordinator",
    "network_address": 0,
    "supported": True,
    "friendly_name": "Coordinator",
    "disabled": False,
    "definition": None,
    "interview_completed": True,
    "interviewing": False,
}


def hb_list() -> list[dict]:
    """hb-wang's gateway: its leak sensor, its motion sensor half-interviewed, a lamp
    nobody registered, and the rest of its home-bed kit (gas, door, bed)."""
    return [
        COORDINATOR,
        entry("bathroom-leak", "0x00158d0001a2b3c4"),
        entry("living-room-motion", "0x00158d0001a2b3c5", "RTCGQ11LM", interview_completed=False),
        entry("Mrs Wang's lamp", "0x00158d0001a2b3c6", None, type="Router"),
        entry("kitchen-gas", "0x00158d0001a2b3c7", "JTQJ-BF-01LM/BW", power_source="Mains"),
        entry("entrance-door", "0x00158d0001a2b3c8", "MCCGQ11LM"),
        entry("bedroom-bed", "0xa4c1380000b2b3c9", "TS0601_bed_presence_sensor"),
    ]


@pytest.fixture(scope="module")
def sites() -> Registry:
    return load_sites(SITES)


# --- topics ------------------------------------------------------------------------------


def test_each_gateway_of_a_site_with_zigbee_devices_is_read_on_the_alarm_lane(sites):
    dec = Decoder(sites)
    events, telemetry = dec.subscriptions("events"), dec.subscriptions("telemetry")
    for base in (RV, HB):
        assert f"{base}/bridge/state" in events and f"{base}/bridge/devices" in events
    # sunrise registered no Zigbee device: its (default) gateway is not read
    assert not [s for s in events + telemetry if s.startswith("zigbee2mqtt/")]
    assert not [s for s in telemetry if "/bridge/" in s]  # retained: never a shared lane
    assert zigbee_bases(sites, "zigbee2mqtt") == {RV: ("riverside",), HB: ("hb-wang",)}


def test_two_sites_on_one_gateway_read_its_topics_once_and_both_hear_it(tmp_path):
    for sid in ("one", "two"):
        (tmp_path / f"{sid}.yaml").write_text(
            f"id: {sid}\nname: {sid}\nfloors: [{{id: '1', rooms: [{{id: '101'}}]}}]\n"
            f"devices:\n  - {{id: leak-{sid}, type: water_leak, room: '101',"
            f" source: zigbee2mqtt, friendly_name: {sid}/leak}}\n",
            encoding="utf-8",
        )
    dec = Decoder(load_sites(tmp_path))
    assert dec.subscriptions("events").count("zigbee2mqtt/bridge/state") == 1
    m = dec.decode("zigbee2mqtt/bridge/state", b'{"state":"offline"}', NOW)
    assert m == BridgeState("zigbee2mqtt", ("one", "two"), False, NOW)
    bad = dec.decode("zigbee2mqtt/bridge/state", b"asleep", NOW)
    assert isinstance(bad, Rejection) and bad.site is None  # of no one site


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b'{"state":"online"}', True),
        (b'{"state":"offline"}', False),
        (b"online", True),  # the legacy availability payload
        (b"offline", False),
    ],
)
def test_bridge_state_is_the_gateway_online_or_offline(sites, payload, online):
    m = Decoder(sites).decode(f"{RV}/bridge/state", payload, NOW)
    assert m == BridgeState(RV, ("riverside",), online, NOW)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"state":"rebooting"}', "wrong_type"),
        (b'{"state":1}', "wrong_type"),
        (b"[1]", "wrong_type"),
        (b"", "wrong_type"),
        (b'{"state":"' + b"x" * 9000 + b'"}', "too_large"),
    ],
)
def test_an_invalid_bridge_state_is_a_rejection_of_its_site(sites, payload, reason):
    m = Decoder(sites).decode(f"{RV}/bridge/state", payload, NOW)
    assert isinstance(m, Rejection) and (m.reason, m.site) == (reason, "riverside"), m


def test_bridge_devices_is_read_with_the_fields_the_check_needs(sites):
    m = Decoder(sites).decode(f"{HB}/bridge/devices", orjson.dumps(hb_list()), NOW)
    assert isinstance(m, BridgeDevices) and (m.base, m.sites) == (HB, ("hb-wang",))
    coordinator, leak, motion, lamp, *_kit = m.devices
    assert coordinator.type == "Coordinator" and coordinator.model is None
    assert leak == BridgeDevice(
        "bathroom-leak", "0x00158d0001a2b3c4", "EndDevice", True, True, False, "SJCGQ11LM", "Aqara"
    )
    assert not motion.interview_completed
    assert (lamp.supported, lamp.model, lamp.type) == (False, None, "Router")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "bad_json"),
        (b'{"devices":[]}', "wrong_type"),
        (b"[1]", "wrong_type"),
        (b'[{"ieee_address":"0x1"}]', "missing_field"),
    ],
)
def test_an_invalid_device_list_is_a_rejection(sites, payload, reason):
    m = Decoder(sites).decode(f"{HB}/bridge/devices", payload, NOW)
    assert isinstance(m, Rejection) and (m.reason, m.site) == (reason, "hb-wang"), m


# --- the check ---------------------------------------------------------------------------


def test_the_check_finds_missing_unregistered_and_half_paired_devices(sites):
    gateway = Gateway(HB, devices=parse_devices(orjson.dumps(hb_list())))
    c = site_check(sites, "zigbee2mqtt", "hb-wang", {HB: gateway})
    assert c.base == HB and [d.id for d in c.registered] == [
        *("hb-wang-gas", "hb-wang-leak", "hb-wang-door", "hb-wang-motion", "hb-wang-bed")
    ]
    assert c.missing == () and [d.id for d in c.not_interviewed] == ["hb-wang-motion"]
    assert [b.friendly_name for b in c.unregistered] == ["Mrs Wang's lamp"]  # not Coordinator
    # riverside's gateway: three renamed, one unsupported, one of another model, one off
    listed = [
        entry("2F/204/bathroom-sos", "0x01", "TS0215A_sos"),
        entry("3F/305/bathroom-sos", "0x02", None),
        entry("2F/204/bathroom-leak", "0x03", "SJCGQ12LM"),
        entry("1F/kitchen/sink-leak", "0x04", disabled=True),
        entry("1F/kitchen/smoke", "0x05", "SMSZB-120"),
    ]
    rv = Gateway(RV, devices=parse_devices(orjson.dumps(listed)))
    c = site_check(sites, "zigbee2mqtt", "riverside", {RV: rv})
    assert [d.id for d in c.missing] == ["rv-z-motion-2f", "rv-z-vib-walker-301"]
    assert [d.id for d in c.unsupported] == ["rv-z-sos-305"]
    assert [(d.id, m) for d, m in c.other_model] == [("rv-z-leak-204", "SJCGQ12LM")]
    assert [d.id for d in c.disabled] == ["rv-z-leak-kitchen"]
    assert c.unregistered == () and c.problems()


def test_without_a_list_only_what_is_registered_is_said(sites):
    c = site_check(sites, "zigbee2mqtt", "hb-wang", {})
    assert c.gateway is None and len(c.registered) == 5 and not c.problems()
    none = site_check(sites, "zigbee2mqtt", "sunrise", {})
    assert none.base is None and none.registered == ()


def test_a_device_of_another_site_on_the_same_gateway_is_not_unregistered(sites):
    leak, motion = (sites.by_id(i) for i in ("hb-wang-leak", "hb-wang-motion"))
    assert leak is not None and motion is not None
    theirs = replace(motion, site="next-door")  # registered by the gateway's other site
    paired = parse_devices(orjson.dumps(hb_list()[:3]))
    c = check("hb-wang", HB, [leak, theirs], Gateway(HB, devices=paired))
    assert c.registered == (leak,) and c.unregistered == ()
    assert c.not_interviewed == ()  # the other site's device: its own site's check says it


# --- the engine ----------------------------------------------------------------------------


class Watch:
    """An engine over the example sites with the service's sinks, fed by a decoder seeded
    from the database as the runtime does."""

    def __init__(self, path: Path, registry: Registry, rules: RuleSet | None = None) -> None:
        self.path, self.registry = path, registry
        self.rules = rules or RuleSet.defaults()
        self.clock = FakeClock(NOW)
        self.start()

    def start(self) -> None:
        self.conn = connect(self.path, synchronous="OFF")
        self.book = ZigbeeBook(self.registry, "zigbee2mqtt")
        sinks = [Spool(embedded=True), DeadLetterLog(), self.book]
        self.engine = Engine(
            self.conn, self.registry, self.rules, self.clock, sinks, CollectorRegistry()
        )
        self.engine.setup()
        self.decoder = Decoder(self.registry, levels=ZigbeeBook.levels(self.conn))

    def restart(self) -> None:
        self.conn.close()
        self.start()

    def send(self, topic: str, payload: bytes) -> Decoded:
        self.clock.advance(1)
        d = self.decoder.decode(topic, payload, self.clock.now_ms())
        self.engine.process([Incoming(d)])
        return d

    def open(self, rule: str) -> list[Alert]:
        return [a for a in self.engine.open_alerts() if a.rule == rule]


def test_a_gateway_offline_is_an_alert_of_its_site_at_once_and_online_clears_it(tmp_path, sites):
    w = Watch(tmp_path / "cw.db", sites)
    w.send(f"{RV}/bridge/state", b'{"state":"online"}')
    assert w.open("zigbee_bridge_offline") == []
    w.send(f"{RV}/bridge/state", b'{"state":"offline"}')
    [a] = w.open("zigbee_bridge_offline")
    assert (a.site, a.device_id) == ("riverside", "system:zigbee_bridge") and a.site != SYSTEM_SITE
    assert (a.severity.value, a.priority, a.raised_at) == ("high", "trouble", w.clock.now_ms())
    assert a.value == f"{RV}/bridge/state: offline"
    # the retained offline again (a reconnect, a restart): the same alert, no new occurrence
    w.send(f"{RV}/bridge/state", b"offline")
    w.restart()
    w.send(f"{RV}/bridge/state", b'{"state":"offline"}')
    [again] = w.open("zigbee_bridge_offline")
    assert (again.id, again.occurrences) == (a.id, 1)
    w.send(f"{RV}/bridge/state", b'{"state":"online"}')
    [cleared] = w.open("zigbee_bridge_offline")
    assert cleared.state.value == "cleared_unack" and cleared.condition_cleared_at is not None
    assert ZigbeeBook.gateways(w.conn)[RV].online is True


def test_a_site_may_give_its_gateway_an_on_delay_or_turn_the_rule_off(tmp_path, sites):
    text = {"overrides": [{"rule": "zigbee_bridge_offline", "set": {"for_s": 30}}]}
    w = Watch(tmp_path / "cw.db", sites, RuleSet.from_file(RuleSetFile.model_validate(text)))
    w.send(f"{HB}/bridge/state", b"offline")
    assert w.open("zigbee_bridge_offline") == []
    w.clock.advance(30)
    w.engine.process([])
    [a] = w.open("zigbee_bridge_offline")  # a Zigbee2MQTT restart is shorter than that
    assert a.site == "hb-wang"
    off = {"overrides": [{"rule": "zigbee_bridge_offline", "set": {"enabled": False}}]}
    w = Watch(tmp_path / "off.db", sites, RuleSet.from_file(RuleSetFile.model_validate(off)))
    w.send(f"{HB}/bridge/state", b"offline")
    assert w.open("zigbee_bridge_offline") == []


def test_a_device_list_is_kept_and_its_mismatches_logged_by_id_only(tmp_path, sites, caplog):
    w = Watch(tmp_path / "cw.db", sites)
    with caplog.at_level(logging.INFO, logger="carewatch.ingest.zigbee"):
        w.send(f"{HB}/bridge/devices", orjson.dumps(hb_list()))
    [record] = [r for r in caplog.records if "do not match" in r.getMessage()]
    assert record.__dict__["not_interviewed"] == ["hb-wang-motion"]
    assert record.__dict__["unregistered_ieee"] == ["0x00158d0001a2b3c6"]
    assert "Wang" not in caplog.text and "lamp" not in caplog.text  # a name, never logged
    stored = ZigbeeBook.gateways(w.conn)[HB]
    assert stored.devices is not None and len(stored.devices) == 7 and stored.online is None
    c = w.book.check(lambda: connect(w.path, readonly=True), "hb-wang")
    assert [b.ieee_address for b in c.unregistered] == ["0x00158d0001a2b3c6"]


def test_a_standing_smoke_alarm_is_no_new_alarm_after_a_restart(tmp_path, sites):
    w = Watch(tmp_path / "cw.db", sites)
    topic = "zigbee2mqtt-riverside/1F/kitchen/smoke"
    first = w.send(topic, ALARM)
    assert isinstance(first, DeviceEvent) and first.event == "smoke_alarm"
    assert first.zigbee_levels is not None and first.zigbee_levels["smoke"] is True
    [a] = w.open("smoke")
    assert ZigbeeBook.levels(w.conn)[SMOKE]["smoke"] is True
    for _ in range(2):
        w.restart()  # the decoder starts from the stored levels
        again = w.send(topic, ALARM)  # the retained or next state message
        assert isinstance(again, Reading), again
        [same] = w.open("smoke")
        assert (same.id, same.occurrences) == (a.id, 1)
    gone = w.send(topic, CALM)
    assert isinstance(gone, DeviceEvent) and gone.event == "smoke_clear"
    [latched] = w.open("smoke")  # latched: it stays until a person resets it
    assert latched.condition_cleared_at == w.clock.now_ms()
    w.restart()
    assert ZigbeeBook.levels(w.conn)[SMOKE]["smoke"] is False
    back = w.send(topic, ALARM)  # a new fire after the clear is an alarm again
    assert isinstance(back, DeviceEvent) and back.event == "smoke_alarm"


def test_the_decoder_starts_from_the_stored_levels_of_registered_devices(tmp_path, sites):
    w = Watch(tmp_path / "cw.db", sites)
    w.send("zigbee2mqtt-riverside/1F/kitchen/smoke", ALARM)
    w.conn.execute("INSERT INTO zigbee_levels VALUES ('gone', 'riverside', '{\"smoke\": true}', 1)")
    levels = ZigbeeBook.levels(w.conn)
    assert set(levels) == {SMOKE, "gone"}  # a device since removed from the site file
    dec = Decoder(sites, levels=levels)
    standing = dec.decode("zigbee2mqtt-riverside/1F/kitchen/smoke", ALARM, NOW)
    assert isinstance(standing, Reading) and standing.zigbee_levels == levels[SMOKE]
    fresh = Decoder(sites).decode("zigbee2mqtt-riverside/1F/kitchen/smoke", ALARM, NOW)
    assert isinstance(fresh, DeviceEvent)  # without them: the old false alarm
