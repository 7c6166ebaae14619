"""systemd integration: the shipped unit passes `systemd-analyze verify`, and the notify
protocol is spoken correctly to a real datagram socket (READY once ready, WATCHDOG only
while alive)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from carewatch.systemd import Notifier, ServiceNotifier, watchdog_interval_s

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "examples" / "systemd" / "carewatch.service"


class Listener:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, address: str, bind: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(bind)
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def texts(self) -> list[str]:
        return [m for _, m in self.messages]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    d = tempfile.mkdtemp(prefix="cw-sd-", dir="/tmp")  # AF_UNIX paths are short
    path = f"{d}/notify"
    ls = Listener(path, path)
    yield ls
    ls.close()
    shutil.rmtree(d, ignore_errors=True)


def wait_for(cond, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


def test_the_shipped_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    exe = shutil.which("carewatch") or str(ROOT / ".venv" / "bin" / "carewatch")
    text = UNIT.read_text().replace("/opt/carewatch/.venv/bin/carewatch", exe)
    unit = tmp_path / "carewatch.service"
    unit.write_text(text)
    r = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    # systemd only warns ("ignoring") about a bad line: any output is a defect
    assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr
    for line in (
        "Type=notify",
        "Restart=always",
        "WatchdogSec=",
        "User=carewatch",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/carewatch",
        "NoNewPrivileges=yes",
    ):
        assert line in text


def test_ready_is_sent_only_once_the_service_is_ready(listener: Listener) -> None:
    ready = threading.Event()
    sn = ServiceNotifier(
        Notifier(listener.address), ready.is_set, lambda: True, interval_s=None, poll_s=0.01
    )
    sn.start()
    time.sleep(0.3)
    assert listener.texts() == []  # not ready: nothing said
    ready.set()
    assert wait_for(lambda: any(m.startswith("READY=1") for m in listener.texts()))
    sn.stop()
    assert wait_for(lambda: "STOPPING=1" in listener.texts())


def test_watchdog_pings_stop_while_the_service_is_not_alive(listener: Listener) -> None:
    alive = threading.Event()
    alive.set()
    sn = ServiceNotifier(
        Notifier(listener.address), lambda: True, alive.is_set, interval_s=0.05, poll_s=0.01
    )
    sn.start()
    assert wait_for(lambda: listener.texts().count("WATCHDOG=1") >= 3)
    alive.clear()
    time.sleep(0.1)  # a ping already under way may land
    n = listener.texts().count("WATCHDOG=1")
    time.sleep(0.5)
    assert listener.texts().count("WATCHDOG=1") == n  # withheld: systemd would restart
    alive.set()
    assert wait_for(lambda: listener.texts().count("WATCHDOG=1") > n)
    sn.stop()


def test_a_failing_check_counts_as_not_alive(listener: Listener) -> None:
    def broken() -> bool:
        raise RuntimeError("engine gone")

    sn = ServiceNotifier(
        Notifier(listener.address), lambda: True, broken, interval_s=0.05, poll_s=0.01
    )
    sn.start()
    assert wait_for(lambda: any(m.startswith("READY=1") for m in listener.texts()))
    time.sleep(0.4)
    assert "WATCHDOG=1" not in listener.texts()
    sn.stop()


def test_abstract_socket_addresses_are_reached() -> None:
    name = f"cw-sd-test-{time.monotonic_ns()}"
    ls = Listener("@" + name, "\0" + name)
    try:
        assert Notifier("@" + name).send("READY=1")
        assert wait_for(lambda: ls.texts() == ["READY=1"])
    finally:
        ls.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails() -> None:
    n = Notifier.from_env({})
    assert not n.enabled
    assert n.send("READY=1") is False
    sn = ServiceNotifier(n, lambda: True, lambda: True, interval_s=0.01)
    sn.start()
    sn.stop()
    assert not sn.is_ready


def test_watchdog_interval_is_half_the_timeout_for_this_process_only() -> None:
    assert watchdog_interval_s({}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}, pid=7) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, pid=7) == 15.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, pid=7) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "junk"}, pid=7) is None


@pytest.mark.integration
def test_watchdog_pings_stop_while_the_engine_thread_is_stuck(listener: Listener, broker, tmp_path):
    """The real runtime on a real broker: alive() is a round trip through the engine's
    queue, so a stuck engine (thread alive, not committing) withholds the ping."""
    from carewatch.runtime import build_runtime
    from carewatch.settings import Settings
    from tests.conftest import DEMO_SITE

    settings = Settings(site_file=DEMO_SITE, mqtt_url=broker.url, data_dir=tmp_path / "cw")
    runtime = build_runtime(settings, env={})
    runtime.start()
    sn = ServiceNotifier(
        Notifier(listener.address),
        runtime.ready,
        lambda: runtime.alive(timeout_s=0.2),
        interval_s=0.3,
        poll_s=0.02,
    )
    sn.start()
    release = threading.Event()
    try:
        assert runtime.wait_subscribed(10)  # what the demo waits for before its home
        assert wait_for(lambda: any(m.startswith("READY=1") for m in listener.texts()), 10)
        assert wait_for(lambda: listener.texts().count("WATCHDOG=1") >= 2, 5)
        runtime.runner.write(lambda _conn: release.wait(30) and None)  # the engine hangs
        time.sleep(0.6)  # a ping already under way may land
        n = listener.texts().count("WATCHDOG=1")
        time.sleep(1.5)
        assert listener.texts().count("WATCHDOG=1") == n, "pinged while the engine was stuck"
        release.set()
        assert wait_for(lambda: listener.texts().count("WATCHDOG=1") > n, 5)
    finally:
        release.set()
        sn.stop()
        runtime.stop()


def test_serve_given_a_site_file_as_config_says_so_in_one_line() -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "carewatch",
            "serve",
            "--config",
            str(ROOT / "examples" / "demo-site.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "is a site file" in lines[0] and "CAREWATCH_SITE_FILE=" in lines[0]
