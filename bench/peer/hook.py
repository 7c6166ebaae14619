"""The one webhook receiver both systems post to, in its own process, and the harness's
reader of what it recorded.

    python -m bench.peer.hook PORT FILE

One implementation for both, so neither system is timed by a receiver that suits it:
ThreadingHTTPServer speaking HTTP/1.1 (CareWatch keeps its connection open, Node-RED's
`http request` node opens one per POST), a listen backlog of 1024 (socketserver's 5 drops
SYNs at a few hundred new connections/s and costs a 1 s retransmit), 200 to every POST.
Each POST becomes one JSON line: `t` = time.monotonic() once the body is read
(CLOCK_MONOTONIC is system-wide, so the harness's publish times compare with it), the
path, the Idempotency-Key header and the body. Signatures are not checked: both systems
post to it alike and only arrival times and identities matter here.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.common import ROOT, tail
from ingest.broker import stop_process


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line, with the time: a sender killed mid-POST resets its connection (that
        POST was not delivered and is not recorded); the time says whether it was the kill."""
        err = sys.exc_info()[1]
        print(f"{time.monotonic():.3f} {client_address} {err!r}", flush=True)


def serve(port: int, out_path: Path) -> None:
    out = out_path.open("a", buffering=1, encoding="utf-8")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # the answer leaves in one segment: http.server writes the head and the body
        # apart, and on a kept-alive connection Nagle then holds the body until the
        # sender's delayed ACK (40 ms), which paced back-to-back POSTs at ~23 a second
        wbufsize = -1  # buffered; handle_one_request flushes after do_POST
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # http.server's name
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            t = time.monotonic()
            try:
                doc: Any = json.loads(body)
            except ValueError:
                doc = {"raw": body.decode("utf-8", "replace")}
            line = json.dumps(
                {"t": t, "path": self.path, "key": self.headers.get("Idempotency-Key"), "body": doc}
            )
            with lock:
                out.write(line + "\n")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self) -> None:  # the harness's readiness check
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_a: Any) -> None:
            pass

    _Server(("127.0.0.1", port), Handler).serve_forever()


class Hook:
    """The receiver process on `port`, writing to `path`; `read()` returns the POSTs recorded
    since the last `mark()`."""

    def __init__(self, port: int, path: Path) -> None:
        self.port = port
        self.path = path
        self._offset = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10) -> None:
        self.path.write_text("")
        self._log = self.path.with_suffix(".log")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.peer.hook", str(self.port), str(self.path)],
            cwd=ROOT,
            stdout=self._log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                httpx.get(self.url + "/", timeout=0.5)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"webhook receiver not up on {self.port}:\n{tail(self._log)}")

    def mark(self) -> None:
        """From now on, read() returns only later POSTs."""
        self._offset = self.path.stat().st_size

    def read(self) -> list[dict[str, Any]]:
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line being written is read next time
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]

    def errors(self) -> list[str]:
        """The receiver's error lines (monotonic time, client, error), for the document."""
        return tail(self._log, 20_000).splitlines()

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
