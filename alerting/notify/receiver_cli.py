"""`carewatch webhook-receiver`: the reference receiver (alerting/notify/receiver.py) on the
command line, one JSON line per accepted delivery. The options are parsed here and the
shared key handed in as bytes: carewatch/tools.py reads it from the environment variable
`--secret-env` names."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

import orjson

from alerting.notify.receiver import DEFAULT_SECRET_ENV, Delivery, Receiver


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """`carewatch webhook-receiver`'s options (`secret_env`: the variable of the key)."""
    p = argparse.ArgumentParser(
        prog="carewatch-receiver",
        description="Receive CareWatch webhooks: check signatures, drop retries, print each.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=9000, help="port (0: any free one)")
    p.add_argument(
        "--secret-env",
        default=DEFAULT_SECRET_ENV,
        help="environment variable holding the shared HMAC secret",
    )
    p.add_argument(
        "--require-standard",
        action="store_true",
        help="refuse deliveries without Standard Webhooks headers (timestamp, id, signature)",
    )
    p.add_argument(
        "--fail-with",
        type=int,
        default=None,
        metavar="STATUS",
        help="answer every POST with this status (e.g. 503) to test the sender's retries",
    )
    return p.parse_args(argv)


def run(args: argparse.Namespace, secret: bytes) -> int:
    """Run a receiver until Ctrl-C (or SIGTERM); one JSON line per accepted delivery."""
    out_lock = threading.Lock()

    def show(d: Delivery) -> None:
        line = orjson.dumps(
            {
                "key": d["key"],
                "seq": d["seq"],
                "action": d["action"],
                "alert_id": d["alert_id"],
                "rule": d["rule"],
                "reference": d["reference"],
                "content_type": d["content_type"],
                "verified": d["verified"],
            }
        )
        with out_lock:
            sys.stdout.write(line.decode() + "\n")
            sys.stdout.flush()

    receiver = Receiver(
        args.host,
        args.port,
        secret,
        fail_with=args.fail_with,
        on_accept=show,
        require_standard=args.require_standard,
    )
    try:
        receiver.start()
    except OSError as exc:
        print(f"carewatch-receiver: cannot listen: {exc}", file=sys.stderr, flush=True)
        return 1
    stop = threading.Event()
    restore: list[tuple[signal.Signals, Any]] = []
    if threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            restore.append((sig, signal.signal(sig, on_signal)))
    print(orjson.dumps({"listening": receiver.url}).decode(), file=sys.stderr, flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
        for signum, handler in restore:
            signal.signal(signum, handler)
    print(orjson.dumps(receiver.counts()).decode(), file=sys.stderr, flush=True)
    return 0
