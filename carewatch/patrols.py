"""The service's fire patrols (docs/fire-duty.md, ## Rounds): the desk over the store
(alerting/checkins.py), the batch sink that turns a tag reader's scan into a check-in in
the engine's transaction of the event, and the check that raises and clears
`round_missed`: at start, every CHECK_MINUTES, and at once for a site that just had a
check-in (from the phone page, or committed from a reader)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime, tzinfo
from typing import Protocol

from apscheduler.schedulers.base import BaseScheduler

from alerting.checkin_reader import RoundSink
from alerting.checkins import RoundDesk, Write
from alerting.items import CommandResult, Observed
from devices.ports import Clock
from devices.registry import Registry

log = logging.getLogger("carewatch.rounds")

CHECK_MINUTES = 1


class EngineLink(Protocol):
    """What the patrols need of the engine's runner (alerting/runner.EngineRunner)."""

    def write(self, apply: Callable[[sqlite3.Connection], None]) -> Future[CommandResult]: ...
    def submit(self, item: Observed) -> Future[CommandResult]: ...
    def after_commit(self, hook: Callable[[], None]) -> None: ...


class Patrols:
    """What dashboards/rounds.py serves (its RoundService): `desk`, `checked_in`; `sink`
    goes to the engine's batch sinks before the engine is built, `wire` follows once the
    engine's runner and the scheduler exist."""

    def __init__(
        self,
        registry: Registry,
        tz: Callable[[str], tzinfo],
        clock: Clock,
        read: Callable[[], sqlite3.Connection],
    ) -> None:
        self._late: list[Write] = []
        self.desk = RoundDesk(registry, read, self._write, clock, tz)
        self.sink = RoundSink(self.desk)
        self._submit: Callable[[Observed], Future[CommandResult]] | None = None
        self._scheduler: BaseScheduler | None = None

    def _write(self, apply: Callable[[sqlite3.Connection], None]) -> Future[CommandResult]:
        if not self._late:
            raise RuntimeError("patrols not wired to the engine yet")
        return self._late[0](apply)

    def wire(self, engine: EngineLink, scheduler: BaseScheduler) -> Patrols:
        """Hand check-ins to the engine's writer, submit `round_missed` verdicts, and check
        every CHECK_MINUTES (first as the scheduler starts), at each round's end of grace,
        and after a reader's check-in committed."""
        self._late[:] = [engine.write]
        self._submit = engine.submit
        self._scheduler = scheduler
        engine.after_commit(self._after_commit)
        if self.desk.sites():
            scheduler.add_job(
                self.check,
                "interval",
                minutes=CHECK_MINUTES,
                id="rounds",
                next_run_time=datetime.now(UTC),
                misfire_grace_time=120,
                coalesce=True,
            )
        return self

    def check(self, sites: Sequence[str] | None = None) -> None:
        """Note since when each route (as it is now) is watched (once per route and
        shape: a route added or changed later is judged from then), then tell the engine
        for each route whether `round_missed` holds now."""
        if self._submit is None:
            return
        self._write(self.desk.start_watch()).result(10)
        observed = self.desk.observations(sites)
        for o in observed:
            self._submit(o)
        missed = [o.device_id for o in observed if o.holds]
        if missed:
            log.info("rounds missed", extra={"routes": ",".join(missed)})
        grace = self.desk.next_grace_ms()
        if grace is not None and self._scheduler is not None:
            # the alert at 03:15:00, not at the next minute's check
            when = datetime.fromtimestamp((grace + 500) / 1000, UTC)
            self._scheduler.add_job(self.check, "date", run_date=when, id="rounds-grace",
                                    replace_existing=True, misfire_grace_time=120)  # fmt: skip

    def checked_in(self, site: str) -> None:
        """A check-in of `site` was saved: its `round_missed` may clear now. A failing check
        is logged, never the check-in's answer: the next periodic check catches up."""
        try:
            self.check([site])
        except Exception:
            log.exception("rounds check after a check-in failed", extra={"site": site})

    def _after_commit(self) -> None:
        """On the engine's thread after a commit: a reader's check-ins committed; check
        their sites on the scheduler (never wait for the engine on its own thread)."""
        sites = sorted(self.sink.pending)
        if not sites or self._scheduler is None:
            return
        self.sink.pending.clear()
        self._scheduler.add_job(self.checked_in_all, args=[sites], misfire_grace_time=60)

    def checked_in_all(self, sites: Sequence[str]) -> None:
        for site in sites:
            self.checked_in(site)
