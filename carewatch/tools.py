"""The small commands of an installer and IT: check-config, hash-pin, token,
mqtt-credentials, webhook-receiver, backup, restore and export."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from alerting.hazard_alerts import from_alerts_problems
from alerting.rulecheck import check_file, load_rulebook
from alerting.ruleset import RuleSet
from carewatch.settings import Settings, load_settings
from devices.registry import load_sites
from devices.yamlconf import ConfigError, load_yaml

if TYPE_CHECKING:
    from alerting.reports.export import Exporter


def _file_kind(path: Path) -> str:
    if path.is_dir():
        return "sites"
    data, _ = load_yaml(path)
    if isinstance(data, dict) and ("floors" in data or "devices" in data or "kind" in data):
        return "site"
    if isinstance(data, dict) and data.keys() & Settings.model_fields.keys():
        return "settings"
    if isinstance(data, dict) and data and data.keys() <= {"users", "workers"}:
        return "access"
    return "rules"


def _check(path: Path, site: Path | None, rules_file: Path | None = None) -> list[str]:
    """Every problem of a site, rules or settings file (a settings file: both it names;
    its sites against its rules file)."""
    kind = _file_kind(path)
    if kind in ("site", "sites"):
        reg = load_sites(path)
        if hazard_problems := from_alerts_problems(path, reg, load_rulebook(rules_file, reg)):
            return hazard_problems
        sites = ", ".join(f"{s.id} ({len(reg.devices(s.id))} devices)" for s in reg.sites.values())
        print(f"{path}: ok, site{'s' if len(reg.sites) > 1 else ''} {sites}")
        for sid, conf in reg.sites.items():  # a site's own rules file, against that site
            if conf.rules_file is not None:
                _, problems = check_file(conf.rules_file, reg.only(sid))
                if problems:
                    return problems
        return []
    if kind == "settings":
        settings = load_settings(path)
        problems = _check(settings.sites, None, settings.rules_file)
        if not problems and settings.access_file is not None:
            problems = _check(settings.access_file, settings.sites)
        if problems or settings.rules_file is None:
            return problems
        return _check(settings.rules_file, settings.sites)
    if kind == "access":  # tokens across sites, against the sites they name
        from dashboards.access import load_access_file, unplanned_workers

        if site is None:
            return [f"{path}: an access file is checked against its sites: give --site"]
        reg = load_sites(site)
        access = load_access_file(path, reg)
        print(f"{path}: ok, {len(access.grants)} users, {len(access.workers)} workers")
        for warning in unplanned_workers(reg, access.workers):  # runs, but nobody can record
            print(f"{path}: warning: {warning}", file=sys.stderr)
        return []
    registry = load_sites(site) if site else None
    f, problems = check_file(path, registry)
    if not problems and f is not None:
        rules = RuleSet.from_file(f)
        enabled = sum(1 for r in rules.rules.values() if r.enabled)
        against = f", checked against {', '.join(registry.sites)}" if registry else ""
        print(f"{path}: ok, {enabled} rules, {len(f.overrides)} overrides{against}")
    return problems


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        problems = _check(args.file, args.site)
    except ConfigError as exc:
        problems = exc.problems
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


def cmd_hash_pin(args: argparse.Namespace) -> int:
    """A PIN hash for the site file's `staff` list; the PIN is read, never stored."""
    import getpass

    from dashboards.auth import hash_pin

    pin = args.pin if args.pin is not None else getpass.getpass("PIN (4-12 digits): ")
    if not (pin.isdigit() and 4 <= len(pin) <= 12):
        print("carewatch: a PIN is 4 to 12 digits", file=sys.stderr)
        return 2
    print(hash_pin(pin))
    return 0


