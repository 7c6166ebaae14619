"""The simulated home bed (`carewatch demo --sites 3`): its kit speaks the contract, and a
simulated ordinary day raises no welfare, door or gas alert."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from alerting.items import Incoming
from devices.decode import Decoder
from devices.model import DeviceEvent, Reading, Rejection
from devices.ports import FakeClock
from devices.registry import Registry, load_site
from simulators.models import DeviceModel, Out, actions_for
from tests.engine_harness import Harness
from tests.test_home_kit import at, home

HB_WANG = Path(__file__).resolve().parent.parent / "examples" / "sites" / "3-hb-wang.yaml"


def _topic(reg: Registry, dev_id: str, out: Out) -> str:
    dev = reg.by_id(dev_id)
    assert dev is not None
    if out.kind in ("zigbee", "availability"):
        prefix = reg.sites[dev.site].zigbee_prefix or "zigbee2mqtt"
        suffix = "/availability" if out.kind == "availability" else ""
        return f"{prefix}/{dev.friendly_name}{suffix}"
    return f"carewatch/v1/{dev.site}/{dev.id}/{out.kind}"


def test_every_message_of_the_simulated_kit_is_one_the_service_accepts() -> None:
    wang = load_site(HB_WANG)
    reg = Registry([wang.sites["hb-wang"], home()])  # Zigbee kit there, native kit here
    dec = Decoder(reg)
    decoded = []
    kit = [d for d in reg.devices() if d.type.name not in ("wearable", "smoke_detector")]
    for i, dev in enumerate(kit):
        m = DeviceModel(dev, random.Random(i), start_hour=6.0)
        outs: list[tuple[int, Out]] = []
        for k in range(200):
            outs += [(k, o) for o in m.periodic(at(7, 6) + k * 600_000, k * 600.0)]
        for action in actions_for(dev):
            if action not in ("link_down", "link_up"):
                outs += [(0, o) for o in m.act(action, {}, at(7, 9), 3 * 3600.0)]
        for _, out in outs:
            d = dec.decode(_topic(reg, dev.id, out), orjson.dumps(out.payload), at(7, 9))
            decoded.append((dev.id, d))
    rejected = [(d, r.reason, r.detail) for d, r in decoded if isinstance(r, Rejection)]
    assert rejected == []
    events = {(d, r.event) for d, r in decoded if isinstance(r, DeviceEvent)}
    assert {("hb-wang-call", e) for e in ("press", "cancel", "callback", "checkin")} <= events
    fields = {(d, f) for d, r in decoded if isinstance(r, Reading) for f in r.fields}
    for want in [
        ("hb-wang-gas", "gas"),
        ("hb-wang-door", "contact"),
        ("hb-wang-bed", "presence"),
        ("hb-t-gas", "gas"),
        ("hb-t-door", "contact"),
        ("hb-t-bed", "presence"),
    ]:
        assert want in fields, want


def test_a_simulated_ordinary_day_at_the_home_bed_raises_no_welfare_door_or_gas_alert(
    tmp_path: Path,
) -> None:
    wang = load_site(HB_WANG)
    reg = wang.only("hb-wang")
    start = at(7, 0)  # midnight in Hangzhou
    h = Harness(tmp_path / "cw.db", reg, FakeClock(start))
    dec = Decoder(reg, zigbee_prefix="zigbee2mqtt")
    kit = [d for d in reg.devices() if d.type.name not in ("wearable", "smoke_detector")]
    models = {d.id: DeviceModel(d, random.Random(i), start_hour=0.0) for i, d in enumerate(kit)}
    due = {d.id: models[d.id].next_at for d in kit}
    end_s = 36 * 3600.0  # a day and a half: two check-in hours
    while True:
        dev_id = min(due, key=lambda k: due[k])
        at_s = due[dev_id]
        if at_s > end_s:
            break
        m = models[dev_id]
        h.clock.t = start + int(at_s * 1000)
        for out in m.periodic(h.clock.t, at_s):
            d = dec.decode(_topic(reg, dev_id, out), orjson.dumps(out.payload), h.clock.t)
            assert not isinstance(d, Rejection), (dev_id, d)
            h.changes += h.engine.process([Incoming(d)]).changes
        due[dev_id] = at_s + m.every_s
    raised = {c.alert.rule for c in h.actions("raise")}
    assert not raised & {"no_activity", "daily_checkin", "door_open_night", "gas_leak"}, raised
