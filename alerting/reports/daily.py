"""The daily watch report as a scheduler job: at the site's `daily_report.at` (default the
first shift's start, local time) the last whole watch day is written to
<data_dir>/reports/ and, if the site names a webhook target of the rules file, its
summary is POSTed there (through the one webhook poster, alerting/notify/webhook.py,
signed with the target's key, which the composition root resolves and passes in). Also
run once at start, so a service that was down at report time catches up; a day already
written is skipped.

The site's export to the regulator (`ExportJob`, alerting/reports/export.py) is a job of
its own: EXPORT_DELAY_MIN minutes after the watch day ends (so the last minute's calls are
answered or counted unanswered) the day's export is queued in the outbox for the site's
`export.notify` target, and once at start for a day not queued yet; the outbox worker
delivers it, signed, with retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from alerting.reports.export import Exporter, Queued
from alerting.reports.service import ReportService, Webhook
from alerting.reports.shifts import local_date, parse_hhmm
from devices.yamlconf import ConfigError

log = logging.getLogger("carewatch.reports")


def webhook_for(service: ReportService, secrets: Mapping[str, bytes]) -> Webhook | None:
    """The rules file's notify target named by `daily_report.notify`; ConfigError if it is
    not a webhook or `secrets` (HMAC keys by target name) has no key for it."""
    name = service.registry.site.daily_report.notify
    if name is None:
        return None
    target = service.rules.notify.targets.get(name)
    if target is None or target.kind != "webhook" or not target.url or not target.secret_env:
        raise ConfigError([f"daily_report.notify: {name!r} is no webhook target of the rules"])
    secret = secrets.get(name)
    if not secret:
        raise ConfigError([f"daily_report.notify: set {target.secret_env} (HMAC key)"])
    return Webhook(target.url, secret, target.timeout_s)


class DailyJob:
    """The daily report as a scheduler job: writes the last watch day's files and POSTs the summary
    to the site's webhook, if it names one. Built by the composition root."""

    def __init__(
        self,
        service: ReportService,
        out_dir: Path,
        now_ms: Callable[[], int],
        secrets: Mapping[str, bytes] | None = None,
    ) -> None:
        cfg = service.registry.site.daily_report
        self.service = service
        self.out_dir = out_dir
        self.at = parse_hhmm(cfg.at) if cfg.at else None
        self.enabled = cfg.enabled
        self.webhook = webhook_for(service, secrets or {}) if cfg.enabled else None
        self._now = now_ms

    def due_name(self, now_ms: int) -> str:
        """The file name (no suffix) of the report due at `now_ms`: watch-<local date the watch day
        started>."""
        start, _ = self.service.daily_period(self.at, now_ms)
        return f"watch-{local_date(start, self.service.tz).isoformat()}"

    def run(self) -> Path | None:
        """Write the last watch day's report unless it is there already."""
        now = self._now()
        if (self.out_dir / (self.due_name(now) + ".json")).exists():
            return None
        try:
            result = self.service.daily(self.out_dir, now, self.at, self.webhook)
        except Exception:  # a report must never take the watch down
            log.exception("daily watch report failed")
            return None
        return result.files[0]

    def schedule(self, scheduler: Any, executor: str = "default") -> None:
        """Add the cron job (site time zone) and a catch-up run now to an APScheduler, on
        `executor` (the service gives every site's report one serial executor: 500 sites'
        reports at once took the engine's CPU and delayed alarms by half a second)."""
        if not self.enabled:
            return
        from apscheduler.triggers.cron import CronTrigger

        at = self.at or min(s.start for s in self.service.shifts)
        trigger = CronTrigger(hour=at.hour, minute=at.minute, timezone=self.service.tz)
        scheduler.add_job(
            self.run,
            trigger,
            id=f"daily_report:{self.service.registry.site.id}",
            misfire_grace_time=3600,
            coalesce=True,
            executor=executor,
        )
        scheduler.add_job(
            self.run,
            id=f"daily_report_catch_up:{self.service.registry.site.id}",
            misfire_grace_time=None,
            executor=executor,
        )


EXPORT_DELAY_MIN = 5


def check_export_target(service: ReportService) -> str | None:
    """The webhook target named by the site's `export.notify` (None: not exported);
    ConfigError if the site's rules have no such webhook target."""
    name = service.registry.site.export.notify
    if name is None:
        return None
    target = service.rules.notify.targets.get(name)
    if target is None or target.kind != "webhook" or not target.url:
        raise ConfigError([f"export.notify: {name!r} is no webhook target of the site's rules"])
    return name


class ExportJob:
    """The site's daily export as a scheduler job: queues the last whole watch day's export for
    the site's target unless it is queued already. Built by the composition root."""

    def __init__(self, exporter: Exporter, now_ms: Callable[[], int]) -> None:
        self.exporter = exporter
        self.target = check_export_target(exporter.reports)
        self._now = now_ms

    def run(self) -> Queued | None:
        """Queue the last whole watch day's export (revision 1) if it never was."""
        now = self._now()
        try:
            day = self.exporter.period(None, now).day
            if self.exporter.state(day) is not None:
                return None
            return self.exporter.queue(day, now)
        except Exception:  # an export must never take the watch down
            log.exception("site export failed", extra={"site": self.exporter.site.id})
            return None

    def schedule(self, scheduler: Any, executor: str = "default") -> None:
        """Add the cron job (site time zone, EXPORT_DELAY_MIN after the watch day ends) and a
        catch-up run now, on `executor`; nothing when the site names no export target."""
        if self.target is None:
            return
        from apscheduler.triggers.cron import CronTrigger

        svc = self.exporter.reports
        at = self.exporter.boundary
        minutes = (at.hour * 60 + at.minute + EXPORT_DELAY_MIN) % 1440
        trigger = CronTrigger(hour=minutes // 60, minute=minutes % 60, timezone=svc.tz)
        site = self.exporter.site.id
        scheduler.add_job(
            self.run,
            trigger,
            id=f"export:{site}",
            misfire_grace_time=3600,
            coalesce=True,
            executor=executor,
        )
        scheduler.add_job(
            self.run, id=f"export_catch_up:{site}", misfire_grace_time=None, executor=executor
        )
