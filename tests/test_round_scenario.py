"""examples/scenarios/round-missed-3am.yaml on a fake clock: a five-hour night in the demo
home played in well under a second. Each timeline step goes through the simulator's tag
reader model, the real decoder and the engine with the rounds' batch sink, and the
service's check runs every simulated minute as carewatch/patrols.py runs it. The 22:00
and 00:00 rounds are walked, the 02:00 one is not: `round_missed` is raised on
round:night at 03:15 exactly, and on nothing earlier."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from alerting.items import Incoming, StoreWrite
from devices.registry import Registry, load_site
from simulators import scenario as sc
from simulators.models.device import DeviceModel
from tests.conftest import ROOT
from tests.test_round_checkins import Patrol

SCENARIO = ROOT / "examples" / "scenarios" / "round-missed-3am.yaml"
SH = ZoneInfo("Asia/Shanghai")
MINUTE_MS = 60_000


def test_the_missed_round_at_3am_is_raised_at_0315(tmp_path: Path) -> None:
    loaded = sc.load(SCENARIO)
    assert loaded.site_file is not None
    registry: Registry = load_site(loaded.site_file)
    assert sc.problems(loaded, registry) == []
    p = Patrol(tmp_path / "cw.db", registry)
    start = int(datetime(2026, 12, 5, 21, 55, tzinfo=SH).timestamp() * 1000)
    p.clock.t = start
    steps = loaded.steps()
    models = {
        s.device: DeviceModel(d, random.Random(1))
        for s in steps
        if (d := registry.by_id(s.device)) is not None
    }
    raised: dict[str, int] = {}
    t = start
    end = start + int(loaded.length_s() * 1000)
    p.engine.process([StoreWrite(p.desk.start_watch())])  # the service starts watching
    while t <= end:
        p.clock.t = t
        while steps and start + int(steps[0].at_s * 1000) <= t:
            step = steps.pop(0)
            dev = registry.by_id(step.device)
            assert dev is not None and step.action is not None
            for out in models[step.device].act(step.action, dict(step.payload), t):
                out.payload.setdefault("id", f"{step.device}-{t}")
                topic = f"carewatch/v1/{dev.site}/{dev.id}/{out.kind}"
                d = p.decoder.decode(topic, json.dumps(out.payload).encode(), t)
                p.changes += p.engine.process([Incoming(d)]).changes
        for c in p.engine.process(list(p.desk.observations())).changes:
            if c.action == "raise":
                raised.setdefault(f"{c.alert.rule} {c.alert.device_id}", c.at)
        t += MINUTE_MS
    rows = p.rows("SELECT count(*), min(via), min(by) FROM round_checkins")
    assert rows == [(16, "reader", "nurse-wang")]
    [expect] = loaded.scenario.expect
    key = f"{expect.rule} {expect.device}"
    at = datetime.fromtimestamp(raised[key] / 1000, SH)
    assert at.strftime("%H:%M") == "03:15", raised
    assert [k for k in raised if k.startswith("round_missed")] == [key]
    alert = p.one("round_missed")
    assert alert.severity.value == expect.severity and alert.state.value == expect.state
    assert alert.value == "night 02:00 round (2026-12-06): 8 of 8 checkpoints missed"


def test_the_demo_homes_reader_walks_the_night_round_on_the_sites_clock(registry: Registry) -> None:
    """carewatch demo: the simulated tag reader reads the round's checkpoints one per report
    until all are read, only in a round and before its due time."""
    from simulators.models.patrol import Patrol

    site = registry.site
    assert site.rounds is not None
    dev = registry.get("sunrise", "tr-1f-duty")
    assert dev is not None
    model = DeviceModel(dev, random.Random(1))
    model.patrol = Patrol(site.rounds, SH, "nurse-li")
    t = int(datetime(2026, 12, 5, 22, 3, tzinfo=SH).timestamp() * 1000)
    tags = []
    for i in range(12):
        outs = model.periodic(t + i * 180_000)
        assert outs[0].kind == "telemetry"
        tags += [o.payload["tag"] for o in outs[1:]]
        assert all(o.payload["staff"] == "nurse-li" for o in outs[1:])
    assert tags == [c.tag for c in site.rounds.checkpoints]
    noon = int(datetime(2026, 12, 6, 12, 0, tzinfo=SH).timestamp() * 1000)
    late = int(datetime(2026, 12, 6, 0, 30, tzinfo=SH).timestamp() * 1000) + 3_600_000
    assert model.periodic(noon)[1:] == [] and model.periodic(late)[1:] == []