def cmd_mqtt_credentials(args: argparse.Namespace) -> int:
    """Broker accounts for one service's sites: a password per device, per Zigbee2MQTT
    gateway and for the service, and an ACL per site and service (ingest/mqttauth.py)."""
    import re

    from ingest.mqttauth import grants_for, write_credentials

    if args.service_id is not None and not re.fullmatch(r"[a-z0-9-]{1,32}", args.service_id):
        print("carewatch: --service-id is 1-32 of a-z, 0-9 and -", file=sys.stderr)
        return 2
    registry = load_sites(args.site, args.zigbee_prefix)
    grants = grants_for(registry, args.service_id, args.prefix, args.zigbee_prefix)
    try:
        accts = write_credentials(args.out, grants)
    except ValueError as exc:
        print(f"carewatch: {exc}", file=sys.stderr)
        return 2
    service = accts[0]
    print(f"wrote {args.out}/passwd, acl, mosquitto-auth.conf, credentials.csv (mode 600)")
    print(
        f"{len(grants.devices)} device accounts, {len(grants.zigbee)} Zigbee2MQTT gateway"
        f" accounts for {', '.join(grants.sites)}; the service connects as {service.username}:"
    )
    print(f"  CAREWATCH_MQTT_URL=mqtt://{service.username}:{service.password}@<broker>:1883")
    if args.service_id is not None:
        print(f"  CAREWATCH_SERVICE_ID={args.service_id}")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """A new API token: shown once; the site file keeps only its hash."""
    from dashboards.auth import new_token, token_sha256

    token = new_token()
    print(f"token (give it to {args.name}; it is not shown again): {token}", file=sys.stderr)
    line = f"name: {args.name}, role: {args.role}"
    if args.role in ("district", "operator") or args.sites:  # across sites: docs/security.md
        print("add to the access file under users:")
        if args.sites or args.role != "district":  # only district may leave them out
            sites = ", ".join(x.strip() for x in (args.sites or "<site ids>").split(","))
            line += f", sites: [{sites}]"
    else:
        print("add to the site file under api_tokens:")
    print(f"  - {{{line}, token_sha256: {token_sha256(token)}}}")
    return 0


def cmd_webhook_receiver(argv: list[str], env: Mapping[str, str]) -> int:
    """`carewatch webhook-receiver`: its options are the receiver's own; the shared key is
    read here, from the variable `--secret-env` names."""
    from alerting.notify import receiver_cli as receiver
    from carewatch.secrets import env_secret

    args = receiver.parse_args(argv)
    secret = env_secret(env, args.secret_env)
    if secret is None:
        print(
            f"carewatch-receiver: set the shared secret in ${args.secret_env}; not starting",
            file=sys.stderr,
            flush=True,
        )
        return 2
    return receiver.run(args, secret)


def wrong_config_kind(path: Path) -> str | None:
    """One line when --config is given a site or rules file instead of a settings file:
    what the file is and what to pass instead (pydantic would list 30 unknown fields)."""
    try:
        kind = _file_kind(path)
    except (ConfigError, OSError):
        return None  # load_settings reports a missing or broken file itself
    if kind == "site":
        return (
            f"carewatch: {path} is a site file (floors, rooms, devices), not settings; "
            f"run with CAREWATCH_SITE_FILE={path}, or name it as site_file in a settings "
            "file for --config (docs/configuration.md)"
        )
    if kind == "rules":
        return (
            f"carewatch: {path} is a rules file, not settings; run with "
            f"CAREWATCH_RULES_FILE={path}, or name it as rules_file in a settings file for "
            "--config (docs/configuration.md)"
        )
    return None


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    return load_settings(args.config).data_dir


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent archive of the data dir, safe while the service runs."""
    from carewatch.backup import BackupError, backup

    data_dir = _data_dir(args)
    now_ms = int(time.time() * 1000)
    out = args.out or Path(time.strftime("carewatch-backup-%Y%m%dT%H%M%SZ.tar.gz", time.gmtime()))
    try:
        m = backup(data_dir, out, now_ms)
    except BackupError as exc:
        print(f"carewatch: {exc}", file=sys.stderr)
        return 2
    c = m.counts
    print(
        f"wrote {out}: {c.get('alerts', 0)} alerts ({c.get('open_alerts', 0)} open), "
        f"{c.get('deadlines', 0)} timers, {c.get('outbox_pending', 0)} notifications pending, "
        f"{len(m.files)} files"
    )
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Unpack a backup into a new data dir; the service is then started on that dir."""
    from carewatch.backup import BackupError, restore

    try:
        m = restore(args.archive, Path(args.data_dir))
    except BackupError as exc:
        print(f"carewatch: {exc}", file=sys.stderr)
        return 2
    taken = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(m.created_ms / 1000))
    c = m.counts
    print(
        f"restored into {args.data_dir} the backup of {taken}: "
        f"{c.get('open_alerts', 0)} open alerts, {c.get('deadlines', 0)} timers, "
        f"{c.get('outbox_pending', 0)} notifications pending; "
        f"start the service with CAREWATCH_DATA_DIR={args.data_dir}"
    )
    return 0


