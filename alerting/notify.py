"""Escalation targets: each `escalate`/`renotify` change goes to the notifier registered
for its target. Delivery (screen, webhooks, phone) plugs in here (issue 5); until then a
target without a notifier is logged, and tests record what would have been sent."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from alerting.model import Change

log = logging.getLogger("carewatch.alerting.notify")


class Notifier(Protocol):
    def notify(self, change: Change) -> None: ...


class RecordingNotifier:
    """Keeps every notification it is given (tests, and the demo's audit of targets)."""

    def __init__(self) -> None:
        self.sent: list[Change] = []

    def notify(self, change: Change) -> None:
        self.sent.append(change)


class LogNotifier:
    """Logs the notification: ids and target only, never a resident's name."""

    def notify(self, change: Change) -> None:
        a = change.alert
        log.info(
            "escalation",
            extra={
                "target": change.target,
                "action": change.action,
                "alert_id": a.id,
                "rule": a.rule,
                "device_id": a.device_id,
                "escalation_level": a.escalation_level,
            },
        )


class Dispatcher:
    """A runner listener: routes escalation changes to notifiers by target."""

    def __init__(self, notifiers: Mapping[str, Notifier], fallback: Notifier | None) -> None:
        self._notifiers = dict(notifiers)
        self._fallback = fallback

    def __call__(self, changes: list[Change]) -> None:
        for c in changes:
            if c.target is None:
                continue
            n = self._notifiers.get(c.target, self._fallback)
            if n is None:
                continue
            try:
                n.notify(c)
            except Exception:  # one target failing must not stop the others
                log.exception("notifier failed", extra={"target": c.target})
