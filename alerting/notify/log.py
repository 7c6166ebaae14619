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
    """The Sender of a `kind: log` target: logs the row's target, key and action (never the alert's
    contents) and counts it delivered. Nothing leaves the house."""

    def send(self, row: OutboxRow) -> int:
        """Log one notification; always "delivered", status 0."""
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
                # a step that reached nobody says why (no_contact, quiet_hours...): a code
                "skipped": c.note.removeprefix("skipped: ")
                if c.note and c.note.startswith("skipped: ")
                else None,
            },
        )
