"""The fire equipment's faults of the report as typed data: each time a fire device was out
of order in the period (a fault, lost, off-normal or disabled: alerting/equipment.py's
FAULT_STATES), with the time in fault per device and per device type. compute/
equipment_faults.py makes them from rows; times are epoch ms (`*_ms`), durations seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FaultEpisode:
    """One time a fire device was out of order, from one alert: from its raise (or the period's
    start) to its condition clearing or the alert closing (or the period's end);
    `seconds` counts only the part inside the period."""

    alert_id: int
    rule: str
    state: str  # fault, offline, supervisory or disabled (alerting/equipment.py)
    device_id: str
    device_type: str | None
    floor: str | None
    room: str | None
    value: str | None
    start_ms: int  # when it began (may be before the period)
    end_ms: int | None  # None: still out of order at the end of the period
    seconds: float  # within the period


@dataclass(frozen=True, slots=True)
class DeviceFaultTime:
    """A fire device that was out of order in the period: its episodes and its time in fault
    (overlapping episodes, a fault while offline, count once)."""

    device_id: str
    device_type: str | None
    floor: str | None
    room: str | None
    episodes: int
    fault_s: float
    share: float  # of the period


@dataclass(frozen=True, slots=True)
class TypeFaultTime:
    """One fire device type: how many are registered, how many were out of order, and their
    time in fault added up (device-seconds)."""

    device_type: str
    label_zh: str
    label_en: str
    registered: int
    in_fault: int
    episodes: int
    fault_s: float


@dataclass(frozen=True, slots=True)
class EquipmentFaults:
    """The fire equipment's faults over the period, most time in fault first."""

    fire_devices: int  # registered fire-safety devices
    in_fault: int  # of them, out of order at some time in the period
    fault_s: float  # their time in fault added up (device-seconds)
    open_at_end: int  # episodes still open at the end of the period
    by_type: list[TypeFaultTime]
    devices: list[DeviceFaultTime]
    episodes: list[FaultEpisode]
