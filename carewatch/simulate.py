"""`carewatch simulate`: a simulated home (built-in scenario) or scenario files played
against a broker, optionally judged against a running service."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from carewatch.logs import setup_logging
from carewatch.settings import DEMO_SITE
from devices.ports import SystemClock
from devices.registry import Registry, load_site

if TYPE_CHECKING:
    from simulators.judge import Report
    from simulators.play import AlertSource
    from simulators.scenario import Loaded


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


def _clock_env(loaded: list[Loaded], registry: Registry) -> int:
    """Print the libfaketime environment that puts the site's clock just before the
    scenario's start (docs/simulator.md): for `eval` before starting serve and simulate."""
    from simulators import siteclock

    library = siteclock.faketime_library()
    tz = registry.site.timezone
    if library is None or tz is None:
        why = "libfaketime is not installed (Debian: faketime)" if library is None else ""
        print(f"carewatch: {why or 'the site file names no timezone'}", file=sys.stderr)
        return 2
    shift = siteclock.offset_s(SystemClock().now_ms(), loaded[0].scenario.start, tz)
    print(siteclock.shell_exports(siteclock.clock_env(shift, library)), flush=True)
    return 0


def _simulate_files(args: argparse.Namespace, files: list[Path]) -> int:
    """Scenario files: play them together; with --check-url, play the operators' actions
    and judge their expected alerts and escalation steps against the running service
    (exit 1 if one fails)."""
    from simulators import play
    from simulators import scenario as sc

    setup_logging("WARNING")
    loaded = [sc.load(f) for f in files]
    registry = load_site(args.site or loaded[0].site_file or DEMO_SITE)
    if args.clock_env:
        return _clock_env(loaded, registry)
    problems = [p for one in loaded for p in sc.problems(one, registry)]
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 2
    token = args.check_token or os.environ.get("CAREWATCH_API_TOKEN")
    check = play.AlertSource(args.check_url, token) if args.check_url else None
    try:
        reports = _play(args, loaded, registry, check)
    except ValueError as exc:  # the site's clock is not at the start, operators w/o service
        print(f"carewatch: {exc}", file=sys.stderr)
        return 2
    for r in reports:
        print("\n".join(r.lines()), flush=True)
    if check is not None:
        passed = sum(r.passed for r in reports)
        print(f"{passed} of {len(reports)} scenarios passed", flush=True)
        return 0 if passed == len(reports) else 1
    return 0


def _play(
    args: argparse.Namespace, loaded: list[Loaded], registry: Registry, check: AlertSource | None
) -> list[Report]:
    from simulators import play

    return play.run(
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
