"""Real servers for integration tests: own processes, free loopback ports, temp data dirs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ingest.broker import free_port, stop_process, wait_for_port
from ingest.influx import influxd_config


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


class Proc:
    """A server child process with its data in `data_dir`, on a free loopback port."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_http(self, path: str, timeout_s: float, log: Path) -> None:
        """Until `path` answers 2xx; fails early with the log if the process died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"{self.url} process exited:\n" + _tail(log))
            try:
                if httpx.get(self.url + path, timeout=0.5).is_success:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.url}{path} not ready:\n" + _tail(log))

    def _spawn(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, start_new_session=True
        )

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
        stop_process(self.proc, sig, timeout_s)
        self.proc = None

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)


class InfluxProcess(Proc):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.rpc_port = free_port()

    def start(self) -> None:
        conf = self.dir / "influxdb.conf"
        conf.write_text(influxd_config(self.dir, self.port, self.rpc_port))
        self._spawn(["influxd", "-config", str(conf)], self.dir / "influxd.log")
        self._wait_http("/ping", 20, self.dir / "influxd.log")

    def query(self, db: str, q: str) -> list[list[object]]:
        r = httpx.get(f"{self.url}/query", params={"db": db, "q": q, "epoch": "ms"}, timeout=10)
        r.raise_for_status()
        series = r.json()["results"][0].get("series", [])
        return [v for s in series for v in s["values"]]


class VictoriaMetricsProcess(Proc):
    def start(self) -> None:
        self._spawn(
            [
                "victoria-metrics",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.dir}",
                "-loggerLevel=ERROR",
            ],
            self.dir / "vm.log",
        )
        wait_for_port(self.port, 20, self.proc)


class CarewatchProcess(Proc):
    """`python -m carewatch serve --config FILE`, as production runs it."""

    def __init__(
        self,
        data_dir: Path,
        mqtt_url: str,
        site_file: Path,
        influx_url: str | None = None,
        token: str = "test-token-0123456789",
        rules: str | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(data_dir)
        self.token = token
        self.env: dict[str, str] = {}  # extra environment for the process (e.g. LD_PRELOAD)
        self.config = self.dir / "carewatch.yaml"
        lines = [
            f"site_file: {site_file}",
            f"mqtt_url: {mqtt_url}",
            f"data_dir: {self.dir}",
            f"http_port: {self.port}",
            "http_host: 127.0.0.1",
            f"api_token: {token}",
            "log_level: INFO",
        ]
        if influx_url:
            lines.append(f"influx_url: {influx_url}")
        lines += [f"{k}: {v}" for k, v in (settings or {}).items()]
        if rules is not None:  # a rules file (YAML text) next to the config
            (self.dir / "rules.yaml").write_text(rules, encoding="utf-8")
            lines.append("rules_file: rules.yaml")
        self.config.write_text("\n".join(lines) + "\n")

    def start(self, timeout_s: float = 20) -> None:
        """Start and wait until ready. The port was free when chosen, but the service's own
        MQTT connections (opened before it binds HTTP) or another process may take it as
        an ephemeral port meanwhile: then it stops with "address already in use" and is
        started again on another free port (at most twice)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
        env.update(self.env)
        log = self.dir / "carewatch.log"
        for attempt in range(3):
            seen = log.stat().st_size if log.exists() else 0
            self._spawn(
                [sys.executable, "-m", "carewatch", "serve", "--config", str(self.config)],
                log,
                env,
            )
            try:
                self._wait_http("/readyz", timeout_s, log)
                return
            except RuntimeError:
                taken = "address already in use" in log.read_bytes()[seen:].decode(errors="replace")
                if not taken or attempt == 2:
                    raise
                self.proc = None
                old = f"http_port: {self.port}\n"
                self.port = free_port()
                text = self.config.read_text()
                self.config.write_text(text.replace(old, f"http_port: {self.port}\n"))

    def log(self) -> str:
        return (self.dir / "carewatch.log").read_text(errors="replace")

    def get(self, path: str, **params: object) -> httpx.Response:
        """A read with the service's token, as an integration reads (reads need a token
        unless a test's settings say `read_access: open`)."""
        return httpx.get(
            self.url + path,
            params=params,  # type: ignore[arg-type]
            timeout=10,
            headers={"Authorization": f"Bearer {self.token}"},
        )

    def get_anonymous(self, path: str, **params: object) -> httpx.Response:
        """A read without any token (what a browser without one gets)."""
        return httpx.get(self.url + path, params=params, timeout=10)  # type: ignore[arg-type]

    def post(self, path: str, body: dict[str, object], token: str | None = None) -> httpx.Response:
        return httpx.post(
            self.url + path,
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {token or self.token}"},
        )