def _exporter(settings: Settings, site: str | None, send: bool) -> Exporter:
    """The export of `site` over the service's data dir, as the service makes it: its
    rules, shifts and readings store; queueing (`send`) writes to the data dir's outbox."""
    from alerting import outbox
    from alerting.reports.export import Exporter
    from alerting.reports.service import ReportService
    from alerting.reports.source import InfluxQLStats, PointStats, SeriesStats
    from alerting.store import AlertReader
    from ingest.influx import InfluxV1
    from ingest.spool import EmbeddedReadings
    from ingest.sqlite import connect

    registry = load_sites(settings.sites, settings.zigbee_prefix)
    if site is None and len(registry.sites) == 1:
        site = registry.site_ids()[0]
    if site not in registry.sites:
        raise ConfigError([f"--site: one of {', '.join(registry.site_ids())}"])
    db = settings.data_dir / "carewatch.db"
    if not db.exists():
        raise FileNotFoundError(f"no database at {db}: the service has not run on this data dir")
    rules = load_rulebook(settings.rules_file, registry)
    stats: SeriesStats = PointStats(EmbeddedReadings(str(db)))
    if settings.influx_url:
        token = settings.influx_token.get_secret_value() if settings.influx_token else None
        stats = InfluxQLStats(InfluxV1(settings.influx_url, settings.influx_db, token).query)

    def read() -> sqlite3.Connection:
        return connect(db, readonly=True)

    def write(apply: Callable[[sqlite3.Connection], None]) -> Future[Any]:
        """One transaction of its own (the service, if running, waits for the lock)."""
        done: Future[Any] = Future()
        conn = connect(db, synchronous=settings.sqlite_synchronous)
        try:
            conn.execute("BEGIN IMMEDIATE")
            outbox.create_schema(conn)  # a data dir of an older version: its `kind` column
            apply(conn)
            conn.execute("COMMIT")
            done.set_result(None)
        except sqlite3.Error as exc:
            conn.rollback()
            done.set_exception(exc)
        finally:
            conn.close()
        return done

    svc = ReportService(read, registry.only(site), rules.of(site), stats, site=site)
    service_id = settings.service_id or settings.mqtt_client_id
    states = AlertReader(read).device_states
    return Exporter(svc, service_id, read, write if send else None, states)


def cmd_export(args: argparse.Namespace) -> int:
    """A site's export of one watch day (docs/export.md): printed (JSON or CSV), or with
    --send queued in the data dir's outbox for the site's export target (the service
    delivers it, signed, with retries)."""
    from alerting.reports.export import ExportError
    from alerting.reports.export_csv import export_csv

    try:
        day = date.fromisoformat(args.date) if args.date else None
    except ValueError:
        print(f"carewatch: --date {args.date!r} is no date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    exporter = _exporter(load_settings(args.config), args.site, args.send)
    now_ms = int(time.time() * 1000)
    try:
        if args.send:
            q = exporter.queue(day, now_ms, args.revision)
            verb = "queued" if q.queued else "already queued (same key, not sent again)"
            print(f"{verb}: {q.key} -> {exporter.target} ({q.state})")
            return 0
        doc = exporter.document(day, now_ms, args.revision)
    except ExportError as exc:
        print(f"carewatch: {exc}", file=sys.stderr)
        return 2
    if args.format == "csv":
        text = export_csv(doc)
    else:
        text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(("\ufeff" if args.format == "csv" else "") + text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
