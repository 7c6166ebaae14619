"""The fire equipment of a site as the fire-safety duty sees it: every device whose type is
fire safety (devices/profiles.py `fire_safety=True`), floor by floor, each with ONE state
shown from its open alerts, the maintenance table and its link.

`EQUIPMENT_STATES` is the one table from a rule name to the state it shows; the screen's
fire-equipment view (GET /api/equipment) and the report's equipment faults
(reports/compute/equipment_faults.py) both read it, so a rule added to the table shows in
both. A rule not in it (a battery, a pump running) is listed on its device but leaves the
state alone.

The states, worst first (`STATE_ORDER`; a device with several open alerts shows the worst):

- alarm: a fire, or what an electrical fire monitor raises (residual current, arc, heat):
  people must move now.
- fault: the device says it cannot do its job (GB 4717 panels report a detector taken off
  its base as a fault too: `tamper`). Nobody chose it, and a fire there may go unseen.
- offline: the watch cannot hear the device. It may still sound in the room, but nothing
  reaches the duty room; below fault because the device has not said it is broken.
- supervisory (监管): the installation is set away from normal (a valve closed, a pump in
  manual, a fire door held open, low water): it still works once someone puts it back, so
  it ranks below faults whatever the rule's severity (tank_low is high: how soon someone
  must go, not what the equipment can do).
- disabled (屏蔽): a point switched off at the fire panel: known and chosen by staff.
- maintenance: out of service in CareWatch (the `maintenance` table): chosen by staff, it
  raises nothing until the window ends. An open fault on it still shows as the fault.
- normal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from alerting.model import Alert, AlertState
from devices.points import device_of
from devices.registry import Device, Registry

State = Literal["alarm", "fault", "offline", "supervisory", "disabled", "maintenance", "normal"]
STATE_ORDER: tuple[State, ...] = (
    "alarm",
    "fault",
    "offline",
    "supervisory",
    "disabled",
    "maintenance",
    "normal",
)
# the states that are the equipment out of order (the report's "time in fault"): not a fire
# alarm (that is the equipment working), not a staff member's maintenance window
FAULT_STATES: frozenset[State] = frozenset({"fault", "offline", "supervisory", "disabled"})

EQUIPMENT_STATES: Mapping[str, State] = MappingProxyType(
    {
        # --- alarm: a fire, or an electrical fire monitor's alarm (电气火灾监控报警)
        "smoke": "alarm",
        "manual_fire_alarm": "alarm",
        "temperature_rising": "alarm",
        "panel_fire": "alarm",
        "sprinkler_flow": "alarm",
        "residual_current_high": "alarm",
        "cable_temp_high": "alarm",
        "arc_fault": "alarm",  # an arc in the wiring, a fire's cause: not the monitor broken
        "overcurrent": "alarm",
        # --- fault: the device cannot do its job
        "device_fault": "fault",
        "tamper": "fault",  # a detector off its base detects nothing
        "panel_fault": "fault",
        "pump_fault": "fault",
        "fan_fault": "fault",
        "emergency_light_fault": "fault",
        # --- offline: the watch does not hear it
        "device_offline": "offline",
        # --- supervisory (监管): set away from normal, works once put back
        "panel_supervisory": "supervisory",
        "pump_manual": "supervisory",
        "valve_closed": "supervisory",
        "tank_low": "supervisory",
        "water_pressure_low": "supervisory",
        "water_pressure_falling": "supervisory",
        "fire_door_open": "supervisory",
        # --- disabled (屏蔽): a point switched off at the panel
        "panel_disabled": "disabled",
    }
)

# rules of fire devices that tell, not warn: a pump running (a drop in pressure started
# it, or a test) is listed on its tile and changes no state
TELLS_ONLY: frozenset[str] = frozenset({"pump_running"})


def rank(state: State) -> int:
    """A state's place in STATE_ORDER: lower is worse."""
    return STATE_ORDER.index(state)


def holds(a: Alert) -> bool:
    """Whether an open alert's condition still holds (shelved too: shelving hides an alert
    from the duty room, it does not mend the equipment); a cleared one waiting for its
    acknowledgement is the device back to normal."""
    return (
        a.state is not AlertState.CLOSED
        and a.state is not AlertState.CLEARED_UNACK
        and a.condition_cleared_at is None
    )


@dataclass(frozen=True, slots=True)
class EquipmentAlert:
    """An open alert of a fire device, as the view lists it."""

    id: int
    rule: str
    value: str | None
    since_ms: int
    state: State | None  # what the rule shows (EQUIPMENT_STATES), None: none
    # where it stands: a panel's point may be on another floor than the panel
    floor: str | None = None
    room: str | None = None


@dataclass(frozen=True, slots=True)
class EquipmentDevice:
    """One fire device with the state it shows and since when (None: normal)."""

    id: str
    type: str
    label: str | None
    floor: str
    room: str
    state: State
    since_ms: int | None
    alerts: list[EquipmentAlert] = field(default_factory=list)
    maintenance_until_ms: int | None = None
    # last heard (epoch ms); None: never, e.g. just installed: "normal" only says no alert
    last_seen_ms: int | None = None


