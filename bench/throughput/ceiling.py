"""The ceiling: the highest rate a bare paho subscriber (bench/sink.py: counts and acks,
subscribed like the service) keeps up with."""

from __future__ import annotations

import argparse
from typing import Any

from bench.common import wait_until
from bench.loads import Sink
from bench.throughput.rates import SinkConsumer, search
from bench.throughput.runs import run_search
from bench.throughput.stack import fresh
from ingest.broker import MosquittoProcess


def ceiling_run(args: argparse.Namespace, start: int | None) -> dict[str, Any]:
    with fresh() as tmp:
        broker = MosquittoProcess(tmp / "mosquitto")
        broker.start()
        sink = Sink(broker.port)
        try:
            if not wait_until(lambda: bool(sink.last), 15, 0.1):
                raise RuntimeError("bare subscriber did not start: " + sink.stderr())
            return search(SinkConsumer(sink), broker.port, args, args.ceiling_duration, start)
        finally:
            sink.stop()
            broker.stop()


def run_ceiling(args: argparse.Namespace) -> dict[str, Any]:
    return run_search(args, "ceiling", ceiling_run, args.ceiling_duration)
