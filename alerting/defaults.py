"""The default rule set: every hazard of DOMAIN.md's table, with the source of each number
in docs/rules.md. A site's rules file overrides any of them by name (alerting/ruleset.py).
Their titles are in the catalog (devices/catalog, `rule.<name>`), in every language."""

from __future__ import annotations

from alerting.firedefaults import PANEL, fire_equipment_rules
from alerting.model import Severity
from alerting.rules import (
    AbsenceRule,
    AnyRule,
    CorrelationRule,
    EscalationPolicy,
    EscalationStep,
    EventRule,
    ObservedRule,
    RateRule,
    RepetitionRule,
    SystemRule,
    ThresholdRule,
    TimeWindowRule,
)
from devices.profiles import FIRE_INSTALLATIONS

ALL_TYPES = [
    "call_button",
    "wearable",
    "smoke_detector",
    "call_point",
    "water_pressure",
    "electrical_monitor",
    *("water_leak", "motion_sensor", "vibration_sensor"),  # Zigbee sensors
    *("home_terminal", "gas_detector", "door_contact", "bed_presence"),  # home-bed kit
    *FIRE_INSTALLATIONS,  # automatic fire installations (alerting/firedefaults.py)
    "tag_reader",  # fire patrols' checkpoint reader (docs/fire-duty.md)
]
# the one-touch terminal has its own offline rule (terminal_offline): a home's only way to call
SUPERVISED_TYPES = [t for t in ALL_TYPES if t != "home_terminal"]
# a fire panel's `fault` is one of its points' (panel_fault), not the gateway's own
FAULT_TYPES = [t for t in ALL_TYPES if t != PANEL]
C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def default_rules() -> list[AnyRule]:
    """The built-in rules of DOMAIN.md's hazard table, fresh each call; trouble rules without their
    own policy get the quieter `trouble` escalation."""
    rules = _rules()
    # trouble does not wake the director: its own, quieter escalation
    return [
        r.model_copy(update={"escalation": "trouble"})
        if r.priority == "trouble" and r.escalation is None
        else r
        for r in rules
    ]


