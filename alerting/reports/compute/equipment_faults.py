"""The fire equipment's faults over the period: every alert of a fire-safety device whose
rule shows the equipment out of order (alerting/equipment.py: EQUIPMENT_STATES to a state
of FAULT_STATES: fault, offline, supervisory, disabled), with its time in fault.

Time in fault is when the alert's condition held (history.condition_spans: raise or
repeat to the condition clearing, a reset or the close), clipped to the period: an alert
raised before the period counts from the period's start, one still open counts to its
end. A device's total counts overlapping alerts once (a fault while offline is one
hour out of order, not two). A fire alarm is the equipment working, and a maintenance
window staff chose (the devices section lists them): neither counts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from alerting.equipment import EQUIPMENT_STATES, FAULT_STATES
from alerting.reports.compute.history import Alert, Context, condition_spans
from alerting.reports.model_equipment import (
    DeviceFaultTime,
    EquipmentFaults,
    FaultEpisode,
    TypeFaultTime,
)
from devices.points import device_of


def fault_episodes(a: Alert, start_ms: int, end_ms: int) -> list[FaultEpisode]:
    """The episodes of one alert that overlap the period (or begin in it); none for an
    alert that is no fire device's equipment fault."""
    state = EQUIPMENT_STATES.get(a.row.rule)
    if state not in FAULT_STATES or a.device is None or not a.device.type.fire_safety:
        return []
    out = []
    for lo, hi in condition_spans(a):
        inside = min(end_ms if hi is None else hi, end_ms) - max(lo, start_ms)
        if inside <= 0 and not (start_ms <= lo < end_ms):
            continue
        out.append(
            FaultEpisode(
                alert_id=a.row.id,
                rule=a.row.rule,
                state=str(state),
                device_id=a.row.device_id,
                device_type=a.device.type.name,
                floor=a.row.floor,
                room=a.row.room,
                value=a.row.value,
                start_ms=lo,
                end_ms=hi if hi is not None and hi <= end_ms else None,
                seconds=max(inside, 0) / 1000,
            )
        )
    return out


def _union_ms(spans: list[tuple[int, int]]) -> int:
    """The length of the union of [lo, hi) spans."""
    total = 0
    reach: int | None = None
    for lo, hi in sorted(spans):
        if reach is None or lo > reach:
            total += hi - lo
            reach = hi
        elif hi > reach:
            total += hi - reach
            reach = hi
    return total


def equipment_faults(
    ctx: Context, alerts: Mapping[int, Alert], start_ms: int, end_ms: int
) -> EquipmentFaults:
    """Every fire device's faults in [start_ms, end_ms) with time in fault per device and per
    type, the devices with most time in fault first."""
    episodes = sorted(
        (e for a in alerts.values() for e in fault_episodes(a, start_ms, end_ms)),
        key=lambda e: (e.start_ms, e.device_id, e.alert_id),
    )
    per_device: dict[str, list[FaultEpisode]] = defaultdict(list)
    for e in episodes:  # a panel's points are the panel's time out of order, counted once
        per_device[device_of(e.device_id)].append(e)
    span = end_ms - start_ms
    placed = {d.id: d for d in ctx.registry.devices() if d.type.fire_safety}
    devices = []
    for dev_id, eps in per_device.items():
        inside = [
            (max(e.start_ms, start_ms), end_ms if e.end_ms is None else e.end_ms) for e in eps
        ]
        fault_ms = _union_ms([(lo, hi) for lo, hi in inside if hi > lo])
        first = eps[0]
        own = placed.get(dev_id)  # a panel stands where it is, not where its points are
        devices.append(
            DeviceFaultTime(
                device_id=dev_id,
                device_type=first.device_type,
                floor=own.floor if own else first.floor,
                room=own.room if own else first.room,
                episodes=len(eps),
                fault_s=fault_ms / 1000,
                share=fault_ms / span,
            )
        )
    devices.sort(key=lambda d: (-d.fault_s, d.device_id))

    fire = [d for d in ctx.registry.devices() if d.type.fire_safety]
    by_type = []
    for t in sorted({d.type.name for d in fire}):
        of_type = [d for d in fire if d.type.name == t]
        rows = [d for d in devices if d.device_type == t]
        by_type.append(
            TypeFaultTime(
                device_type=t,
                label_zh=of_type[0].type.label("zh"),
                label_en=of_type[0].type.label("en"),
                registered=len(of_type),
                in_fault=len(rows),
                episodes=sum(d.episodes for d in rows),
                fault_s=sum(d.fault_s for d in rows),
            )
        )
    return EquipmentFaults(
        fire_devices=len(fire),
        in_fault=len(devices),
        fault_s=sum(d.fault_s for d in devices),
        open_at_end=sum(1 for e in episodes if e.end_ms is None),
        by_type=by_type,
        devices=devices,
        episodes=episodes,
    )
