"""A scenario at its own hour: the service and the simulator on one shifted wall clock.

Rules of the time of day (the door open at night, no activity in the daytime, the day's
check-in by 10:00) follow the service's wall clock in the site's time zone. To play a
scenario at 03:00 whatever the hour, both processes run under libfaketime (Debian package
`faketime`) with the same offset from the real clock, set so that the site's clock reads a
little before the scenario's start; the runner then waits for the start itself
(simulators/play.py). Only the wall clock moves: the monotonic clock (timeouts, sleeps,
MQTT keepalives) runs untouched, and time passes at its real pace.
"""

from __future__ import annotations

import glob
import os
import shlex
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from simulators.scenario import clock_s

SHIM = Path(__file__).resolve().parent / "clockshim"  # sitecustomize.py: time.sleep fixed
LEAD_S = 8.0  # how long before the start the shifted clock begins: the service starts


def faketime_library() -> Path | None:
    """libfaketime's multi-threaded preload library, if installed."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    return Path(found[0]) if found else None


def offset_s(
    now_ms: int, start: str, timezone: str, lead_s: float = LEAD_S, after_ms: int | None = None
) -> int:
    """Whole seconds to add to the real clock (`now_ms`) so that the site's local clock
    (IANA `timezone`) reads `lead_s` before `start` (HH:MM[:SS]) now: the nearest such
    moment, before or after; with `after_ms` (a shifted time), the first one after it (the
    next morning of an evening)."""
    ref_ms = now_ms if after_ms is None else after_ms
    local = datetime.fromtimestamp(ref_ms / 1000, ZoneInfo(timezone))
    now_s = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    shift = (clock_s(start) - lead_s - now_s) % 86400
    if shift > 43200 and after_ms is None:
        shift -= 86400
    return round(shift + (ref_ms - now_ms) / 1000)


def clock_env(shift_s: int, library: Path) -> dict[str, str]:
    """The environment of a process on the real clock shifted by `shift_s` seconds."""
    pythonpath = os.environ.get("PYTHONPATH")
    return {
        "LD_PRELOAD": str(library),
        "FAKETIME": f"{shift_s:+d}",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        "PYTHONPATH": str(SHIM) + (os.pathsep + pythonpath if pythonpath else ""),
    }


def shell_exports(env: dict[str, str]) -> str:
    """`export` lines for a shell (`eval "$(carewatch simulate ... --clock-env)"`)."""
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items())