def _rules() -> list[AnyRule]:
    return [
        # --- residents ----------------------------------------------------------------
        EventRule(
            name="fall",
            device_types=["wearable"],
            events=["fall"],
            severity=C,
            priority="emergency",
            latched=True,
        ),
        EventRule(
            name="call",
            device_types=["call_button", "home_terminal"],
            events=["press"],
            severity=H,
            priority="emergency",
            latched=True,
            clear_events=["cancel"],
            clear_resets=True,
            reset="bedside",  # presence in the room resets a call, not a screen
        ),
        EventRule(
            name="sos",
            device_types=["wearable"],
            events=["sos"],
            severity=H,
            priority="emergency",
            latched=True,
        ),
        RepetitionRule(
            name="frequent_calls",
            signals=["call", "sos"],
            count=3,
            within_s=1800,
            severity=M,
            priority="routine",
        ),
        ThresholdRule(
            name="heart_rate_high",
            device_types=["wearable"],
            field="heart_rate_bpm",
            op="gt",
            value=120,
            unit="bpm",
            for_s=600,
            clear_value=110,
            inactive_field="steps",
            severity=H,
        ),
        ThresholdRule(
            name="heart_rate_low",
            device_types=["wearable"],
            field="heart_rate_bpm",
            op="lt",
            value=45,
            unit="bpm",
            for_s=600,
            clear_value=50,
            inactive_field="steps",
            severity=H,
        ),
        EventRule(
            name="pendant_removed",
            device_types=["wearable"],
            events=["removed"],
            for_s=600,
            clear_events=["put_on"],
            severity=M,
        ),
        ThresholdRule(
            name="pendant_not_worn",
            device_types=["wearable"],
            field="worn",
            op="eq",
            value=False,
            for_s=600,
            severity=M,
        ),
        TimeWindowRule(
            name="night_wandering",
            device_types=["wearable"],
            field="zone",
            allowed=["{room}"],
            start="22:00",
            end="06:00",
            severity=H,
            priority="emergency",
        ),
        # a home bed's welfare visit (巡访) not recorded a day after it fell due
        # (alerting/visits.py checks the plans; the seeds ask a monthly visit rate of 100%)
        ObservedRule(name="visit_missed", severity=L, priority="routine"),
        # a fire hazard not fixed by its deadline (alerting/hazard_desk.py checks the
        # register; seed 004: 隐患问题整改销号率 100%)
        ObservedRule(name="hazard_overdue", severity=M, priority="routine"),
        # a fire patrol's round not completed by its due time plus grace (alerting/rounds.py;
        # 公安部令第61号 第二十五条: daily patrols, care homes strengthen night patrols)
        ObservedRule(name="round_missed", severity=H, priority="routine"),
        # --- home beds (docs/home-beds.md) ---------------------------------------------
        EventRule(  # the resident asks the call centre to ring back: no emergency
            name="callback_request",
            device_types=["home_terminal"],
            events=["callback"],
            severity=M,
            priority="routine",
        ),
        ThresholdRule(  # combustible gas: explosion and poisoning, nobody next door
            name="gas_leak",
            device_types=["gas_detector"],
            field="gas",
            op="eq",
            value=True,
            severity=C,
            priority="emergency",
            latched=True,
        ),
        TimeWindowRule(  # the entrance door left open at night: wandering, or an intruder
            name="door_open_night",
            device_types=["door_contact"],
            field="contact",
            allowed=["true"],  # closed
            start="22:00",
            end="06:00",
            for_s=600,
            severity=H,
            priority="emergency",
        ),
        ObservedRule(  # alerting/welfare.py: no sign of life for the resident's no_activity_h
            name="no_activity",
            start="07:00",  # only daytime hours count: sleeping is no alarm
            end="22:00",
            severity=M,
            priority="routine",
        ),
        ObservedRule(  # alerting/welfare.py: no "I'm OK" nor any activity by checkin_by
            name="daily_checkin",
            severity=L,
            priority="routine",
        ),
        AbsenceRule(  # the terminal silent: the resident cannot call for help
            name="terminal_offline",
            device_types=["home_terminal"],
            severity=H,
            priority="trouble",
        ),
        # --- fire ---------------------------------------------------------------------
        EventRule(
            name="smoke",
            device_types=["smoke_detector"],
            events=["smoke_alarm"],
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
            fire="watch",
            clear_events=["smoke_clear"],
        ),
        EventRule(
            name="manual_fire_alarm",
            device_types=["call_point"],
            events=["pressed"],
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
            fire="forward",
        ),
        RateRule(
            name="temperature_rising",
            device_types=["smoke_detector"],
            field="temperature_c",
            direction="rising",
            per_min=8.3,
            unit="°C",
            window_s=60,
            min_span_s=20,
            severity=H,
            priority="emergency",
        ),
        CorrelationRule(  # a fire panel's detector on the floor counts as a detector
            name="fire_confirmed",
            signals=["smoke", "panel_fire"],
            count=2,
            distinct="device",
            scope="floor",
            within_s=120,
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
            fire="forward",
        ),
        CorrelationRule(
            name="smoke_and_heat",
            signals=["smoke", "temperature_rising"],
            count=2,
            distinct="rule",
            scope="room",
            within_s=120,
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
            fire="forward",
        ),
        ThresholdRule(
            name="water_pressure_low",
            device_types=["water_pressure"],
            field="pressure_mpa",
            op="lt",
            value=0.10,
            unit="MPa",
            for_s=30,
            clear_value=0.11,
            severity=H,
        ),
        RateRule(
            name="water_pressure_falling",
            device_types=["water_pressure"],
            field="pressure_mpa",
            direction="falling",
            per_min=0.1,
            unit="MPa",
            window_s=60,
            min_span_s=10,
            severity=H,
        ),
        ThresholdRule(
            name="residual_current_high",
            device_types=["electrical_monitor"],
            field="residual_current_ma",
            op="ge",
            value=300,
            unit="mA",
            clear_value=270,
            severity=H,
        ),
        ThresholdRule(
            name="cable_temp_high",
            device_types=["electrical_monitor"],
            field="cable_temp_c",
            op="gt",
            value=70,
            unit="°C",
            for_s=10,
            clear_value=65,
            severity=H,
        ),
        EventRule(
            name="arc_fault",
            device_types=["electrical_monitor"],
            events=["arc_fault"],
            severity=H,
        ),
        EventRule(
            name="overcurrent",
            device_types=["electrical_monitor"],
            events=["overcurrent"],
            severity=M,
        ),
        EventRule(  # water on the floor is a slip hazard (and a burst pipe)
            name="water_leak",
            device_types=["water_leak"],
            events=["leak"],
            clear_events=["leak_clear"],
            severity=M,
        ),
        *fire_equipment_rules(),
        # --- devices (trouble) --------------------------------------------------------
        AbsenceRule(
            name="device_offline",
            device_types=SUPERVISED_TYPES,
            severity=M,
            fire_safety_severity=H,
            priority="trouble",
        ),
        ThresholdRule(
            name="battery_low",
            device_types=ALL_TYPES,
            field="battery_pct",
            op="lt",
            value=15,
            unit="%",
            clear_value=20,
            severity=L,
            priority="trouble",
        ),
        EventRule(
            name="battery_low_reported",
            device_types=ALL_TYPES,
            events=["low_battery"],
            severity=L,
            priority="trouble",
        ),
        EventRule(
            name="tamper",
            device_types=ALL_TYPES,
            events=["tamper"],
            severity=M,
            priority="trouble",
        ),
        EventRule(
            name="device_fault",
            device_types=FAULT_TYPES,
            events=["fault"],
            severity=M,
            fire_safety_severity=H,
            priority="trouble",
        ),
        SystemRule(  # the gateway's last will: every Zigbee device of the site is blind
            name="zigbee_bridge_offline",
            component="zigbee_bridge",
            for_s=0,
            severity=H,
            priority="trouble",
        ),
        # --- the watch itself ---------------------------------------------------------
        SystemRule(
            name="broker_disconnected",
            component="broker",
            for_s=5,
            severity=H,
            priority="trouble",
        ),
        SystemRule(
            name="store_unreachable",
            component="store",
            for_s=60,
            severity=H,
            priority="trouble",
        ),
        SystemRule(
            name="ingest_silent",
            component="ingest",
            for_s=270,
            severity=H,
            priority="trouble",
        ),
        SystemRule(
            name="spool_backlog",
            component="spool",
            for_s=60,
            severity=M,
            priority="trouble",
        ),
        SystemRule(
            name="engine_lag",
            component="engine",
            for_s=0,
            severity=H,
            priority="trouble",
        ),
    ]


