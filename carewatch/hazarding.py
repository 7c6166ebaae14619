"""The service's hazard register (docs/fire-duty.md, ## Hazards): the desk over the store,
the photo files under <data_dir>/hazard-photos, and the checks: alerts open too long
open a hazard (alerting/hazard_alerts.py), and `hazard_overdue` is raised and cleared
(alerting/hazard_desk.py) at start, every CHECK_MINUTES, and at once after a change (a
hazard fixed clears its alert as the button is pressed)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.schedulers.base import BaseScheduler

from alerting.hazard_alerts import from_alerts_problems, open_from_alerts
from alerting.hazard_desk import HazardDesk, Write
from alerting.hazard_photos import PhotoStore
from alerting.items import CommandResult, Observed
from alerting.rulebook import Rulebook
from devices.ports import Clock
from devices.registry import Registry
from devices.yamlconf import ConfigError

log = logging.getLogger("carewatch.hazards")

CHECK_MINUTES = 5


class Hazarding:
    """What dashboards/hazards.py serves (its HazardService): desk, photos, `changed`."""

    def __init__(
        self,
        desk: HazardDesk,
        photos: PhotoStore,
        registry: Registry,
        submit: Callable[[Observed], Future[CommandResult]],
    ) -> None:
        self.desk = desk
        self.photos = photos
        self._registry = registry
        self._submit = submit

    def check(self, sites: Sequence[str] | None = None) -> None:
        """Open the hazards of alerts left open too long, then tell the engine for each
        hazard whether `hazard_overdue` holds now."""
        if sites is None:
            opened = open_from_alerts(self.desk, self._registry)
            if opened:
                log.info("hazards opened from alerts", extra={"hazards": len(opened)})
        observed = self.desk.observations(sites)
        for fut in [self._submit(o) for o in observed]:
            fut.result(10)
        overdue = sum(1 for o in observed if o.holds)
        if overdue:
            log.info("hazards overdue", extra={"hazards": overdue})

    def changed(self, site: str) -> None:
        """A hazard of `site` changed: its overdue alert follows now. A failed check is
        logged, never the change's answer (the change is saved; the next check follows)."""
        try:
            self.check([site])
        except Exception:
            log.exception("hazards check after a change failed", extra={"site": site})


def check_hazard_rules(sites: Path, registry: Registry, rules: Rulebook) -> None:
    """ConfigError (file:line) for a rule in a site file's `hazards.from_alerts` that the
    site's rules do not have: the service does not start with it."""
    if problems := from_alerts_problems(sites, registry, rules):
        raise ConfigError(problems)


def wire_hazards(
    registry: Registry,
    rules: Rulebook,
    clock: Clock,
    read: Callable[[], sqlite3.Connection],
    write: Write,
    submit: Callable[[Observed], Future[CommandResult]],
    scheduler: BaseScheduler,
    data_dir: Path,
) -> Hazarding:
    """The hazard register of a service, its check scheduled on `scheduler` (first run as
    it starts)."""
    desk = HazardDesk(registry, read, write, clock, rules.tz)
    hazarding = Hazarding(desk, PhotoStore(data_dir / "hazard-photos"), registry, submit)
    scheduler.add_job(
        hazarding.check,
        "interval",
        minutes=CHECK_MINUTES,
        id="hazards",
        next_run_time=datetime.now(UTC),
        misfire_grace_time=300,
        coalesce=True,
    )
    return hazarding
