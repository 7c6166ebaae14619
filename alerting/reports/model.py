"""The watch report as typed data: what it says (WatchReport and its figures); what it
reads is in rows.py. Times are epoch milliseconds (`*_ms`),
durations seconds (`*_s`), shares fractions 0..1.

No residents' names anywhere: alerts are placed by floor, room, bed and device id.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # model_home uses Durations from here
    from alerting.reports.compute.hazards import HazardFigures
    from alerting.reports.model_equipment import EquipmentFaults
    from alerting.reports.model_home import HomeBedFigures
    from alerting.reports.model_rounds import RoundsFigures


@dataclass(frozen=True, slots=True)
class Durations:
    """Count, mean, median, p90 and maximum of a sample of seconds (answers.durations); all None
    when the sample is empty."""

    count: int
    mean_s: float | None
    median_s: float | None
    p90_s: float | None  # nearest rank: the value 90 % of the sample are at or below
    max_s: float | None


@dataclass(frozen=True, slots=True)
class Wait:
    """One time staff had to answer an alert: from its raise (number 1), or from its
    return after an acknowledgement (2, 3, ...), to the first staff response."""

    alert_id: int
    number: int
    rule: str
    priority: str
    severity: str
    device_id: str
    device_type: str | None
    floor: str | None
    room: str | None
    bed: str | None
    started_ms: int
    answered_ms: int | None
    seconds: float | None  # to the answer; None while unanswered
    answered_by: str | None  # staff id, or device:<id> for a reset at the bedside
    answer: str | None  # ack, resolve, reset, dismiss, shelve, confirm
    escalated_to: str | None  # the last escalation target reached while it waited
    closed_ms: int | None  # when the alert was closed (None: still open)
    shift: str | None


@dataclass(frozen=True, slots=True)
class Responses:
    """How fast staff answered one priority (or all: group "all")."""

    group: str
    alerts: int  # raised in the period
    waits: int  # raises plus returns after an acknowledgement
    answered: int
    unanswered: int  # not answered when the report was made
    pending: int  # unanswered but raised less than 60 s before: not counted in the share
    within_60s: int
    share_within_60s: float | None  # within_60s / (waits - pending)
    late: int  # answered after 60 s
    to_ack: Durations
    to_resolve: Durations  # raise -> closed, alerts raised in the period
    still_open: int  # alerts raised in the period and not closed


@dataclass(frozen=True, slots=True)
class RuleCount:
    """One rule's alerts raised in the period, its annunciations and how fast its waits were
    answered; a row of the per-rule table."""

    rule: str
    title_zh: str
    title_en: str
    priority: str
    alerts: int
    annunciations: int  # raises plus repeats (what the duty room heard)
    waits: int
    within_60s: int
    median_ack_s: float | None
    max_ack_s: float | None


@dataclass(frozen=True, slots=True)
class PlaceCount:
    """Alerts raised and annunciations of one floor (room None) or one room, with the label the
    report prints for it."""

    floor: str | None
    room: str | None  # None: the whole floor
    label: str
    alerts: int
    emergency: int
    annunciations: int


@dataclass(frozen=True, slots=True)
class ShiftFigures:
    """One duty shift within the period (clipped to it): its alerts, what is still unanswered, and
    the emergency answer times."""

    name: str
    name_en: str | None
    date: str  # local date the shift started
    start_ms: int
    end_ms: int
    alerts: int
    unanswered: int  # any priority
    emergency: Responses


@dataclass(frozen=True, slots=True)
class ShiftTotal:
    """One shift name summed over the period (every night shift, say), so a slow shift shows week
    after week."""

    name: str
    name_en: str | None
    shifts: int
    alerts: int
    unanswered: int
    emergency: Responses


@dataclass(frozen=True, slots=True)
class Flood:
    """More than 10 alarms within 10 minutes (ISA-18.2), as one merged episode."""

    start_ms: int  # the 11th alarm within 10 minutes
    end_ms: int  # the rate fell back to 10 or fewer per 10 minutes
    seconds: float
    alarms: int
    top_device: str
    top_rule: str


@dataclass(frozen=True, slots=True)
class Noisy:
    """A device or rule among the ten that caused most annunciations, with its share of all
    annunciations (0..1)."""

    key: str  # device id or rule name
    label: str  # the device's room id, or the rule's title (zh)
    annunciations: int
    share: float


@dataclass(frozen=True, slots=True)
class ChatterRow:
    """An alert that started chattering in the period (ISA-18.2: 3 or more occurrences in a minute),
    with its annunciations."""

    alert_id: int
    device_id: str
    rule: str
    floor: str | None
    room: str | None
    since_ms: int
    annunciations: int


@dataclass(frozen=True, slots=True)
class StaleRow:
    """An alert raised 24 h or more before the period's end and still open then, with its age in
    hours and state at the end."""

    alert_id: int
    device_id: str
    rule: str
    priority: str
    floor: str | None
    room: str | None
    raised_ms: int
    age_h: float
    state: str


@dataclass(frozen=True, slots=True)
class AlarmLoad:
    """The ISA-18.2 alarm-load figures, counted in annunciations of the one duty room: rates per 10
    minutes, floods, chattering and stale alarms, the noisiest."""

    annunciations: int
    ten_minute_periods: int
    per_10min: float  # average
    peak_10min: int  # most alarms within any 10 minutes
    peak_at_ms: int | None  # the end of that 10 minutes
    periods_over_10: int  # fixed 10-minute periods from the report start with > 10 alarms
    share_periods_over_10: float
    floods: list[Flood]
    flood_s: float
    chattering: list[ChatterRow]
    stale: list[StaleRow]
    top_devices: list[Noisy]
    top_rules: list[Noisy]
    top10_devices_share: float | None
    per_period: list[int]  # alarms in each fixed 10-minute period (the chart)


@dataclass(frozen=True, slots=True)
class OfflineEpisode:
    """One time a device was offline (from its offline alert), clipped to the period; `seconds`
    counts only the part inside it."""

    alert_id: int
    device_id: str
    device_type: str | None
    floor: str | None
    room: str | None
    start_ms: int
    end_ms: int | None  # None: still offline at the end of the period
    seconds: float  # within the period


@dataclass(frozen=True, slots=True)
class DeviceAvailability:
    """One device that was offline in the period: its episodes and the share of the period it was
    available (0..1)."""

    device_id: str
    device_type: str | None
    floor: str | None
    room: str | None
    episodes: int
    offline_s: float
    availability: float


@dataclass(frozen=True, slots=True)
class TypeAvailability:
    """Availability of every registered device of one type over the period, with the type's label in
    both languages."""

    device_type: str
    label_zh: str
    label_en: str
    registered: int
    offline_devices: int
    episodes: int
    offline_s: float
    availability: float


@dataclass(frozen=True, slots=True)
class BatteryRow:
    """A low-battery alert raised in the period, or raised before and still open at its end; `value`
    is the alert's value as stored."""

    alert_id: int
    device_id: str
    device_type: str | None
    floor: str | None
    room: str | None
    raised_ms: int
    open_at_end: bool
    value: str | None