def default_policies() -> dict[str, EscalationPolicy]:
    """The built-in escalation policies by name, fresh each call; a rules file adds to or replaces
    them."""

    def p(
        steps: list[tuple[float, str]], repeat_s: float | None, cycle_from: int | None = None
    ) -> EscalationPolicy:
        return EscalationPolicy(
            steps=[EscalationStep(after_s=a, notify=n) for a, n in steps],
            repeat_s=repeat_s,
            cycle_from=cycle_from,
        )

    return {
        # the fire brigade is the fire policy's (firepolicy.py); staff are chased here
        "fire": p([(0, "duty_screen"), (15, "supervisor")], 60),
        # vendors' nurse-call chains: re-notify every 2 min, call at 10 min
        "emergency": p([(0, "duty_screen"), (60, "supervisor"), (600, "director")], 120),
        "routine": p([(0, "duty_screen"), (300, "supervisor")], 600),
        "trouble": p([(0, "duty_screen"), (3600, "maintenance")], None),
        # home beds (docs/home-beds.md, "Escalation"): the call-centre operator at once; a
        # call unacknowledged for 60 s climbs to family in order, then the community
        # centre, and the climb repeats from family_1 until someone acknowledges
        "home_emergency": p(
            [
                (0, "operator"),
                (60, "family_1"),
                (120, "family_2"),
                (180, "family_3"),
                (240, "community"),
            ],
            60,
            cycle_from=1,
        ),
        # a call-back request, a welfare check: the operator; family after 10 min, the
        # community centre after 20, once (quiet hours respected, alerting/contacts.py)
        "home_routine": p([(0, "operator"), (600, "family_1"), (1200, "community")], None),
        # a device's trouble (battery, offline): the operator; the community worker, who
        # can change a battery, after 4 h
        "home_trouble": p([(0, "operator"), (14400, "community")], None),
    }


DEFAULT_BY_SEVERITY: dict[str, str | None] = {
    "critical": "emergency",
    "high": "emergency",
    "medium": "routine",
    "low": "trouble",
}

# home beds (sites of kind home_bed): the policy of a rule without its own, by severity
HOME_BY_SEVERITY: dict[str, str | None] = {
    "critical": "home_emergency",
    "high": "home_emergency",
    "medium": "home_routine",
    "low": "home_trouble",
}
# ...and instead of a nursing home's policy a rule names (the fire rules' `fire`, the
# trouble rules' `trouble`): a home has no duty room, supervisor or maintenance crew
HOME_INSTEAD: dict[str, str] = {
    "fire": "home_emergency",
    "emergency": "home_emergency",
    "routine": "home_routine",
    "trouble": "home_trouble",
}
