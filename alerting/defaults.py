"""The default rule set: every hazard of DOMAIN.md's table, with the source of each number
in docs/rules.md. A site's rules file overrides any of them by name (alerting/ruleset.py)."""

from __future__ import annotations

from alerting.model import Severity
from alerting.rules import (
    AbsenceRule,
    AnyRule,
    CorrelationRule,
    EscalationPolicy,
    EscalationStep,
    EventRule,
    RateRule,
    RepetitionRule,
    SystemRule,
    ThresholdRule,
    TimeWindowRule,
)

ALL_TYPES = ["call_button", "wearable", "smoke_detector", "water_pressure", "electrical_monitor"]
FIRE_TYPES = ["smoke_detector", "water_pressure", "electrical_monitor"]
C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def default_rules() -> list[AnyRule]:
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
            title_zh="老人跌倒",
            title_en="Resident fell",
            device_types=["wearable"],
            events=["fall"],
            severity=C,
            priority="emergency",
            latched=True,
        ),
        EventRule(
            name="call",
            title_zh="紧急呼叫",
            title_en="Call for help",
            device_types=["call_button"],
            events=["press"],
            severity=H,
            priority="emergency",
            latched=True,
            clear_events=["cancel"],
            clear_resets=True,
        ),
        EventRule(
            name="sos",
            title_zh="手环SOS求救",
            title_en="SOS from wearable",
            device_types=["wearable"],
            events=["sos"],
            severity=H,
            priority="emergency",
            latched=True,
        ),
        RepetitionRule(
            name="frequent_calls",
            title_zh="频繁呼叫（30分钟内3次）",
            title_en="Frequent calls (3 within 30 min)",
            signals=["call", "sos"],
            count=3,
            within_s=1800,
            severity=M,
            priority="routine",
        ),
        ThresholdRule(
            name="heart_rate_high",
            title_zh="静息心率过高",
            title_en="Heart rate high at rest",
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
            title_zh="静息心率过低",
            title_en="Heart rate low at rest",
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
            title_zh="手环已摘下",
            title_en="Wearable taken off",
            device_types=["wearable"],
            events=["removed"],
            for_s=600,
            clear_events=["put_on"],
            severity=M,
        ),
        ThresholdRule(
            name="pendant_not_worn",
            title_zh="手环未佩戴",
            title_en="Wearable not worn",
            device_types=["wearable"],
            field="worn",
            op="eq",
            value=False,
            for_s=600,
            severity=M,
        ),
        TimeWindowRule(
            name="night_wandering",
            title_zh="夜间离开房间",
            title_en="Left the room at night",
            device_types=["wearable"],
            field="zone",
            allowed=["{room}"],
            start="22:00",
            end="06:00",
            severity=H,
            priority="emergency",
        ),
        # --- fire ---------------------------------------------------------------------
        EventRule(
            name="smoke",
            title_zh="烟雾报警",
            title_en="Smoke alarm",
            device_types=["smoke_detector"],
            events=["smoke_alarm"],
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
            clear_events=["smoke_clear"],
        ),
        RateRule(
            name="temperature_rising",
            title_zh="温度快速上升",
            title_en="Temperature rising fast",
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
        CorrelationRule(
            name="fire_confirmed",
            title_zh="火警确认：同层两处烟感",
            title_en="Fire confirmed: two smoke detectors on one floor",
            signals=["smoke"],
            count=2,
            distinct="device",
            scope="floor",
            within_s=120,
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
        ),
        CorrelationRule(
            name="smoke_and_heat",
            title_zh="火警确认：烟雾且温度骤升",
            title_en="Fire confirmed: smoke and fast temperature rise",
            signals=["smoke", "temperature_rising"],
            count=2,
            distinct="rule",
            scope="room",
            within_s=120,
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
        ),
        ThresholdRule(
            name="water_pressure_low",
            title_zh="消防水压过低",
            title_en="Fire-water pressure low",
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
            title_zh="消防水压快速下降",
            title_en="Fire-water pressure falling fast",
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
            title_zh="剩余电流超限",
            title_en="Residual current high",
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
            title_zh="线缆温度过高",
            title_en="Cable temperature high",
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
            title_zh="故障电弧",
            title_en="Arc fault",
            device_types=["electrical_monitor"],
            events=["arc_fault"],
            severity=H,
        ),
        EventRule(
            name="overcurrent",
            title_zh="过电流",
            title_en="Overcurrent",
            device_types=["electrical_monitor"],
            events=["overcurrent"],
            severity=M,
        ),
        # --- devices (trouble) --------------------------------------------------------
        AbsenceRule(
            name="device_offline",
            title_zh="设备离线",
            title_en="Device offline",
            device_types=ALL_TYPES,
            severity=M,
            fire_safety_severity=H,
            priority="trouble",
        ),
        ThresholdRule(
            name="battery_low",
            title_zh="电量低",
            title_en="Battery low",
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
            title_zh="设备报告电量低",
            title_en="Device reports battery low",
            device_types=ALL_TYPES,
            events=["low_battery"],
            severity=L,
            priority="trouble",
        ),
        EventRule(
            name="tamper",
            title_zh="设备被拆动",
            title_en="Device tampered with",
            device_types=ALL_TYPES,
            events=["tamper"],
            severity=M,
            priority="trouble",
        ),
        EventRule(
            name="device_fault",
            title_zh="设备故障",
            title_en="Device fault",
            device_types=ALL_TYPES,
            events=["fault"],
            severity=M,
            fire_safety_severity=H,
            priority="trouble",
        ),
        # --- the watch itself ---------------------------------------------------------
        SystemRule(
            name="broker_disconnected",
            title_zh="消息服务器连接中断",
            title_en="MQTT broker connection lost",
            component="broker",
            for_s=5,
            severity=H,
            priority="trouble",
        ),
        SystemRule(
            name="store_unreachable",
            title_zh="时序数据库不可达超过60秒",
            title_en="Time-series store unreachable over 60 s",
            component="store",
            for_s=60,
            severity=H,
            priority="trouble",
        ),
        SystemRule(
            name="ingest_silent",
            title_zh="5分钟未收到任何设备消息",
            title_en="No device message for 5 minutes",
            component="ingest",
            for_s=270,
            severity=H,
            priority="trouble",
        ),
        SystemRule(
            name="spool_backlog",
            title_zh="待写入数据积压",
            title_en="Spool backlog growing",
            component="spool",
            for_s=60,
            severity=M,
            priority="trouble",
        ),
        SystemRule(
            name="engine_lag",
            title_zh="告警引擎处理延迟",
            title_en="Alert engine lagging",
            component="engine",
            for_s=0,
            severity=H,
            priority="trouble",
        ),
    ]


def default_policies() -> dict[str, EscalationPolicy]:
    def p(steps: list[tuple[float, str]], repeat_s: float | None) -> EscalationPolicy:
        return EscalationPolicy(
            steps=[EscalationStep(after_s=a, notify=n) for a, n in steps], repeat_s=repeat_s
        )

    return {
        # NFPA 72 positive alarm sequence: acknowledge within 15 s, 180 s to investigate
        "fire": p([(0, "duty_screen"), (15, "supervisor"), (180, "fire_brigade")], 120),
        # vendors' nurse-call chains: re-notify every 2 min, call at 10 min
        "emergency": p([(0, "duty_screen"), (60, "supervisor"), (600, "director")], 120),
        "routine": p([(0, "duty_screen"), (300, "supervisor")], 600),
        "trouble": p([(0, "duty_screen"), (3600, "maintenance")], None),
    }


DEFAULT_BY_SEVERITY: dict[str, str | None] = {
    "critical": "emergency",
    "high": "emergency",
    "medium": "routine",
    "low": "trouble",
}
