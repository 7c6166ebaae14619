"""Reports and exports run one at a time: hundreds of sites' daily reports never take
several threads' worth of the interpreter from the engine at once."""

from __future__ import annotations

import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler

from carewatch.scheduling import REPORTS, PausingExecutor


def test_report_jobs_never_overlap() -> None:
    running, most, done = [0], [0], []
    lock = threading.Lock()
    finished = threading.Event()

    def job(i: int) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01)  # some work
        with lock:
            running[0] -= 1
            done.append(i)
            if len(done) == 20:
                finished.set()

    s = BackgroundScheduler(executors={REPORTS: PausingExecutor(0.001)})
    s.start()
    try:
        for i in range(20):
            s.add_job(job, args=[i], id=f"r{i}", executor=REPORTS, misfire_grace_time=None)
        assert finished.wait(10)
    finally:
        s.shutdown(wait=True)
    assert most[0] == 1 and sorted(done) == list(range(20))
