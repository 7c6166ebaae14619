"""`carewatch serve|demo|simulate|check-config|backup|restore|export|...`: the argument parser;
each command lives with its kind (serving, simulate, tools)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from carewatch import serving, simulate, tools
from devices.yamlconf import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="carewatch", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("serve", help="run against the configured broker and store")
    p.add_argument("--config", type=Path, help="YAML file of settings (env overrides it)")
    p.set_defaults(fn=serving.cmd_serve)
    p = sub.add_parser("demo", help="private broker, embedded store, simulated home")
    p.add_argument("--port", type=int, help="HTTP port (default 8080)")
    p.add_argument("--scenario", default="demo", help="built-in scenario to play")
    p.add_argument("--no-simulator", action="store_true")
    p.add_argument(
        "--data-dir", type=Path, help="keep the demo's data here (default: a fresh one, removed)"
    )
    p.add_argument(
        "--sites",
        type=int,
        default=1,
        help="1: the demo home; 2-3: a small district (two homes, a home bed; examples/sites)",
    )
    p.set_defaults(fn=serving.cmd_demo)
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
    p.add_argument("--check-token", help="bearer token for reading alerts (unless reads are open)")
    p.add_argument(
        "--no-background", action="store_true", help="only the devices the scenarios name"
    )
    p.add_argument("--loss", type=float, default=0.0, help="share of periodic messages lost")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--clock-env",
        action="store_true",
        help="print the libfaketime environment that sets the site's clock just before the"
        " scenario's start (for `eval`, before serve and simulate; docs/simulator.md)",
    )
    p.set_defaults(fn=simulate.cmd_simulate)
    p = sub.add_parser(
        "check-config", help="validate a site, rules or settings file; print every problem"
    )
    p.add_argument("file", type=Path)
    p.add_argument("--site", type=Path, help="site file a rules file must match (names, types)")
    p.set_defaults(fn=tools.cmd_check_config)
    p = sub.add_parser(
        "webhook-receiver",
        help="a test receiver for integrators: verifies signatures, prints deliveries",
        add_help=False,
    )
    p.set_defaults(fn=None)
    p = sub.add_parser(
        "mqtt-credentials",
        help="broker accounts (devices, gateways, the service) and an ACL per site for mosquitto",
    )
    p.add_argument(
        "--site",
        "--sites",
        dest="site",
        type=Path,
        required=True,
        help="the service's site file or folder of site files",
    )
    p.add_argument("--out", type=Path, required=True, help="directory to write into")
    p.add_argument("--prefix", default="carewatch/v1")
    p.add_argument(
        "--service-id",
        help="the service's CAREWATCH_SERVICE_ID: its account is carewatch-<id>"
        " (default: carewatch-engine)",
    )
    p.add_argument(
        "--zigbee-prefix", default="zigbee2mqtt", help="the service's CAREWATCH_ZIGBEE_PREFIX"
    )
    p.set_defaults(fn=tools.cmd_mqtt_credentials)
    p = sub.add_parser("token", help="make an API token (a site's, or across sites)")
    p.add_argument("--name", required=True, help="who holds it, e.g. fire-panel")
    p.add_argument(
        "--role", required=True, choices=["viewer", "duty", "admin", "operator", "district"]
    )
    p.add_argument("--sites", help="for the access file: the sites it works for, e.g. a,b")
    p.set_defaults(fn=tools.cmd_token)
    p = sub.add_parser("hash-pin", help="hash a staff PIN for the site file")
    p.add_argument("--pin", help="the PIN (default: asked without echo)")
    p.set_defaults(fn=tools.cmd_hash_pin)
    p = sub.add_parser("backup", help="archive the data dir (safe while the service runs)")
    p.add_argument("--config", type=Path, help="settings file (for its data_dir)")
    p.add_argument("--data-dir", type=Path, help="the service's data dir")
    p.add_argument("--out", type=Path, help="archive to write (default: a dated name here)")
    p.set_defaults(fn=tools.cmd_backup)
    p = sub.add_parser("restore", help="unpack a backup into a new, empty data dir")
    p.add_argument("archive", type=Path)
    p.add_argument("--data-dir", type=Path, required=True)
    p.set_defaults(fn=tools.cmd_restore)
    p = sub.add_parser(
        "export", help="a site's safety figures of one watch day for the regulator (JSON/CSV)"
    )
    p.add_argument("--config", type=Path, help="settings file of the service")
    p.add_argument("--site", help="site id (default: the only site)")
    p.add_argument("--date", help="YYYY-MM-DD: the watch day starting then (default: the last)")
    p.add_argument("--format", choices=["json", "csv"], default="json")
    p.add_argument("--out", type=Path, help="write here (default: stdout)")
    p.add_argument("--revision", type=int, default=1, help="a new revision is a new key")
    p.add_argument(
        "--send", action="store_true", help="queue it for the site's export.notify target"
    )
    p.set_defaults(fn=tools.cmd_export)
    args_list = sys.argv[1:] if argv is None else argv
    if args_list[:1] == ["webhook-receiver"]:
        return tools.cmd_webhook_receiver(args_list[1:], os.environ)
    args = parser.parse_args(argv)
    try:
        return int(args.fn(args))
    except (ConfigError, ValidationError, FileNotFoundError) as exc:
        print(f"carewatch: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
