"""The service's welfare visits (docs/home-beds.md, ## Visits): the desk over the store,
the community workers' sessions (the access file's `workers`), and the check that raises
and clears `visit_missed` (alerting/visits.py): at start, every CHECK_MINUTES, and at once
for a site whose visit was just recorded (the alert clears as the worker taps)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime

from apscheduler.schedulers.base import BaseScheduler

from alerting.items import CommandResult, Observed
from alerting.rulebook import Rulebook
from alerting.visits import VisitDesk, Write
from dashboards.access import Worker, unplanned_workers
from dashboards.workers import WorkerAuth
from devices.ports import Clock
from devices.registry import Registry

log = logging.getLogger("carewatch.visits")

CHECK_MINUTES = 15


class Visiting:
    """What dashboards/visits.py serves (its VisitService): desk, workers, `recorded`."""

    def __init__(
        self,
        desk: VisitDesk,
        workers: WorkerAuth,
        write: Write,
        submit: Callable[[Observed], Future[CommandResult]],
    ) -> None:
        self.desk = desk
        self.workers = workers
        self._write = write
        self._submit = submit

    def check(self, sites: Sequence[str] | None = None) -> None:
        """Note since when each plan runs (once), then tell the engine for each planned
        resident whether `visit_missed` holds now."""
        self._write(self.desk.start_plans()).result(10)
        observed = self.desk.observations(sites)
        for o in observed:
            self._submit(o)
        missed = sum(1 for o in observed if o.holds)
        if missed:  # ids and counts only: never a resident's name
            log.info("visits missed", extra={"subjects": missed})

    def recorded(self, site: str) -> None:
        """A visit of `site` was saved: its alert clears now. A check that fails here
        (the engine busy) is logged, never the visit's answer: the visit is saved, and the
        next periodic check clears the alert."""
        try:
            self.check([site])
        except Exception:
            log.exception("visits check after a visit failed", extra={"site": site})


def wire_visits(
    registry: Registry,
    rules: Rulebook,
    workers: Sequence[Worker],
    secret: bytes,
    clock: Clock,
    read: Callable[[], sqlite3.Connection],
    write: Write,
    submit: Callable[[Observed], Future[CommandResult]],
    scheduler: BaseScheduler,
) -> Visiting:
    """The visits of a service, their check scheduled on `scheduler` (first run as it
    starts). Sites whose plan names a worker not in the access file for them are logged:
    the visits fall due and are raised missed, but nobody can record one."""
    auth = WorkerAuth(workers, secret, clock)
    desk = VisitDesk(registry, auth.assigned(), read, write, clock, rules.tz)
    visiting = Visiting(desk, auth, write, submit)
    unplanned = [
        s.id for s in registry.sites.values() if unplanned_workers(registry.only(s.id), workers)
    ]
    if unplanned:  # docs/home-beds.md: their visits fall due, nobody can record one
        log.warning(
            "visits planned by a worker not in the access file: nobody can record them",
            extra={"sites": ",".join(unplanned)},
        )
    if desk.planned_sites():
        scheduler.add_job(
            visiting.check,
            "interval",
            minutes=CHECK_MINUTES,
            id="visits",
            next_run_time=datetime.now(UTC),
            misfire_grace_time=600,
            coalesce=True,
        )
    return visiting
