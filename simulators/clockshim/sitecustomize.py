"""Loaded (through PYTHONPATH) only into a process run on a shifted clock by libfaketime
(simulators/siteclock.py): libfaketime 0.9.10 (Debian 12) mangles
clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) while the monotonic clock is left alone
(EINVAL, github.com/wolfcw/libfaketime/issues/426), and that is Python 3.11's time.sleep;
select() with a relative timeout is not affected."""

import select
import time
from typing import SupportsIndex


def _sleep(seconds: float | SupportsIndex) -> None:
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
