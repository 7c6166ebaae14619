"""Many sites in one service: a folder of site files checked as a whole, each site's own
messages, rules, zone and report, and a device of one site refused under another's topic."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from devices.registry import load_sites
from devices.siteconfig import SYSTEM_SITE
from devices.yamlconf import ConfigError
from tests.conftest import ROOT, wait_until
from tests.servers import CarewatchProcess

SITES = ROOT / "examples" / "sites"
HOME = 'name: H\nfloors: [{id: "1", rooms: [{id: "101"}]}]\n'


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text, encoding="utf-8")
    return p


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_sites(folder)
    return e.value.problems


def test_the_example_district_loads_two_homes_and_a_home_bed() -> None:
    reg = load_sites(SITES)
    assert reg.site_ids() == ["sunrise", "riverside", "hb-wang"]
    bed = reg.sites["hb-wang"]
    assert bed.kind == "home_bed" and [r.id for f in bed.floors for r in f.rooms] == ["home"]
    assert {d.site for d in reg.devices("hb-wang")} == {"hb-wang"}
    with pytest.raises(ValueError, match="watches 3 sites"):
        _ = reg.site  # code that forgot which site it serves fails loudly
    assert reg.only("riverside").site.id == "riverside"


def test_a_site_id_used_twice_names_the_second_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "id: one\n" + HOME)
    b = write(tmp_path, "b.yaml", "# the copy\nid: one\n" + HOME)
    [p] = problems_of(tmp_path)
    assert p.startswith(f"{b}:2: id:") and "site id 'one' is also" in p


def test_a_device_registered_in_two_sites_names_file_and_line(tmp_path: Path) -> None:
    dev = "devices:\n  - {id: w-1, type: wearable, room: '101'}\n"
    write(tmp_path, "a.yaml", "id: one\n" + HOME + dev)
    b = write(tmp_path, "b.yaml", "id: two\n" + HOME + dev)
    [p] = problems_of(tmp_path)
    assert p.startswith(f"{b}:5: devices.0.id:") and "already registered in site one" in p


def test_a_friendly_name_twice_under_one_zigbee_base_topic_is_refused(tmp_path: Path) -> None:
    z = (
        "devices:\n  - {id: %s, type: water_leak, room: '101', source: zigbee2mqtt,"
        " friendly_name: leak, model: SJCGQ11LM}\n"
    )
    write(tmp_path, "a.yaml", "id: one\n" + HOME + z % "z-1")
    write(tmp_path, "b.yaml", "id: two\n" + HOME + z % "z-2")
    [p] = problems_of(tmp_path)
    assert "friendly name 'leak' under zigbee2mqtt/" in p and "zigbee_prefix" in p
    # each site on its own gateway: fine
    write(tmp_path, "b.yaml", "id: two\nzigbee_prefix: z2m-two\n" + HOME + z % "z-2")
    assert len(load_sites(tmp_path)) == 2


def test_a_home_bed_needs_its_address_and_one_or_two_residents(tmp_path: Path) -> None:
    bed = "id: hb\nkind: home_bed\nname: Home bed\n"
    write(tmp_path, "hb.yaml", bed + "residents: [{id: r1, display_name: A}]\n")
    assert any("needs its address" in p for p in problems_of(tmp_path))
    people = ", ".join(f"{{id: r{i}, display_name: P{i}}}" for i in range(3))
    write(tmp_path, "hb.yaml", bed + f"address: 'Road 1'\nresidents: [{people}]\n")
    assert any("one or two residents" in p for p in problems_of(tmp_path))
    write(tmp_path, "hb.yaml", bed + "address: 'Road 1'\ntimezone: Mars/Olympus\n"
          "residents: [{id: r1, display_name: A}]\n")  # fmt: skip
    assert any("unknown zone" in p for p in problems_of(tmp_path))


def test_an_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "_draft.yaml").write_text("id: x\n")
    [p] = problems_of(tmp_path)
    assert "no site files" in p


@pytest.mark.integration
def test_one_service_keeps_each_sites_alerts_rules_zone_and_report_apart(
    tmp_path, broker, publisher, monkeypatch
) -> None:
    sites = tmp_path / "sites"
    sites.mkdir()
    for f in SITES.iterdir():
        (sites / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    # riverside keeps its own rules: its own target and another time zone
    (sites / "riverside-rules.yaml.rules").write_text(
        "timezone: Asia/Urumqi\nnotify:\n  targets:\n    riverside_office: {kind: log}\n"
        "escalation:\n  policies:\n    emergency: {steps: [{after_s: 0, notify: riverside_office}]}\n",
        encoding="utf-8",
    )
    rv = sites / "2-riverside.yaml"
    rv.write_text(
        rv.read_text(encoding="utf-8").replace(
            "zigbee_prefix:", "rules_file: riverside-rules.yaml.rules\nzigbee_prefix:"
        ),
        encoding="utf-8",
    )
    service = CarewatchProcess(
        tmp_path / "cw",
        broker.url,
        ROOT / "examples" / "demo-site.yaml",
        settings={"sites_dir": str(sites)},
        rules="notify:\n  targets:\n    supervisor: {kind: log}\n",
    )
    service.start()
    try:
        publisher.publish_all(
            [
                (
                    "carewatch/v1/sunrise/w-101-1/event",
                    orjson.dumps({"event": "fall", "id": "s-1"}),
                ),
                (
                    "carewatch/v1/riverside/rv-cb-101-1/event",
                    orjson.dumps({"event": "press", "id": "r-1"}),
                ),
                (
                    "carewatch/v1/hb-wang/hb-wang-call/event",
                    orjson.dumps({"event": "press", "id": "h-1"}),
                ),
                # a riverside device under sunrise's topic: refused, raises nothing anywhere
                (
                    "carewatch/v1/sunrise/rv-cb-101-2/event",
                    orjson.dumps({"event": "press", "id": "x-1"}),
                ),
            ],
            rate=50,
        )
        alerts = wait_until(
            lambda: (
                len(service.get("/api/alerts").json()) >= 3 and service.get("/api/alerts").json()
            ),
            10,
        )
        assert alerts, service.log()[-2000:]
        by_site = {
            (a["site"], a["device_id"], a["rule"]) for a in alerts if a["site"] != SYSTEM_SITE
        }
        assert by_site == {
            ("sunrise", "w-101-1", "fall"),
            ("riverside", "rv-cb-101-1", "call"),
            ("hb-wang", "hb-wang-call", "call"),
        }
        assert wait_until(lambda: service.get("/api/dead-letters").json(), 5)
        [dead] = [d for d in service.get("/api/dead-letters").json() if d["reason"] == "wrong_site"]
        assert dead["device_id"] == "rv-cb-101-2" and dead["site"] == "sunrise"

        # riverside's call went to riverside's own target, the others' to the service's
        def targets() -> set[tuple[str, str]]:
            rows = service.get("/api/notifications", limit=100).json()
            return {(r["key"].split(":")[0], r["target"]) for r in rows if r["target"] != "mqtt"}

        assert wait_until(lambda: ("riverside", "riverside_office") in targets(), 5), targets()
        assert ("riverside", "supervisor") not in targets()
        # each site's screen knows its kind and zone
        meta = service.get("/api/meta", site="riverside").json()
        assert meta["site"]["timezone"] == "Asia/Urumqi" and meta["site"]["kind"] == "home"
        bed = service.get("/api/meta", site="hb-wang").json()
        assert bed["site"]["kind"] == "home_bed" and bed["site"]["timezone"] == "Asia/Shanghai"
        assert service.get("/api/meta").status_code == 400  # which site?
    finally:
        service.stop()