@dataclass(frozen=True, slots=True)
class MaintenanceRow:
    """A maintenance window (out of service) overlapping the period; `end_ms` and `ended_by` are
    None when it outlasts the period."""

    device_id: str
    device_type: str | None
    room: str | None
    start_ms: int
    end_ms: int | None
    by: str | None
    note: str | None
    ended_by: str | None


@dataclass(frozen=True, slots=True)
class DeviceFigures:
    """What the report says about devices: availability overall and by type, the offline episodes,
    low batteries and maintenance windows."""

    registered: int
    availability: float | None  # 1 - offline device-time / registered device-time
    offline_s: float
    by_type: list[TypeAvailability]
    devices: list[DeviceAvailability]  # devices that were offline, least available first
    episodes: list[OfflineEpisode]
    battery: list[BatteryRow]
    maintenance: list[MaintenanceRow]


@dataclass(frozen=True, slots=True)
class SeriesFigure:
    """A fire-equipment reading over the period against the rule that watches it."""

    device_id: str
    device_type: str
    floor: str
    room: str
    label: str | None
    field: str
    unit: str
    watch: Literal["min", "max"]  # which end of the range matters
    rule: str | None
    limit: float | None  # the rule's threshold for this device
    count: int  # readings
    min: float | None
    min_at_ms: int | None
    max: float | None
    max_at_ms: int | None
    ok: bool | None  # None: no readings, or no rule


