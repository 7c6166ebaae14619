"""build_runtime(settings): picks and wires the parts. The only place that knows them all."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CollectorRegistry, Gauge

from alerting import outbox
from alerting.engine import Engine
from alerting.items import Command, CommandResult, DeviceCommand
from alerting.notify.log import log_escalations
from alerting.reports.daily import DailyJob, ExportJob
from alerting.reports.export import Exporter
from alerting.reports.service import ReportService
from alerting.reports.source import InfluxQLStats, PointStats
from alerting.rulebook import Rulebook
from alerting.rulecheck import load_rulebook
from alerting.ruleset import RuleSet
from alerting.runner import ClockSteps, EngineRunner
from alerting.store import AlertReader
from alerting.watchdog import Probes, Watchdog
from carewatch.delivery import DeliveryWiring, delivery_workers
from carewatch.hazarding import check_hazard_rules, wire_hazards
from carewatch.logs import setup_logging
from carewatch.patrols import Patrols
from carewatch.retention import RetentionJob, set_influx_retention
from carewatch.scheduling import REPORT_PAUSE_S, REPORTS, PausingExecutor
from carewatch.secrets import target_secrets
from carewatch.settings import Settings
from carewatch.visiting import wire_visits
from dashboards.access import load_access_file
from dashboards.auth import StaffAuth, TokenBook, load_secret, site_grants
from dashboards.stream import ChangeHub
from devices.bridge import ZigbeeCheck
from devices.decode import Decoder
from devices.ports import Clock, ReadingsQuery, SystemClock
from devices.registry import Registry, load_sites
from ingest.alerttopic import AlertTopicPublisher
from ingest.deadletter import DeadLetterLog
from ingest.drain import SpoolDrainer
from ingest.influx import InfluxV1, InfluxV2Writer, LineWriter
from ingest.intake import Intake
from ingest.sessions import SessionBook
from ingest.spool import EmbeddedReadings, Spool
from ingest.sqlite import connect
from ingest.status import ServiceStatus
from ingest.workers import WorkerConfig
from ingest.zigbee import ZigbeeBook

log = logging.getLogger("carewatch.runtime")

ENGINE_QUEUE_LIMIT = 100_000
# the watchdog gives the broker link this long to come up at start (ingest workers)
BROKER_GRACE_S = 30.0


class Runtime:
    """Everything a running service is; dashboards see it through dashboards.deps.AppRuntime.
    `secrets`: the webhook targets' HMAC keys by target name (carewatch/secrets.py)."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        rules: RuleSet | Rulebook,
        clock: Clock,
        secrets: Mapping[str, bytes] | Sequence[Mapping[str, bytes]],
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.rules = Rulebook.of_one(rules)
        rules = self.rules
        self.clock = clock
        self.metrics = CollectorRegistry()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db_path: Path = settings.data_dir / "carewatch.db"
        self._topic: AlertTopicPublisher | None = None
        embedded = settings.influx_url is None
        self._spool = Spool(embedded=embedded)
        self._dead = DeadLetterLog(settings.dead_letter_capacity)
        self._conn = connect(self.db_path, synchronous=settings.sqlite_synchronous)
        self._zigbee = ZigbeeBook(registry, settings.zigbee_prefix)  # levels, gateways
        self.patrols = Patrols(registry, rules.tz, clock, self._read_conn)  # carewatch/patrols.py
        engine = Engine(  # workers: two readings of a device may come out of order (skip_stale)
            self._conn, registry, rules, clock,
            [self._spool, self._dead, self._zigbee, self.patrols.sink],  # a scan: a check-in
            self.metrics, skip_stale=settings.ingest_workers > 0,
        )  # fmt: skip
        engine.setup()
        # the real clock may be stepped (NTP): timers then move with it (alerting/runner.py)
        steps = ClockSteps(clock) if isinstance(clock, SystemClock) else None
        self.runner = EngineRunner(engine, clock, self.metrics, steps=steps)
        self.runner.add_listener(log_escalations)  # who was called about what: ids only
        self.hub = ChangeHub()  # wakes the screen's streams after each commit
        self.runner.add_listener(self.hub.notify)
        # who may do what where (docs/security.md): site tokens for their site, the access
        # file's across sites, the service token everywhere; staff at their own site
        admin = settings.api_token.get_secret_value() if settings.api_token else None
        sites = list(registry.sites.values())
        access = load_access_file(settings.access_file, registry) if settings.access_file else None
        self.tokens = TokenBook(site_grants(sites) + (access.grants if access else []), admin)
        self.read_open = settings.read_access == "open"
        session_key = load_secret(settings.data_dir / "session.key")
        self.staff = StaffAuth.of_sites(sites, session_key, clock)
        self.alerts = AlertReader(self._read_conn, engine.heard_times)
        self._paused = False
        # the MQTT side (ingest/intake.py): one session, or telemetry and events apart, or
        # telemetry in worker processes; sessions of an earlier setting are retired
        self.intake: Intake | None = None
        if settings.mqtt_url:
            # Zigbee levels as last committed: a standing alarm is no new one after a restart
            decoder = Decoder(
                registry, settings.mqtt_prefix, settings.zigbee_prefix, settings.falls,
                ZigbeeBook.levels(self._conn),
            )  # fmt: skip
            mqtt = WorkerConfig(
                site_file=settings.sites,
                mqtt_url=settings.mqtt_url,
                client_id=settings.mqtt_client_id,
                share=settings.service_id,
                mqtt_prefix=settings.mqtt_prefix,
                zigbee_prefix=settings.zigbee_prefix,
                falls=settings.falls,
                ca_file=settings.mqtt_ca_file,
                log_level=settings.log_level,
                log_setup=setup_logging,
            )
            self.intake = Intake(
                mqtt,
                decoder,
                self._deliver,
                clock,
                self.metrics,
                SessionBook(settings.data_dir),
                workers=settings.ingest_workers,
                event_session=settings.mqtt_event_session,
            )
            for hook in self.intake.ack_hooks():  # the PUBACKs of each committed batch
                self.runner.after_acks(hook)
        # carewatch/v1/<site>/service/status, retained, with a last will per site
        self.status = (
            ServiceStatus(
                settings.mqtt_url,
                settings.mqtt_client_id,
                settings.mqtt_prefix,
                registry.site_ids(),
                self.service_id,
                settings.mqtt_ca_file,
                keepalive_s=settings.status_keepalive_s,
            )
            if settings.mqtt_url
            else None
        )
        groups = rules.groups()
        keys = [secrets] * len(groups) if isinstance(secrets, Mapping) else list(secrets)
        self._topic, self.workers = delivery_workers(
            settings,
            registry,
            rules,
            keys,
            DeliveryWiring(self._write_conn, clock, self.runner.write, self.metrics),
            self.service_id,
        )
        for w in self.workers:
            self.runner.after_commit(w.wake)
        self.drainer: SpoolDrainer | None = None
        self._influx: InfluxV1 | None = None
        self._readings: ReadingsQuery
        if settings.influx_url:
            token = settings.influx_token.get_secret_value() if settings.influx_token else None
            self._influx = InfluxV1(settings.influx_url, settings.influx_db, token)
            writer: LineWriter = self._influx
            if settings.influx_api == "v2":
                writer = InfluxV2Writer(
                    settings.influx_url, settings.influx_org, settings.influx_db, token
                )
            self.drainer = SpoolDrainer(
                self.db_path, writer, self._tags, clock, self.metrics, write=self.runner.write
            )
            self.runner.after_commit(self.drainer.wake)
            self._readings = self._influx
        else:
            self._readings = EmbeddedReadings(str(self.db_path))
        self._last_message_ms: int | None = None
        self._started_mono: float | None = None
        self._broker_was_up = False
        self.watchdog = Watchdog(
            Probes(
                broker_connected=self._broker_seen_connected if self.intake else None,
                store_healthy=self.drainer.healthy if self.drainer else None,
                last_message_ms=lambda: self._last_message_ms,
                spool_backlog=self._spool_rows if self.drainer else None,
                engine_lag_ms=lambda: self.runner.lag_ms,
                engine_queue=self.runner.queue_depth,
                engine_last_batch_ms=lambda: self.runner.last_batch_ms,
                devices_registered=len(registry),
            ),
            clock,
            self.runner.observe,
        )
        # reports and exports run one at a time, each followed by a breath (REPORT_PAUSE_S):
        # 500 sites' daily reports on the default 10 threads delayed alarms by 0.5 s
        self._scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={
                "default": ThreadPoolExecutor(4),
                REPORTS: PausingExecutor(REPORT_PAUSE_S),
            },
        )
        # retention (carewatch/retention.py): daily, the first pass 10 minutes after start
        self.retention = RetentionJob(
            self.runner.write,
            settings.retention,
            clock.now_ms,
            reports_dir=settings.data_dir / "reports",
            embedded=self.drainer is None,
        )
        self._scheduler.add_job(
            self.retention.run,
            "interval",
            days=1,
            id="retention",
            next_run_time=datetime.now(UTC) + timedelta(minutes=10),
            misfire_grace_time=3600,
            coalesce=True,
        )
        # home beds' welfare visits (carewatch/visiting.py): workers, desk, `visit_missed`
        self.visiting = wire_visits(
            registry, rules, access.workers if access else [], session_key, clock, self._read_conn,
            self.runner.write, self.runner.submit, self._scheduler,
        )  # fmt: skip
        self.hazarding = wire_hazards(  # the hazard register (carewatch/hazarding.py)
            registry, rules, clock, self._read_conn, self.runner.write, self.runner.submit,
            self._scheduler, settings.data_dir,
        )  # fmt: skip
        self.patrols.wire(self.runner, self._scheduler)  # round_missed checks, reader check-ins
        # the self-watch ticks on the monotonic clock, not in the scheduler: a wall-clock
        # scheduler sleeps for as long as the host's clock is stepped back (test_chaos.py)
        self._watch_stop = threading.Event()
        self._watch_thread = threading.Thread(target=self._watch, name="watchdog", daemon=True)
        # the watch report (docs/reports.md): API, screen handover, daily files
        stats = InfluxQLStats(self._influx.query) if self._influx else PointStats(self._readings)
        # one report service per site: its alerts (and the watch's own), its rules and zone
        self.site_reports: dict[str, ReportService] = {}
        self.exporters: dict[str, Exporter] = {}  # each site's export (docs/export.md)
        for (_rs, scope), key in zip(groups, keys, strict=True):
            for sid in registry.sites if scope is None else sorted(scope):
                if scope is None and sid in rules.own_sites():
                    continue
                svc = ReportService(
                    self._read_conn, registry.only(sid), rules.of(sid), stats, clock=clock, site=sid
                )
                self.site_reports[sid] = svc
                out = (
                    settings.data_dir / "reports"
                    if len(registry.sites) == 1
                    else (settings.data_dir / "reports" / sid)
                )
                DailyJob(svc, out, clock.now_ms, key).schedule(self._scheduler, REPORTS)
                self.exporters[sid] = exporter = Exporter(
                    svc, self.service_id, self._read_conn, self.runner.write,
                    self.alerts.device_states,
                )  # fmt: skip
                ExportJob(exporter, clock.now_ms).schedule(self._scheduler, REPORTS)
        self.reports = self.site_reports[registry.site_ids()[0]]
        Gauge(
            "carewatch_broker_connected",
            "1 while connected to the MQTT broker",
            registry=self.metrics,
        ).set_function(lambda: float(self.broker_connected()))
        Gauge(
            "carewatch_spool_backlog",
            "Spool rows not yet in the time-series store",
            registry=self.metrics,
        ).set_function(self.spool_backlog)

    # wiring -------------------------------------------------------------------------

    @property
    def service_id(self) -> str:
        """This deployment's name (settings `service_id`, default the MQTT client id)."""
        return self.settings.service_id or self.settings.mqtt_client_id

    def _write_conn(self) -> sqlite3.Connection:
        return connect(self.db_path, synchronous=self.settings.sqlite_synchronous)

    def _deliver(self, decoded: Any, ack: Callable[[], None] | None) -> None:
        if self._paused:  # shutting down: not acked, so the broker redelivers it later
            return
        self._last_message_ms = self.clock.now_ms()
        self.runner.deliver(decoded, ack)

    def _tags(self, site: str, device_id: str) -> tuple[str, str]:
        d = self.registry.get(site, device_id)
        return (d.room, d.floor) if d else ("", "")

    def _read_conn(self) -> sqlite3.Connection:
        return connect(self.db_path, readonly=True)

    # lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._started_mono = time.monotonic()
        if self._influx is not None and self.settings.influx_api == "v1":
            try:
                self._influx.create_database()
            except Exception as exc:  # 2.x/3.x map databases themselves
                log.warning("could not create influx database", extra={"error": str(exc)})
        set_influx_retention(self.settings, self._influx)
        self.runner.start()
        if self._topic is not None:
            self._topic.start()
        for w in self.workers:
            w.start()
        if self.drainer:
            self.drainer.start()
        if self.intake is not None:
            self.intake.start()
        if self.status is not None:
            self.status.start()
        self._scheduler.start()
        self._watch_thread.start()
        log.info(
            "carewatch started",
            extra={
                "devices": len(self.registry),
                "store": "influx" if self.drainer else "embedded",
            },
        )

    def stop(self) -> None:
        """Stop taking messages, commit and ack what was taken, flush, disconnect."""
        self._paused = True
        if self.status is not None:  # offline is said first: the watch is going
            self.status.stop()
        for w in self.workers:  # first: the rows they marked delivered commit below
            w.stop()
        self.runner.stop()
        if self._topic is not None:
            self._topic.stop()
        if self.intake is not None:  # after the engine's last acks
            self.intake.stop()
        if self.drainer:
            self.drainer.stop()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._watch_stop.set()
        self._conn.close()
        log.info("carewatch stopped")

    def _watch(self) -> None:
        while not self._watch_stop.wait(1.0):
            try:
                self.watchdog.check()
            except Exception:
                log.exception("watchdog check failed")

    # what the API needs ---------------------------------------------------------------

    def submit(self, command: Command | DeviceCommand) -> Future[CommandResult]:
        return self.runner.submit(command)

    def readings(self) -> ReadingsQuery:
        return self._readings

    def broker_connected(self) -> bool:
        return self.intake is not None and self.intake.connected()

    def _broker_seen_connected(self) -> bool:
        """The watchdog's view of the broker link: while the service starts (its ingest
        workers may take seconds to connect) the link counts as up until it first came up
        or BROKER_GRACE_S passed; after that, as it is. A broker down at boot is still
        raised, BROKER_GRACE_S later."""
        if self.broker_connected():
            self._broker_was_up = True
            return True
        if self.intake is not None and self.intake.ever_connected():
            self._broker_was_up = True  # it came up, between two looks, and went again
        if self._broker_was_up or self._started_mono is None:
            return False
        return time.monotonic() - self._started_mono < BROKER_GRACE_S

    def spool_backlog(self) -> float:
        return float(self._spool_rows()) if self.drainer else 0.0

    def _spool_rows(self) -> int:
        conn = self._read_conn()
        try:
            return Spool.backlog(conn)
        finally:
            conn.close()

    def notifications(
        self,
        target: str | None,
        alert_id: int | None,
        state: str | None,
        limit: int,
        sites: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        """The delivery log: newest first (of `sites` only, when given)."""
        conn = self._read_conn()
        try:
            return outbox.delivery_log(conn, target, alert_id, state, limit, sites)
        finally:
            conn.close()

    def dead_letters(
        self, limit: int, reason: str | None, sites: Sequence[str] | None = None
    ) -> list[dict[str, Any]]:
        conn = self._read_conn()
        try:
            return [asdict(d) for d in DeadLetterLog.recent(conn, limit, reason, sites)]
        finally:
            conn.close()

    def unknown_devices(self, sites: Sequence[str] | None = None) -> list[dict[str, Any]]:
        conn = self._read_conn()
        try:
            return [asdict(d) for d in DeadLetterLog.unknown_devices(conn, sites)]
        finally:
            conn.close()

    def zigbee(self, site: str) -> ZigbeeCheck:
        """The site's Zigbee devices against its gateway's state and list (GET /api/zigbee)."""
        return self._zigbee.check(self._read_conn, site)

    def alive(self, timeout_s: float = 5.0) -> bool:
        """The watch works, for systemd's watchdog (carewatch/systemd.py): a no-op goes
        through the engine's queue and commits within `timeout_s` (a stuck engine thread
        fails this though its thread is alive), and ingest's threads run. The broker or
        InfluxDB being down does not count: a restart would not bring them back."""
        if not self.runner.alive():
            return False
        try:
            done = self.runner.write(lambda _conn: None).result(timeout_s)
        except TimeoutError:
            return False
        if not done.ok:
            return False
        return self.intake is None or self.intake.alive()

    def wait_subscribed(self, timeout_s: float) -> bool:
        """Until the broker has acknowledged this process's subscriptions (so what is
        published from now on is kept for the service); False after `timeout_s`."""
        return self.intake is None or self.intake.wait_subscribed(timeout_s)

    def ready(self) -> bool:
        """What makes /readyz answer 200: broker, store and engine."""
        return all(self.health().values())

    def health(self) -> dict[str, bool]:
        return {
            "broker": self.broker_connected(),
            "store": self.drainer.healthy() if self.drainer else True,
            "engine": self.runner.alive() and self.runner.queue_depth() < ENGINE_QUEUE_LIMIT,
        }


def build_runtime(
    settings: Settings, clock: Clock | None = None, env: Mapping[str, str] | None = None
) -> Runtime:
    """The service for `settings`; secrets come from `env` (default: the process's
    environment), resolved here once (carewatch/secrets.py): a webhook target without its
    key is a ConfigError before anything starts."""
    registry = load_sites(settings.sites, settings.zigbee_prefix)
    rules = load_rulebook(settings.rules_file, registry)
    check_hazard_rules(settings.sites, registry, rules)  # hazards.from_alerts: known rules
    environ = os.environ if env is None else env
    secrets = [target_secrets(rs.notify.targets, environ) for rs, _ in rules.groups()]
    return Runtime(settings, registry, rules, clock or SystemClock(), secrets)
