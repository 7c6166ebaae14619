"""A generated district for the many-sites benchmark: nursing homes shaped like
examples/demo-site.yaml and home beds shaped like examples/sites/3-hb-wang.yaml, one site
file each in a folder (a service's `sites_dir`, CAREWATCH_SITES_DIR); and what each of
their devices publishes as telemetry (bench/loadgen.py --sites).

Device ids carry their site's id (`nh-07-w-101-1`, `hb-123-band`): a device id is unique
across the sites one service watches. Residents' names are invented placeholders.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT
from devices.registry import load_sites

DEMO_SITE = ROOT / "examples" / "demo-site.yaml"
# a floor's utility room, as in the demo home: (id prefix, type)
UTILITY = (
    ("sd", "smoke_detector"),
    ("cp", "call_point"),
    ("p", "water_pressure"),
    ("e", "electrical_monitor"),
)
ROOMS_PER_FLOOR = 12
# a home bed's kit (8 devices): (suffix, type, label, Zigbee2MQTT friendly name and model)
HOME_BED_KIT: tuple[tuple[str, str, str, tuple[str, str] | None], ...] = (
    ("call", "call_button", "一键通 (one-touch terminal)", None),
    ("cord", "call_button", "卫生间拉绳 (bathroom cord)", None),
    ("band", "wearable", "", None),
    ("smoke", "smoke_detector", "厨房 (kitchen)", None),
    ("leak", "water_leak", "卫生间 (bathroom)", ("bathroom-leak", "SJCGQ11LM")),
    ("motion", "motion_sensor", "客厅 (living room)", ("living-room-motion", "RTCGQ11LM")),
    ("motion2", "motion_sensor", "卧室 (bedroom)", ("bedroom-motion", "RTCGQ11LM")),
    ("door", "vibration_sensor", "入户门 (front door)", ("front-door", "DJT11LM")),
)


def nursing_home_yaml(site_id: str, devices: int) -> str:
    """A home of exactly `devices` devices, like the demo home: floors of rooms with two
    beds (a call button and a wearable per bed, a smoke detector per room) and a utility
    room per floor (smoke detector, call point, fire-water pressure, electrical monitor);
    what does not fill a two-bed room goes to one-bed rooms and corridor detectors."""
    floors: list[list[str]] = []  # per floor: its room lines
    devs: list[str] = []
    residents: list[str] = []

    def dev(local: str, dtype: str, room: str, extra: str = "") -> None:
        devs.append(f'  - {{id: {site_id}-{local}, type: {dtype}, room: "{room}"{extra}}}')

    def room(f: int, r: int, beds: int) -> None:
        rid = f"{f}{r:02d}"
        bed_ids = [f"{rid}-{b + 1}" for b in range(beds)]
        beds_yaml = ", ".join(f'"{b}"' for b in bed_ids)
        floors[-1].append(f'      - {{id: "{rid}", beds: [{beds_yaml}]}}')
        for bed in bed_ids:
            res = f"r-{len(residents) + 1:03d}"
            residents.append(f"  - {{id: {res}, display_name: 住户{len(residents) + 1}}}")
            extra = f', bed: "{bed}", resident: {res}'
            dev(f"cb-{bed}", "call_button", rid, extra)
            dev(f"w-{bed}", "wearable", rid, extra)
        dev(f"sd-{rid}", "smoke_detector", rid)

    f = 0
    while len(devs) < devices:
        f += 1
        floors.append([f'      - {{id: "{f}-utility", name: {f}F 设备间 (utility room)}}'])
        for short, dtype in UTILITY[: devices - len(devs)]:
            dev(f"{short}-{f}f", dtype, f"{f}-utility")
        for r in range(1, ROOMS_PER_FLOOR + 1):
            left = devices - len(devs)
            if left >= 5:
                room(f, r, 2)
            elif left >= 3:
                room(f, r, 1)
            elif left:  # the rest: smoke detectors in the utility room
                for k in range(left):
                    dev(f"sd-{f}-x{k}", "smoke_detector", f"{f}-utility")
    out = [
        f"id: {site_id}",
        f"name: Bench Home {site_id}",
        f"address: {site_id} Test Road",
        "floors:",
    ]
    for i, rooms in enumerate(floors):
        out += [f'  - id: "{i + 1}"', f"    name: {i + 1}F", "    rooms:", *rooms]
    out += ["residents:", *residents, "devices:", *devs]
    return "\n".join(out) + "\n"


def home_bed_yaml(site_id: str) -> str:
    """A home bed: an address, one resident, the kit of HOME_BED_KIT; its Zigbee devices on
    its own gateway (`zigbee_prefix`)."""
    out = [
        f"id: {site_id}",
        "kind: home_bed",
        f"name: Bench home bed {site_id}",
        f"address: {site_id} Home Street, flat 501",
        f"zigbee_prefix: zigbee2mqtt-{site_id}",
        "residents:",
        f"  - {{id: r-1, display_name: 住户{site_id}}}",
        "devices:",
    ]
    for suffix, dtype, label, zigbee in HOME_BED_KIT:
        extra = ", resident: r-1" if dtype in ("call_button", "wearable") else ""
        if zigbee is not None:
            extra += f", source: zigbee2mqtt, friendly_name: {zigbee[0]}, model: {zigbee[1]}"
        if label:
            extra += f", label: {label}"
        out.append(f"  - {{id: {site_id}-{suffix}, type: {dtype}, room: home{extra}}}")
    return "\n".join(out) + "\n"


def write_district(folder: Path, homes: int, home_devices: int, beds: int) -> dict[str, int]:
    """`homes` nursing homes `nh-01`.. of `home_devices` devices and `beds` home beds
    `hb-001`.., one file each in `folder`; their counts."""
    folder.mkdir(parents=True, exist_ok=True)
    for h in range(1, homes + 1):
        site = f"nh-{h:02d}"
        (folder / f"{site}.yaml").write_text(nursing_home_yaml(site, home_devices), "utf-8")
    for b in range(1, beds + 1):
        site = f"hb-{b:03d}"
        (folder / f"{site}.yaml").write_text(home_bed_yaml(site), "utf-8")
    return {
        "sites": homes + beds,
        "homes": homes,
        "home_beds": beds,
        "devices": homes * home_devices + beds * len(HOME_BED_KIT),
    }


# --- what the devices publish ----------------------------------------------------------------


# (ts epoch ms, message number of the publisher, message number of the device) -> payload
Payload = Callable[[int, int, int], bytes]


@dataclass(frozen=True, slots=True)
class Publishing:
    """One device as the load generator drives it: its topic and its readings."""

    site: str
    device: str
    type: str
    topic: str
    payload: Payload


def wearable(ts: int, n: int, k: int) -> bytes:
    """A wearable's reading (`steps` counts the device's messages)."""
    return (
        f'{{"ts":{ts},"heart_rate_bpm":{62 + (n * 7) % 30},"spo2_pct":{95 + n % 4},'
        f'"steps":{k},"worn":true,"battery_pct":{80 - k % 40}}}'
    ).encode()


# normal readings only: nothing here crosses a default rule's threshold or rate
_NATIVE: dict[str, Payload] = {
    "wearable": wearable,
    "call_button": lambda ts, n, k: (
        f'{{"ts":{ts},"battery_pct":{90 - k % 10},"rssi_dbm":{-60 - n % 9}}}'.encode()
    ),
    "call_point": lambda ts, n, k: f'{{"ts":{ts},"battery_pct":{90 - k % 10}}}'.encode(),
    "smoke_detector": lambda ts, n, k: (
        f'{{"ts":{ts},"temperature_c":{22 + n % 2},"battery_pct":{90 - k % 10}}}'.encode()
    ),
    "water_pressure": lambda ts, n, k: (
        f'{{"ts":{ts},"pressure_mpa":{0.35 + n % 3 / 1000}}}'.encode()
    ),
    "electrical_monitor": lambda ts, n, k: (
        f'{{"ts":{ts},"residual_current_ma":{12 + n % 5},"cable_temp_c":35,'
        f'"current_a":{20 + n % 7},"voltage_v":230}}'
    ).encode(),
    # the fire installations, each in its normal state
    "fire_panel": lambda ts, n, k: f'{{"ts":{ts},"rssi_dbm":{-60 - n % 9}}}'.encode(),
    "fire_pump": lambda ts, n, k: (
        f'{{"ts":{ts},"running":false,"mode":"auto","fault":false}}'.encode()
    ),
    "sprinkler_flow": lambda ts, n, k: f'{{"ts":{ts},"flow":false}}'.encode(),
    "signal_valve": lambda ts, n, k: f'{{"ts":{ts},"open":true}}'.encode(),
    "fire_tank": lambda ts, n, k: f'{{"ts":{ts},"level_pct":{97 + n % 3 / 10}}}'.encode(),
    "smoke_fan": lambda ts, n, k: f'{{"ts":{ts},"running":false,"fault":false}}'.encode(),
    "fire_door": lambda ts, n, k: f'{{"ts":{ts},"closed":true}}'.encode(),
    "emergency_light": lambda ts, n, k: f'{{"ts":{ts},"on_battery":false,"fault":false}}'.encode(),
}
# Zigbee2MQTT state messages (`last_seen` as epoch ms: each is its own point)
_ZIGBEE: dict[str, Payload] = {
    "water_leak": lambda ts, n, k: (
        f'{{"water_leak":false,"temperature":{21 + n % 2},"battery":{90 - k % 10},'
        f'"linkquality":{100 + n % 50},"last_seen":{ts}}}'
    ).encode(),
    "motion_sensor": lambda ts, n, k: (
        f'{{"occupancy":{"true" if n % 3 else "false"},"illuminance_lux":{40 + n % 60},'
        f'"battery":{90 - k % 10},"linkquality":{100 + n % 50},"last_seen":{ts}}}'
    ).encode(),
    "vibration_sensor": lambda ts, n, k: (
        f'{{"strength":{n % 5},"angle":{n % 3},"battery":{90 - k % 10},'
        f'"linkquality":{100 + n % 50},"last_seen":{ts}}}'
    ).encode(),
}


def publishing(sites: Path, seed: int = 7, prefix: str = "carewatch/v1/") -> list[Publishing]:
    """Every device of the site file or folder with what it publishes, in a shuffled order
    (the same for every process given the same seed): a stretch of the list, and the load
    at any moment, spreads over all sites."""
    registry = load_sites(sites)
    out: list[Publishing] = []
    for sid, site in registry.sites.items():
        zprefix = site.zigbee_prefix or "zigbee2mqtt"
        for d in site.devices:
            if d.source == "zigbee2mqtt":
                out.append(
                    Publishing(sid, d.id, d.type, f"{zprefix}/{d.friendly_name}", _ZIGBEE[d.type])
                )
            else:
                topic = f"{prefix}{sid}/{d.id}/telemetry"
                out.append(Publishing(sid, d.id, d.type, topic, _NATIVE[d.type]))
    random.Random(seed).shuffle(out)  # noqa: S311 - a load's order, not a secret
    return out