@dataclass(frozen=True, slots=True)
class FireAlarm:
    """One fire alarm raised in the period: its acknowledgement time, whether, when and why it went
    to the fire brigade, or who dismissed it and why."""

    alert_id: int
    rule: str
    device_id: str
    floor: str | None
    room: str | None
    raised_ms: int
    ack_s: float | None
    forwarded_ms: int | None
    forwarded_by: str | None  # None: forwarded by the watch itself
    forward_note: str | None
    dismissed_by: str | None
    dismiss_note: str | None


@dataclass(frozen=True, slots=True)
class FireFigures:
    """Fire safety over the period: the alarms, how many were answered in 15 s, forwarded (by the
    watch itself or by staff) or dismissed, and the fire equipment."""

    alarms: int
    acked_within_15s: int  # NFPA 72 positive alarm sequence
    forwarded: int
    forwarded_auto: int
    dismissed: int
    items: list[FireAlarm]
    equipment: list[SeriesFigure]


@dataclass(frozen=True, slots=True)
class OverrideRow:
    """A call a supervisor reset from afar in the period (`override_reset`): where, who, why."""

    alert_id: int
    rule: str
    device_id: str
    floor: str | None
    room: str | None
    bed: str | None
    raised_ms: int
    at_ms: int
    by: str | None  # the supervisor's staff id
    reason: str | None


@dataclass(frozen=True, slots=True)
class Overrides:
    """Supervisors' overrides of a call's bedside reset in the period, per room and person."""

    count: int
    by_room: dict[str, int]  # room id -> overrides
    by_person: dict[str, int]  # staff id -> overrides
    items: list[OverrideRow]


@dataclass(frozen=True, slots=True)
class Bucket:
    """Alerts raised per priority in one hour or day from `start_ms`: one bar of the timeline
    chart."""

    start_ms: int
    emergency: int
    routine: int
    trouble: int


@dataclass(frozen=True, slots=True)
class Bin:
    """One bar of the emergency answer-time histogram: waits answered in (lo_s, hi_s] seconds; no
    `hi_s` is the open-ended band, neither bound the unanswered."""

    label: str
    lo_s: float | None
    hi_s: float | None  # None: no upper bound
    count: int


@dataclass(frozen=True, slots=True)
class ShiftSpan:
    """One occurrence of a shift as a time span (shifts.py); `date` is the local date it started,
    the span may be clipped to a period."""

    name: str
    name_en: str | None
    date: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class WatchReport:
    """The whole watch report over [start_ms, end_ms) as known at `as_of_ms`: computed by
    compute.build_report, rendered as HTML, JSON and CSV."""

    site_id: str
    site_name: str
    start_ms: int
    end_ms: int
    as_of_ms: int
    timezone: str
    responses: list[Responses]  # emergency, routine, trouble, all
    late: list[Wait]  # emergency, answered after 60 s
    unanswered: list[Wait]  # any priority, not answered when the report was made
    by_rule: list[RuleCount]
    by_floor: list[PlaceCount]
    by_room: list[PlaceCount]
    shifts: list[ShiftFigures]
    shift_totals: list[ShiftTotal]
    load: AlarmLoad
    devices: DeviceFigures
    fire: FireFigures
    overrides: Overrides  # calls reset from afar, not at the bedside
    timeline_step: Literal["hour", "day"]
    timeline: list[Bucket]
    ack_histogram: list[Bin]  # emergency waits
    waits: list[Wait]
    warnings: list[str] = dataclasses.field(default_factory=list)  # e.g. readings store unreachable
    home_beds: HomeBedFigures | None = None  # home-bed sites only (compute/home_beds.py)
    # the fire equipment's time in fault (compute/equipment_faults.py); None: not computed
    equipment_faults: EquipmentFaults | None = None
    hazards: HazardFigures | None = None  # the hazard register (compute/hazards.py)
    rounds: RoundsFigures | None = None  # sites with patrol routes only (compute/rounds.py)

    def responses_for(self, group: str) -> Responses:
        """The answer figures of one priority, or "all"; the report holds all four, so any other
        group raises StopIteration."""
        return next(r for r in self.responses if r.group == group)
