"""A private mosquitto process: the embedded broker of `carewatch demo`, and the tests' broker."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

# Sized for a consumer that acks only after commit (INFRA-NOTES.md: the defaults drop
# messages past 1,000 queued and hold 20 in flight).
DEFAULT_OPTIONS = {
    "max_queued_messages": "1000000",
    "max_inflight_messages": "0",
    "persistent_client_expiration": "14d",
    "autosave_interval": "5",
    "max_packet_size": "65536",
    "set_tcp_nodelay": "true",  # else Nagle + delayed ACK add ~40 ms to a lone alarm
}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now; another process may take it before it is bound, which
    is fine for tests and the demo."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; RuntimeError if `proc` exits
    first, TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s} s")


def stop_process(
    proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout_s: float = 10.0
) -> None:
    """Signal a child and wait for it; SIGKILL if it does not go in time."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A second, TLS-only listener of the private broker, with its CA, certificate and key files
    (docs/security.md)."""

    port: int
    cafile: Path
    certfile: Path
    keyfile: Path


class MosquittoProcess:
    """mosquitto in the foreground on 127.0.0.1, its data in `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        extra: dict[str, str] | None = None,
        binary: str = "mosquitto",
        anonymous: bool = True,
        tls: TlsListener | None = None,
    ) -> None:
        self.anonymous = anonymous
        self.tls = tls
        self.data_dir = data_dir
        self.port = port or free_port()
        self.options = {**DEFAULT_OPTIONS, **(extra or {})}
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The plain listener's URL, for CAREWATCH_MQTT_URL and the clients."""
        return f"mqtt://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            # started as root, mosquitto would switch to the `mosquitto` user and then fail,
            # silently, to reach its log, persistence and password files in a private
            # directory: this private broker keeps the invoking user
            *(["user root"] if os.geteuid() == 0 else []),
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if self.anonymous else 'false'}",
            "persistence true",
            f"persistence_location {self.data_dir}/",
            f"log_dest file {self.data_dir}/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
        ] + [f"{k} {v}" for k, v in self.options.items()]
        if self.tls is not None:  # a second listener, TLS only (docs/security.md)
            lines += [
                f"listener {self.tls.port} 127.0.0.1",
                f"cafile {self.tls.cafile}",
                f"certfile {self.tls.certfile}",
                f"keyfile {self.tls.keyfile}",
            ]
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self, timeout_s: float = 10.0) -> None:
        """Write the configuration and start mosquitto in its own session; returns once it listens.
        FileNotFoundError if mosquitto is not installed."""
        exe = shutil.which(self.binary) or shutil.which(self.binary, path="/usr/sbin:/sbin")
        if exe is None:
            raise FileNotFoundError(
                "mosquitto is not installed: `sudo apt-get install mosquitto` (Debian), "
                "or set CAREWATCH_MQTT_URL to a broker you run"
            )
        conf = self._write_config()
        self.proc = subprocess.Popen(
            [exe, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, timeout_s, self.proc)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Graceful: mosquitto saves its persistence file on SIGTERM."""
        stop_process(self.proc, signal.SIGTERM, timeout_s)
        self.proc = None

    def log_text(self) -> str:
        """The broker's log so far ("" if none yet), for test failures."""
        try:
            return (self.data_dir / "mosquitto.log").read_text(errors="replace")
        except OSError:
            return ""
