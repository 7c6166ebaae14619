"""A patrol's tag reader over MQTT: its `scan` events become round check-ins in the engine's
transaction of the event (alerting/checkins.py's desk does the checking and writing)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence

from alerting.checkins import READER, CheckinError, RoundDesk
from alerting.rounds import CHECKLIST
from devices.model import DeviceEvent
from devices.ports import BatchItem
from devices.rounds import normal_tag

log = logging.getLogger("carewatch.rounds")


class RoundSink:
    """A batch sink (devices.ports.BatchSink) that turns a tag reader's `scan` event into a
    check-in, in the engine's transaction of that event: the event and its check-in commit
    together (nothing accepted is lost) and a redelivered event, refused by the engine's
    event log before it reaches the sinks, is not counted twice. An unknown tag is logged
    (the event itself is kept like any other)."""

    def __init__(self, desk: RoundDesk, on_checkin: Callable[[str], None] | None = None) -> None:
        self._desk = desk
        self.on_checkin = on_checkin  # the service checks the site's rounds after commit
        self.pending: set[str] = set()

    def create_schema(self, conn: sqlite3.Connection) -> None:
        """The table lives in the alert store's schema (alerting/store.py)."""

    def write(self, conn: sqlite3.Connection, items: Sequence[BatchItem]) -> None:
        """Record each reader scan of the batch; never raises for one bad scan (that would
        roll the whole batch back): an unknown tag is logged, a repeat skipped."""
        for d in items:
            if not isinstance(d, DeviceEvent) or d.device_type != READER or d.event != "scan":
                continue
            tag = normal_tag(str(d.attrs.get("tag", "")))
            cp = self._desk.by_tag(d.site, tag)
            if cp is None:
                log.warning(
                    "tag reader scan of an unknown tag",
                    extra={"site": d.site, "device": d.device_id, "tag": tag[:64]},
                )
                continue
            problem = d.attrs.get("problem")
            answers = {}
            if isinstance(problem, str) and problem in CHECKLIST:
                answers[problem] = "problem"
            by = str(d.attrs.get("staff") or d.device_id)
            client = f"reader:{d.site}/{d.device_id}/{d.key}"
            try:
                self._desk.apply_checkin(conn, d.site, cp, tag, by, "reader", d.ts_ms,
                                         answers, None, client, False)  # fmt: skip
            except CheckinError:  # the same scan recorded already
                continue
            self.pending.add(d.site)
