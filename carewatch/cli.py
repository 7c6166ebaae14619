"""`carewatch serve|demo|simulate|check-config`."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from pydantic import SecretStr, ValidationError

from alerting.ruleset import RuleSet, check_file
from carewatch.logs import setup_logging
from carewatch.settings import DEMO_SITE, Settings, load_settings
from devices.ports import SystemClock
from devices.registry import load_site
from devices.yamlconf import ConfigError, load_yaml

log = logging.getLogger("carewatch.cli")


def _serve_http(settings: Settings, runtime: object, banner: str | None = None) -> None:
    from carewatch.runtime import Runtime
    from dashboards.app import create_app

    assert isinstance(runtime, Runtime)
    config = uvicorn.Config(
        create_app(runtime),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises SIGTERM/SIGINT once it has shut down; with the default handlers
    # that would kill the process before the runtime commits, acks and flushes.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    runtime.start()
    try:
        if banner:
            threading.Thread(target=_print_when_up, args=(server, banner), daemon=True).start()
        server.run()
    finally:
        runtime.stop()


def _print_when_up(server: uvicorn.Server, banner: str) -> None:
    import time

    while not server.started:
        time.sleep(0.05)
    print(banner, flush=True)


def _built(settings: Settings) -> object:
    """build_runtime without the cyclic garbage collector: loading a site of 50,000 devices
    makes objects by the hundred thousand and keeps nearly all of them, so collections
    while it runs only cost time. What it kept is then frozen out of later collections."""
    from carewatch.runtime import build_runtime

    collecting = gc.isenabled()
    gc.disable()
    try:
        return build_runtime(settings)
    finally:
        if collecting:
            gc.enable()
        gc.collect()
        gc.freeze()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    setup_logging(settings.log_level)
    if not settings.mqtt_url:
        raise SystemExit("serve needs CAREWATCH_MQTT_URL (or mqtt_url in --config)")
    if settings.api_token is None:
        raise SystemExit("serve needs CAREWATCH_API_TOKEN (16+ characters) for acknowledging")
    runtime = _built(settings)
    _serve_http(
        settings,
        runtime,
        f"CareWatch listening on http://{settings.http_host}:{settings.http_port}/",
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from carewatch.runtime import build_runtime
    from ingest.broker import MosquittoProcess, free_port
    from simulators.home import SimulatedHome
    from simulators.models import scenario

    overrides: dict[str, object] = {}
    if args.port is not None:
        overrides["http_port"] = args.port
    settings = load_settings(None, **overrides)
    setup_logging(settings.log_level)
    data_dir = settings.data_dir / "demo"
    broker = None
    if not settings.mqtt_url:
        broker = MosquittoProcess(data_dir / "broker", port=free_port())
        broker.start()
        settings.mqtt_url = broker.url
    if settings.api_token is None:
        settings.api_token = SecretStr(secrets.token_urlsafe(18))
    settings.data_dir = data_dir
    runtime = build_runtime(settings)
    registry = runtime.registry
    home = None
    if not args.no_simulator:
        home = SimulatedHome(
            registry,
            settings.mqtt_url,
            SystemClock(),
            scenario(args.scenario),
            settings.mqtt_prefix,
        )
    url = f"http://{settings.http_host}:{settings.http_port}/"
    banner = (
        f"\nCareWatch demo is running.\n"
        f"  值班屏 / duty screen:  {url}\n"
        f"  登录 / staff login (demo PINs): nurse-li 1234, nurse-wang 2345, supervisor-zhao 3456\n"
        f"  API token (integrations): {settings.api_token.get_secret_value()}\n"
        f"  broker: {settings.mqtt_url}   data: {data_dir}\n"
        f"  Ctrl-C stops it.\n"
    )
    try:
        if home:
            home.start()
        _serve_http(settings, runtime, banner)
    finally:
        if home:
            home.stop()
        if broker:
            broker.stop()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from simulators.home import SimulatedHome
    from simulators.models import scenario

    names: list[str] = args.scenario or ["demo"]
    files = [Path(n) for n in names if n.endswith((".yaml", ".yml")) or Path(n).is_file()]
    if files:
        if len(files) != len(names):
            print("carewatch: scenario files and built-in names do not mix", file=sys.stderr)
            return 2
        return _simulate_files(args, files)
    if len(names) > 1:
        print("carewatch: one built-in scenario at a time", file=sys.stderr)
        return 2
    setup_logging("INFO")
    registry = load_site(args.site or DEMO_SITE)
    home = SimulatedHome(
        registry,
        args.mqtt_url,
        SystemClock(),
        scenario(names[0]),
        args.prefix,
        speed=args.speed or 1.0,
        loss=args.loss,
        seed=args.seed,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    home.start()
    print(
        f"simulating {len(registry)} devices of {registry.site.id} on {args.mqtt_url}", flush=True
    )
    try:
        stop.wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        home.stop()
    print(f"published {home.published} messages", flush=True)
    return 0


def _simulate_files(args: argparse.Namespace, files: list[Path]) -> int:
    """Scenario files: play them together; with --check-url, judge their expected alerts
    against the running service (exit 1 if one fails)."""
    import os

    from simulators import scenario as sc

    setup_logging("WARNING")
    loaded = [sc.load(f) for f in files]
    registry = load_site(args.site or loaded[0].site_file or DEMO_SITE)
    problems = [p for one in loaded for p in sc.problems(one, registry)]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 2
    token = args.check_token or os.environ.get("CAREWATCH_API_TOKEN")
    check = sc.AlertSource(args.check_url, token) if args.check_url else None
    reports = sc.run(
        loaded,
        registry,
        args.mqtt_url,
        SystemClock(),
        speed=args.speed,
        check=check,
        prefix=args.prefix,
        background=not args.no_background,
        loss=args.loss,
        seed=args.seed,
        linger_s=args.duration or 0.0,
        say=lambda line: print(line, flush=True),
    )
    for r in reports:
        print("\n".join(r.lines()), flush=True)
    if check is not None:
        passed = sum(r.passed for r in reports)
        print(f"{passed} of {len(reports)} scenarios passed", flush=True)
        return 0 if passed == len(reports) else 1
    return 0


def _file_kind(path: Path) -> str:
    data, _ = load_yaml(path)
    if isinstance(data, dict) and "floors" in data:
        return "site"
    if isinstance(data, dict) and data.keys() & Settings.model_fields.keys():
        return "settings"
    return "rules"


def _check(path: Path, site: Path | None) -> list[str]:
    """Every problem of a site, rules or settings file (a settings file: both it names)."""
    kind = _file_kind(path)
    if kind == "site":
        site_registry = load_site(path)
        print(f"{path}: ok, site {site_registry.site.id}, {len(site_registry)} devices")
        return []
    if kind == "settings":
        settings = load_settings(path)
        problems = _check(settings.site_file, None)
        if problems or settings.rules_file is None:
            return problems
        return _check(settings.rules_file, settings.site_file)
    registry = load_site(site) if site else None
    f, problems = check_file(path, registry)
    if not problems and f is not None:
        rules = RuleSet.from_file(f)
        enabled = sum(1 for r in rules.rules.values() if r.enabled)
        against = f", checked against site {registry.site.id}" if registry else ""
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
    """Per-device broker passwords, the service's account and an ACL (ingest/mqttauth.py)."""
    from ingest.mqttauth import SERVICE_USER, write_credentials

    registry = load_site(args.site)
    zigbee = any(d.source == "zigbee2mqtt" for d in registry.devices())
    ids = [d.id for d in registry.devices() if d.source == "carewatch"]
    accts = write_credentials(args.out, registry.site.id, ids, zigbee, args.prefix)
    service = next(a for a in accts if a.username == SERVICE_USER)
    print(f"wrote {args.out}/passwd, acl, mosquitto-auth.conf, credentials.csv (mode 600)")
    print(f"{len(ids)} device accounts; the service connects as {SERVICE_USER}:")
    print(f"  CAREWATCH_MQTT_URL=mqtt://{SERVICE_USER}:{service.password}@<broker>:1883")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    """A new API token: shown once; the site file keeps only its hash."""
    from dashboards.auth import new_token, token_sha256

    token = new_token()
    print(f"token (give it to {args.name}; it is not shown again): {token}", file=sys.stderr)
    print("add to the site file under api_tokens:")
    print(f"  - {{name: {args.name}, role: {args.role}, token_sha256: {token_sha256(token)}}}")
    return 0


