"""What a notifier is to the delivery worker: `Sender.send` delivers one outbox row or
raises. That is all a notifier says, done or retry later; when to retry, how long to back
off and when to give up is the worker's (alerting/notify/worker.py), written once."""

from __future__ import annotations

from typing import Protocol

from alerting.outbox import OutboxRow


class DeliveryError(Exception):
    """Not delivered; `status` is the receiver's answer when there was one (HTTP 503...)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Sender(Protocol):
    """A notifier as the delivery worker sees it: it sends one row or raises. Retries, backoff and
    giving up are the worker's, never the notifier's."""

    def send(self, row: OutboxRow) -> int:
        """Deliver one notification; the receiver's status (0 if none). Raises
        DeliveryError (or any exception) when it did not arrive: retry later."""
        ...
