"""Running under systemd (`Type=notify`, `WatchdogSec=`): READY=1 once the watch is ready,
then WATCHDOG=1 only while the watch really works.

The watchdog ping is the point: a process can be alive while its engine thread is stuck
(a lock, a full disk that never returns) and then no alarm reaches anybody. systemd kills
and restarts a service whose pings stop, so the ping is sent only after `alive()` says the
parts that must run are running: the engine commits a no-op through its queue within a
timeout, and the ingest threads run. The broker or InfluxDB being down does not stop it:
a restart would not fix them, and the spool and the broker's sessions keep every message.

The protocol (sd_notify(3)) is one datagram to the socket named in $NOTIFY_SOCKET ('@' is
the abstract namespace); WATCHDOG_USEC gives the timeout (ping every half of it), and
WATCHDOG_PID, when set, must be this process. Written out rather than taken from a library:
it is these twenty lines, and a test talks to it through a real datagram socket.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping

log = logging.getLogger("carewatch.systemd")


class Notifier:
    """Sends sd_notify messages; does nothing where no $NOTIFY_SOCKET is set."""

    def __init__(self, address: str | None) -> None:
        self._address = address

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Notifier:
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, message: str) -> bool:
        """Send one message; False (logged) when the socket refuses it."""
        if self._address is None:
            return False
        addr = self._address
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(addr)
                s.sendall(message.encode())
        except OSError as exc:
            log.warning("sd_notify failed", extra={"error": str(exc)})
            return False
        return True


def watchdog_interval_s(env: Mapping[str, str], pid: int | None = None) -> float | None:
    """Half the watchdog timeout systemd set for this process, or None when it set none."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    want_pid = env.get("WATCHDOG_PID")
    if want_pid and int(want_pid) != (os.getpid() if pid is None else pid):
        return None
    try:
        timeout = int(usec) / 1_000_000
    except ValueError:
        return None
    return timeout / 2 if timeout > 0 else None


class ServiceNotifier:
    """READY once `ready()` holds, then WATCHDOG=1 every `interval_s` while `alive()` holds.

    `ready` and `alive` are the service's own checks (carewatch/runtime.py): ready is what
    makes /readyz answer 200; alive is the engine's round trip and the ingest threads.
    One daemon thread; `stop()` sends STOPPING=1.
    """

    def __init__(
        self,
        notifier: Notifier,
        ready: Callable[[], bool],
        alive: Callable[[], bool],
        interval_s: float | None,
        poll_s: float = 0.2,
    ) -> None:
        self._n = notifier
        self._ready = ready
        self._alive = alive
        self._interval = interval_s
        self._poll = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.is_ready = False
        self.pings = 0

    def start(self) -> None:
        if not self._n.enabled:
            return
        self._thread = threading.Thread(target=self._run, name="sd-notify", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._n.send("STOPPING=1")

    def _run(self) -> None:
        while not self._stop.is_set() and not self._checked(self._ready):
            self._stop.wait(self._poll)
        if self._stop.is_set():
            return
        self._n.send("READY=1\nSTATUS=watching")
        self.is_ready = True
        if self._interval is None:
            return
        while not self._stop.wait(self._interval):
            if self._checked(self._alive):
                self._n.send("WATCHDOG=1")
                self.pings += 1
            else:
                log.error("watchdog ping withheld: engine or ingest not alive")
                self._n.send("STATUS=engine or ingest not alive")

    @staticmethod
    def _checked(check: Callable[[], bool]) -> bool:
        try:
            return check()
        except Exception:
            log.exception("service check failed")
            return False
