"""`carewatch serve` and `carewatch demo`: the runtime behind the HTTP server, supervised
(systemd notify and watchdog), stopped in order on SIGTERM."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from pydantic import SecretStr

from carewatch.logs import setup_logging
from carewatch.settings import Settings, load_settings
from carewatch.systemd import Notifier, ServiceNotifier, watchdog_interval_s
from carewatch.tools import wrong_config_kind
from devices.ports import SystemClock

if TYPE_CHECKING:
    from carewatch.runtime import Runtime

log = logging.getLogger("carewatch.cli")


def serve_http(
    settings: Settings,
    runtime: object,
    banner: str | None = None,
    after_start: Callable[[], None] | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Start the runtime, serve HTTP until SIGTERM/SIGINT, then stop the runtime (commit,
    ack, flush). Under systemd: READY=1 once /readyz would answer 200, WATCHDOG=1 while
    the engine commits and ingest runs (carewatch/systemd.py)."""
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
    environ = os.environ if env is None else env
    interval = watchdog_interval_s(environ)
    sd = ServiceNotifier(
        Notifier.from_env(environ),
        ready=lambda: bool(server.started) and runtime.ready(),
        alive=partial(runtime.alive, timeout_s=min(5.0, (interval or 10.0) / 2)),
        interval_s=interval,
    )
    if settings.read_access == "open":
        log.warning(
            "reads are open: anyone who reaches the HTTP port reads every site's alerts,"
            " devices and residents' names (read_access: open); keep it on a closed"
            " duty-room network, or set read_access: token",
            extra={"read_access": "open", "http_host": settings.http_host},
        )
    runtime.start()
    sd.start()
    try:
        if banner:
            threading.Thread(target=_print_when_up, args=(server, banner), daemon=True).start()
        if after_start is not None:
            threading.Thread(target=after_start, name="after-start", daemon=True).start()
        server.run()
    finally:
        sd.stop()  # STOPPING=1 first: systemd waits for the commit below, not the watchdog
        runtime.stop()


def _print_when_up(server: uvicorn.Server, banner: str) -> None:
    while not server.started:
        time.sleep(0.05)
    print(banner, flush=True)


def built(settings: Settings) -> Runtime:
    """build_runtime without the cyclic garbage collector: loading a site of 50,000 devices
    makes objects by the hundred thousand and keeps nearly all of them, so collections
    while it runs only cost time. What it kept is then frozen out of later collections."""
    from carewatch.runtime import build_runtime

    sys.setswitchinterval(settings.gil_switch_ms / 1000)  # the process's (serve and demo)
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
    """`carewatch serve`: the service against the configured broker and store."""
    if args.config is not None:
        wrong = wrong_config_kind(args.config)
        if wrong:
            raise SystemExit(wrong)
    settings = load_settings(args.config)
    setup_logging(settings.log_level)
    if not settings.mqtt_url:
        raise SystemExit("serve needs CAREWATCH_MQTT_URL (or mqtt_url in --config)")
    if settings.api_token is None:
        raise SystemExit("serve needs CAREWATCH_API_TOKEN (16+ characters) for acknowledging")
    runtime = built(settings)
    serve_http(
        settings,
        runtime,
        f"CareWatch listening on http://{settings.http_host}:{settings.http_port}/",
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """`carewatch demo`: a private broker, the embedded store and a simulated home, on a
    fresh data dir (removed at exit) unless --data-dir names one to keep."""
    from carewatch.demo import banner_lines, demo_access, demo_homes, demo_rules, demo_sites
    from ingest.broker import MosquittoProcess, free_port

    overrides: dict[str, object] = {}
    if args.port is not None:
        overrides["http_port"] = args.port
    settings = load_settings(None, **overrides)
    if "read_access" not in settings.model_fields_set:
        # the demo's screen opens without a token; an explicit choice, warned about below
        settings.read_access = "open"
    setup_logging(settings.log_level)
    fresh = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="carewatch-demo-")) if fresh else Path(args.data_dir)
    broker = None
    if not settings.mqtt_url:
        broker = MosquittoProcess(data_dir / "broker", port=free_port())
        broker.start()
        settings.mqtt_url = broker.url
    if settings.api_token is None:
        settings.api_token = SecretStr(secrets.token_urlsafe(18))
    settings.data_dir = data_dir
    settings.sites_dir = demo_sites(args.sites, data_dir)
    settings.access_file = settings.access_file or demo_access(args.sites)
    settings.rules_file = settings.rules_file or demo_rules(args.sites)
    runtime = built(settings)
    registry = runtime.registry
    homes = (
        [] if args.no_simulator else demo_homes(registry, settings, SystemClock(), args.scenario)
    )
    url = f"http://{settings.http_host}:{settings.http_port}/"
    screens = "\n".join(banner_lines(registry, url))
    banner = (
        f"\nCareWatch demo is running.\n"
        f"{screens}\n"
        f"  登录 / staff login (demo PINs): nurse-li 1234, nurse-wang 2345, supervisor-zhao 3456\n"
        f"  API token (integrations): {settings.api_token.get_secret_value()}\n"
        f"  broker: {settings.mqtt_url}   data: {data_dir}\n"
        f"  Ctrl-C stops it.\n"
    )

    def start_homes() -> None:
        # only once the broker keeps what is published for the service: the first
        # seconds of the simulation are not lost to a subscription still on its way
        if homes and runtime.wait_subscribed(30.0):
            for home in homes:
                home.start()
        elif homes:
            log.error("the service did not subscribe in 30 s; the simulated homes stay off")

    try:
        serve_http(settings, runtime, banner, after_start=start_homes)
    finally:
        for home in homes:
            home.stop()
        if broker:
            broker.stop()
        if fresh:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0
