"""The scheduler's executors: reports and exports one at a time, each followed by a short
pause, so a district's hundreds of daily reports never crowd out the engine.

Measured (bench/throughput/sites.py, 500 sites): on APScheduler's default pool of 10
threads the daily reports took 9-10 CPU-seconds in 10-13 s and a fall's p99 to the screen
went from about 19 ms to 470 ms meanwhile. One thread with a pause between jobs spreads the
same work and leaves the interpreter to the engine between reports.
"""

from __future__ import annotations

import time
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor

REPORTS = "reports"
REPORT_PAUSE_S = 0.05


class PausingExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """One worker thread; after each job it sleeps `pause_s` before taking the next."""

    def __init__(self, pause_s: float) -> None:
        super().__init__(max_workers=1)
        self._pause_s = pause_s

    def _run_job_success(self, job_id: str, events: Any) -> None:
        super()._run_job_success(job_id, events)
        time.sleep(self._pause_s)

    def _run_job_error(self, job_id: str, exc: BaseException, traceback: Any = None) -> None:
        super()._run_job_error(job_id, exc, traceback)
        time.sleep(self._pause_s)