def cmd_webhook_receiver(argv: list[str], env: Mapping[str, str]) -> int:
    """`carewatch webhook-receiver`: its options are the receiver's own; the shared key is
    read here, from the variable `--secret-env` names."""
    from alerting.notify import receiver
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="carewatch", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve", help="run against the configured broker and store")
    p.add_argument("--config", type=Path, help="YAML file of settings (env overrides it)")
    p.set_defaults(fn=cmd_serve)
    p = sub.add_parser("demo", help="private broker, embedded store, simulated home")
    p.add_argument("--port", type=int, help="HTTP port (default 8080)")
    p.add_argument("--scenario", default="demo", help="built-in scenario to play")
    p.add_argument("--no-simulator", action="store_true")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("simulate", help="publish a simulated home to a broker")
    p.add_argument(
        "--site", type=Path, help="site file (default: the scenario's `site`, else the demo)"
    )
    p.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    p.add_argument("--prefix", default="carewatch/v1")
    p.add_argument(
        "--scenario",
        action="append",
        help="a scenario file (YAML; repeat to play several at once) or a built-in name"
        " (demo, fall, call, smoke, pressure_drop, none); default demo",
    )
    p.add_argument(
        "--speed", type=float, help="simulated seconds per second (default: the scenario's, or 1)"
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds: built-in scenarios run this long (default forever); scenario files"
        " keep the home running this long after their last step",
    )
    p.add_argument("--check-url", help="a running service: judge the scenarios' expected alerts")
    p.add_argument("--check-token", help="bearer token for reading alerts (read_access: token)")
    p.add_argument(
        "--no-background", action="store_true", help="only the devices the scenarios name"
    )
    p.add_argument("--loss", type=float, default=0.0, help="share of periodic messages lost")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(fn=cmd_simulate)
    p = sub.add_parser(
        "check-config", help="validate a site, rules or settings file; print every problem"
    )
    p.add_argument("file", type=Path)
    p.add_argument("--site", type=Path, help="site file a rules file must match (names, types)")
    p.set_defaults(fn=cmd_check_config)
    p = sub.add_parser(
        "webhook-receiver",
        help="a test receiver for integrators: verifies signatures, prints deliveries",
        add_help=False,
    )
    p.set_defaults(fn=None)
    p = sub.add_parser(
        "mqtt-credentials", help="per-device broker passwords and an ACL for mosquitto"
    )
    p.add_argument("--site", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    p.add_argument("--prefix", default="carewatch/v1")
    p.set_defaults(fn=cmd_mqtt_credentials)
    p = sub.add_parser("token", help="make an API token (viewer, duty or admin)")
    p.add_argument("--name", required=True, help="who holds it, e.g. fire-panel")
    p.add_argument("--role", required=True, choices=["viewer", "duty", "admin"])
    p.set_defaults(fn=cmd_token)
    p = sub.add_parser("hash-pin", help="hash a staff PIN for the site file")
    p.add_argument("--pin", help="the PIN (default: asked without echo)")
    p.set_defaults(fn=cmd_hash_pin)
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["webhook-receiver"]:
        return cmd_webhook_receiver(args_list[1:], os.environ)
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except (ConfigError, ValidationError, FileNotFoundError) as exc:
        print(f"carewatch: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
