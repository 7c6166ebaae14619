"""Faults of the host for the chaos tests: the service's wall clock moved under
libfaketime, and a small file system filled to the last bytes."""

from __future__ import annotations

import errno
import glob
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.servers import CarewatchProcess

# --------------------------------------------------------------------------- host faults


def faketime_library() -> Path | None:
    """libfaketime's multi-threaded preload library (Debian: package `faketime`)."""
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    return Path(found[0]) if found else None


# libfaketime 0.9.10 (Debian 12) mangles clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)
# when the monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1): EINVAL
# (github.com/wolfcw/libfaketime/issues/426). Python 3.11's time.sleep is exactly that call;
# select() with a relative timeout is not affected, and nothing else in the service is.
_SITECUSTOMIZE = '''\
"""Loaded only into a service started under libfaketime by tests/chaos_faults.py."""
import select
import time


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], seconds)


time.sleep = _sleep
'''


class HostClock:
    """The wall clock of one process, moved while it runs: libfaketime preloaded with an
    offset file it re-reads every second. Only CLOCK_REALTIME moves, as when NTP steps a
    host's clock; the monotonic clock (timeouts, sleeps) runs on untouched."""

    def __init__(self, directory: Path, library: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.file = directory / "faketime.rc"
        self.file.write_text("+0\n")
        site = directory / "site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        pythonpath = os.environ.get("PYTHONPATH")
        self.env = {
            "LD_PRELOAD": str(library),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "PYTHONPATH": str(site) + (os.pathsep + pythonpath if pythonpath else ""),
        }

    def set(self, offset: str) -> None:
        """'+2h', '-1h', '+0': relative to the real time (libfaketime's syntax)."""
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(offset + "\n")
        tmp.replace(self.file)


def served_time(service: CarewatchProcess) -> float | None:
    """The service's wall clock as its HTTP Date header says (1 s resolution)."""
    from email.utils import parsedate_to_datetime

    try:
        date = service.get("/healthz").headers.get("date")
    except httpx.HTTPError:
        return None
    return parsedate_to_datetime(date).timestamp() if date else None


@contextmanager
def small_filesystem(path: Path, size_mb: int) -> Iterator[Path]:
    """A tmpfs of `size_mb` at `path` (needs root and mount rights); skip if impossible."""
    import pytest

    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a small file system needs root (mount -t tmpfs)")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def checkpoint(db: Path) -> None:
    """Copy the WAL into the database and truncate it (what SQLite does by itself now and
    then), so that a disk filled next is hit by the next commits, not minutes later."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def fill(path: Path, leave_bytes: int) -> Path:
    """A file taking all but `leave_bytes` of the file system's free space (the service
    writes meanwhile: measured again until the allocation fits)."""
    filler = path / "filler"
    with filler.open("wb") as f:
        for _ in range(20):
            try:
                os.posix_fallocate(f.fileno(), 0, max(0, free_bytes(path) - leave_bytes))
                return filler
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    raise RuntimeError(f"could not fill {path}")


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize
