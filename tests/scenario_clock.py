"""Playing a scenario on its site's clock against a real `carewatch serve`: the service and
`carewatch simulate` both under libfaketime with one offset (simulators/siteclock.py), the
simulator waiting for the scenario's start, as docs/simulator.md tells a user to."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from devices.registry import load_site
from simulators import scenario as sc
from simulators import siteclock
from tests.servers import CarewatchProcess

LEAD_S = 15.0  # the service starts within this (the simulator then waits for the start)
WATCH_S = 2.0  # `watched_from`: how long the service watches the evening before


@dataclass
class Played:
    name: str
    stdout: str
    stderr: str
    returncode: int
    seconds: float
    service_log: str

    def why(self) -> str:
        return self.stdout + self.stderr[-3000:] + self.service_log[-4000:]


def play_on_site_clock(
    work: Path,
    broker_url: str,
    scenario: Path,
    site: Path | None = None,
    rules: str | None = None,
    settings: dict[str, str] | None = None,
    timeout_s: float = 180,
) -> Played:
    """Start a service on the scenario's site clock (just before its start), play the
    scenario against it with `carewatch simulate --check-url`, stop the service."""
    library = siteclock.faketime_library()
    if library is None:
        pytest.skip("libfaketime is not installed (Debian package faketime)")
    loaded = sc.load(scenario)
    site = site or loaded.site_file
    assert site is not None
    tz = load_site(site).site.timezone
    assert tz is not None, f"{site} names no timezone"
    started = time.monotonic()
    service = CarewatchProcess(work, broker_url, site, rules=rules, settings=settings)
    after_ms = None
    if loaded.scenario.watched_from is not None:
        # the evening before: the service starts watching (its checks are armed), then
        # stops; the night passes while it is stopped
        evening = siteclock.offset_s(int(time.time() * 1000), loaded.scenario.watched_from, tz, 0)
        service.env = siteclock.clock_env(evening, library)
        service.start()
        time.sleep(WATCH_S)
        service.stop()
        after_ms = int(time.time() * 1000) + evening * 1000
    now = int(time.time() * 1000)
    shift = siteclock.offset_s(now, loaded.scenario.start, tz, LEAD_S, after_ms)
    env = siteclock.clock_env(shift, library)
    service.env = env
    service.start()
    try:
        argv = [sys.executable, "-m", "carewatch", "simulate", "--mqtt-url", broker_url]
        argv += ["--site", str(site), "--scenario", str(scenario)]
        argv += ["--check-url", service.url, "--check-token", service.token]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**{k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}, **env},
        )
    finally:
        service.stop()
    return Played(
        loaded.name,
        done.stdout,
        done.stderr,
        done.returncode,
        time.monotonic() - started,
        service.log(),
    )
