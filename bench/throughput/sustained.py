"""Sustained: the highest rate the service keeps up with for --duration s, everything
committed and in InfluxDB."""

from __future__ import annotations

import argparse
from typing import Any

from bench.throughput.rates import ServiceConsumer, search
from bench.throughput.runs import run_search
from bench.throughput.stack import Stack, fresh


def sustained_run(args: argparse.Namespace, start: int | None) -> dict[str, Any]:
    with fresh() as tmp, Stack(tmp, 10_000, workers=args.workers) as stack:
        stack.service.start()
        stack.service.wait_ready(args.start_timeout)
        return search(
            ServiceConsumer(stack), stack.broker.port, args, args.duration, start, args.max_rate
        )


def run_sustained(args: argparse.Namespace) -> dict[str, Any]:
    return run_search(args, "sustained", sustained_run, args.duration)
