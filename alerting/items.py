"""What goes into the engine (messages, operator commands, health observations) and what
comes out of a batch: the engine's vocabulary, shared by the runner, the API and tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from alerting.model import Alert, Change
from devices.model import Decoded

ErrorCode = Literal[
    "not_found",
    "closed",
    "internal",
    "not_shelvable",
    "not_shelved",
    "unknown_device",
    "not_in_maintenance",
    "not_fire",
    "bedside_reset",
    "not_bedside",
    "not_home_call",
    "unknown_outcome",
    "unknown_contact",
    "unknown_result",
]
MAX_SHELVE_S = 24 * 3600
MAX_MAINTENANCE_S = 30 * 86400


@dataclass(slots=True)
class Incoming:
    """A decoded message from ingest for the engine; `ack` (if any) is called only after the batch
    that holds it commits."""

    decoded: Decoded
    ack: Callable[[], None] | None = None


@dataclass(slots=True)
class Command:
    """An operator's action on one alert; `outcome` and `contact` are the call-centre
    console's on a home call (alerting/homecalls.py)."""

    action: Literal[
        "ack", "resolve", "shelve", "unshelve", "confirm", "dismiss", "outcome", "contact"
    ]
    alert_id: int
    by: str
    note: str | None = None
    duration_s: float | None = None  # shelve only
    override: bool = False  # resolve only: a supervisor's remote reset of a bedside call
    code: str | None = None  # outcome: its code; contact: the result (alerting/outcomes.py)
    contact: str | None = None  # contact only: the resident's contact id


@dataclass(slots=True)
class DeviceCommand:
    """An operator's action on one device: maintenance (out of service) on or off."""

    action: Literal["maintenance_start", "maintenance_end"]
    device_id: str
    by: str
    note: str | None = None
    duration_s: float | None = None  # maintenance_start only


@dataclass(frozen=True, slots=True)
class Observed:
    """A check outside the message stream (the day's check-in not made, a welfare visit
    missed) saying whether an `observed` rule holds for a subject now: the engine raises or
    clears its alert in its own transaction, so the alert is audited, escalated and routed
    like any other."""

    site: str
    rule: str
    device_id: str  # the subject, e.g. Registry.resident_subject
    holds: bool
    value: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    """The watch's own observation of one of its parts (see watchdog.py)."""

    component: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class StoreWrite:
    """A write another thread needs (a notification settled, spool rows sent on): done by
    the engine, the one writer, in its next transaction, so that no thread waits for the
    database's write lock while the engine holds it batch after batch."""

    apply: Callable[[sqlite3.Connection], None]


Item = Incoming | Command | DeviceCommand | Observed | Health | StoreWrite


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The engine's answer to a command or store write: ok, or the `error` code the API turns into
    404/409, and the alert as it stands after the command."""

    ok: bool
    error: ErrorCode | None
    alert: Alert | None


@dataclass(slots=True)
class BatchResult:
    """What one committed batch did: its alert changes (for listeners), each command's result by
    index in the batch, and message counts."""

    changes: list[Change] = field(default_factory=list)
    results: dict[int, CommandResult] = field(default_factory=dict)  # index in batch -> result
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
