"""The default rules of the automatic fire installations (issue 17; docs/fire-duty.md,
"Fire equipment", has the source of every number): the fire panel's points, pumps,
sprinkler flow and valves, the fire-water tank, smoke-control fans, fire doors and
emergency lights. alerting/defaults.py adds them to the built-in set.

"Supervisory" (a valve closed, a pump out of automatic, a panel's supervisory signal) is
severity medium, priority trouble: nothing burns, but the installation would not work if
something did. Faults of fire equipment are high, the way `device_fault` is high on a
fire-safety device.
"""

from __future__ import annotations

from alerting.model import Severity
from alerting.rules import AnyRule, EventRule, ThresholdRule

# a panel's faults are its points' (panel_fault), not the device's own `device_fault`
PANEL = "fire_panel"
C, H, M, L = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW


def fire_equipment_rules() -> list[AnyRule]:
    """The fire installations' rules, fresh each call."""
    return [
        # --- the fire alarm control panel, through its gateway (用户信息传输装置) -------
        EventRule(  # a detector of the panel: the positive alarm sequence, like smoke
            name="panel_fire",
            device_types=[PANEL],
            events=["fire"],
            point="point",
            clear_events=["reset"],  # latched: the reset is recorded, a person resolves it
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
            fire="watch",
        ),
        EventRule(
            name="panel_fault",
            device_types=[PANEL],
            events=["fault"],
            point="point",
            clear_events=["fault_clear", "reset"],
            severity=H,
            priority="trouble",
        ),
        EventRule(
            name="panel_supervisory",
            device_types=[PANEL],
            events=["supervisory"],
            point="point",
            clear_events=["supervisory_clear", "reset"],
            severity=M,
            priority="trouble",
        ),
        EventRule(  # 屏蔽: a reset does not lift it on the panel, so not here either
            name="panel_disabled",
            device_types=[PANEL],
            events=["disable"],
            point="point",
            clear_events=["enable"],
            severity=M,
            priority="trouble",
        ),
        # --- fire pumps -----------------------------------------------------------------
        ThresholdRule(
            name="pump_fault",
            device_types=["fire_pump"],
            field="fault",
            op="eq",
            value=True,
            severity=H,
            priority="trouble",
        ),
        ThresholdRule(  # GB 50974 ch. 11: pumps stand in automatic start in normal times
            name="pump_manual",
            device_types=["fire_pump"],
            field="mode",
            op="ne",
            value="auto",
            severity=M,
            priority="trouble",
        ),
        ThresholdRule(  # a main pump runs: water is being drawn (a fire, a test, a leak)
            name="pump_running",
            device_types=["fire_pump"],
            field="running",
            op="eq",
            value=True,
            severity=L,
            priority="routine",
        ),
        # --- sprinklers -----------------------------------------------------------------
        ThresholdRule(  # NFPA 72: waterflow is an alarm signal, never a delayed (PAS) one
            name="sprinkler_flow",
            device_types=["sprinkler_flow"],
            field="flow",
            op="eq",
            value=True,
            severity=C,
            priority="emergency",
            latched=True,
            escalation="fire",
            fire="forward",
        ),
        ThresholdRule(
            name="valve_closed",
            device_types=["signal_valve"],
            field="open",
            op="eq",
            value=False,
            severity=M,
            priority="trouble",
        ),
        # --- fire water, smoke control, doors, lights ------------------------------------
        ThresholdRule(  # GB 50974 §4.3.9: a low alarm level shown in the duty room
            name="tank_low",
            device_types=["fire_tank"],
            field="level_pct",
            op="lt",
            value=80,
            unit="%",
            for_s=60,  # sloshing while the tank refills
            clear_value=85,
            severity=H,
            priority="routine",
        ),
        ThresholdRule(
            name="fan_fault",
            device_types=["smoke_fan"],
            field="fault",
            op="eq",
            value=True,
            severity=H,
            priority="trouble",
        ),
        ThresholdRule(  # a normally-closed fire door wedged open: smoke spreads through it
            name="fire_door_open",
            device_types=["fire_door"],
            field="closed",
            op="eq",
            value=False,
            for_s=300,  # long enough to push a bed through
            severity=M,
            priority="routine",
        ),
        ThresholdRule(
            name="emergency_light_fault",
            device_types=["emergency_light"],
            field="fault",
            op="eq",
            value=True,
            severity=M,
            priority="trouble",
        ),
    ]