@dataclass(frozen=True, slots=True)
class EquipmentFloor:
    """One floor of the site file with its fire devices (by room, then id)."""

    id: str
    name: str
    devices: list[EquipmentDevice]


@dataclass(frozen=True, slots=True)
class EquipmentView:
    """A site's fire equipment by floor (the site file's order) and how many devices show
    each state (each device counted once, by the state it shows)."""

    site: str
    floors: list[EquipmentFloor]
    counts: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        """The GET /api/equipment body (docs/protocol.md): times in epoch ms."""
        return {
            "site": self.site,
            "floors": [
                {
                    "id": f.id,
                    "name": f.name,
                    "devices": [
                        {
                            "id": d.id,
                            "type": d.type,
                            "label": d.label,
                            "room": d.room,
                            "state": d.state,
                            "since_ms": d.since_ms,
                            "maintenance_until_ms": d.maintenance_until_ms,
                            "last_seen_ms": d.last_seen_ms,
                            "alerts": [
                                {
                                    "id": a.id,
                                    "rule": a.rule,
                                    "value": a.value,
                                    "since_ms": a.since_ms,
                                    "state": a.state,
                                    "floor": a.floor,
                                    "room": a.room,
                                }
                                for a in d.alerts
                            ],
                        }
                        for d in f.devices
                    ],
                }
                for f in self.floors
            ],
            "counts": self.counts,
        }


def fire_devices(registry: Registry, site: str) -> list[Device]:
    """The site's fire equipment: devices whose type is fire safety."""
    return [d for d in registry.devices(site) if d.type.fire_safety]


def device_state(
    dev: Device,
    alerts: Iterable[Alert],
    maintenance: Mapping[str, Any] | None,
    online: int | None,
    last_seen_ms: int | None,
    now_ms: int,
) -> EquipmentDevice:
    """One device's shown state: the worst of its open alerts whose condition holds, its
    link (a last will says offline even before the absence rule's interval), and its
    maintenance window while it lasts."""
    listed: list[EquipmentAlert] = []
    candidates: list[tuple[int, int, State]] = []  # (rank, since, state)
    for a in sorted(alerts, key=lambda a: (a.raised_at, a.id)):
        shown = EQUIPMENT_STATES.get(a.rule)
        listed.append(EquipmentAlert(a.id, a.rule, a.value, a.raised_at, shown, a.floor, a.room))
        if shown is not None and holds(a):
            candidates.append((rank(shown), a.raised_at, shown))
    if online == 0:
        candidates.append((rank("offline"), last_seen_ms or now_ms, "offline"))
    until: int | None = None
    if maintenance is not None and int(maintenance["until"]) > now_ms:
        until = int(maintenance["until"])
        candidates.append((rank("maintenance"), int(maintenance["since"]), "maintenance"))
    state: State = "normal"
    since: int | None = None
    if candidates:
        worst = min(c[0] for c in candidates)
        state = STATE_ORDER[worst]
        since = min(c[1] for c in candidates if c[0] == worst)
    return EquipmentDevice(
        id=dev.id,
        type=dev.type.name,
        label=dev.label,
        floor=dev.floor,
        room=dev.room,
        state=state,
        since_ms=since,
        alerts=listed,
        maintenance_until_ms=until,
        last_seen_ms=last_seen_ms,
    )


def site_equipment(
    registry: Registry,
    site: str,
    open_alerts: Iterable[Alert],
    maintenance: Mapping[tuple[str, str], Mapping[str, Any]],
    device_states: Mapping[tuple[str, str], tuple[int | None, int | None]],
    now_ms: int,
) -> EquipmentView:
    """The site's fire equipment by floor, from the three reads the store gives
    (AlertReader.find("open"), .maintenance(), .device_states()) at `now_ms`. Pure: the
    same rows and time give the same view."""
    config = registry.sites[site]
    by_device: dict[str, list[Alert]] = {}
    for a in open_alerts:
        if a.site == site:
            # a panel's alerts are filed per point (`<panel>/<point>`): on the panel's tile
            by_device.setdefault(device_of(a.device_id), []).append(a)
    shown: dict[str, list[EquipmentDevice]] = {}
    for d in fire_devices(registry, site):
        seen, online = device_states.get((site, d.id), (None, None))
        shown.setdefault(d.floor, []).append(
            device_state(
                d, by_device.get(d.id, []), maintenance.get((site, d.id)), online, seen, now_ms
            )
        )
    floors = [
        EquipmentFloor(f.id, f.name or f.id, sorted(shown.pop(f.id), key=lambda d: (d.room, d.id)))
        for f in config.floors
        if f.id in shown
    ]
    # a floor the site file does not list (cannot happen for a loaded registry): last
    floors += [EquipmentFloor(k, k, v) for k, v in shown.items()]
    counts: dict[str, int] = dict.fromkeys(STATE_ORDER, 0)
    for f in floors:
        for shown_dev in f.devices:
            counts[shown_dev.state] += 1
    return EquipmentView(site, floors, {**counts, "total": sum(counts.values())})
