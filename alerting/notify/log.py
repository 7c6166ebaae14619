"""The notification side's log lines, ids only: a log line never carries a resident's name.

- `LogSender`: a target configured `kind: log` (no delivery yet) is written to the log;
- `log_escalations`: a runner listener that logs every escalation step as it commits
  (target, alert, rule, device), delivered or not, so the service log tells who was
  called about which device and when.
"""

from __future__ import annotations

import logging

from alerting.model import Change
from alerting.outbox import OutboxRow

log = logging.getLogger("carewatch.alerting.delivery")
escalations = logging.getLogger("carewatch.alerting.notify")


class LogSender:
    def send(self, row: OutboxRow) -> int:
        log.info(
            "notification",
            extra={"target": row.target, "key": row.key, "action": row.action},
        )
        return 0


def log_escalations(changes: list[Change]) -> None:
    """For EngineRunner.add_listener: one line per change that names a target."""
    for c in changes:
        if c.target is None:
            continue
        a = c.alert
        escalations.info(
            "escalation",
            extra={
                "target": c.target,
                "action": c.action,
                "alert_id": a.id,
                "rule": a.rule,
                "device_id": a.device_id,
                "escalation_level": a.escalation_level,
            },
        )
