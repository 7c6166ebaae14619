"""Fault injection on real mosquitto, InfluxDB and `carewatch serve`.

Each test runs a steady stream (events with distinct ids, telemetry with explicit device
timestamps, a few hundred msg/s; tests/chaos_processes.py), staff acknowledging and
resolving alerts, a real webhook receiver, then one fault, and ends with an exact
reconciliation printed as a table: events sent vs event keys, alert occurrences and
InfluxDB event points; telemetry sent vs InfluxDB points (per device); alert transitions vs
`alert_change` points; notifications due (re-derived from the audit trail) vs the outbox vs
what the receiver got, each key once and in order; the alert topic. Nothing missing,
nothing doubled.

Short by default (CAREWATCH_CHAOS_SCALE=0.05, part of `make test`); `make chaos` runs the
full lengths (broker down 60 s, InfluxDB down 300 s). Results also go to
bench/results/chaos-<time>.json. The clock jumping: tests/test_chaos_clock.py; the fixes
these faults led to, in small: tests/test_chaos_fixes.py.
"""

from __future__ import annotations

import time

import pytest

from tests.chaos_faults import checkpoint, fill, free_bytes, small_filesystem
from tests.chaos_processes import SCALE, TARGET, scaled
from tests.chaos_run import Run
from tests.conftest import wait_until

pytestmark = pytest.mark.chaos
real = pytest.mark.integration  # starts real processes


@real
def test_kill_9_repeatedly_under_a_steady_stream(
    request, tmp_path, broker, influx, receiver, registry
):
    kills = max(3, round(10 * SCALE))
    every = scaled(6, 2.5)
    run = Run.begin(
        request, f"kill -9 x{kills}", tmp_path, broker, influx, receiver, registry, "k9"
    )
    try:
        down = []
        for _ in range(kills):
            time.sleep(every)
            run.service.kill9()
            t = time.monotonic()
            time.sleep(0.3)  # messages pile up at the broker, un-acked
            run.service.start()  # /readyz: broker connected, store and engine healthy
            down.append(time.monotonic() - t)
        time.sleep(2)
        run.facts["kills"] = kills
        run.facts["down each (s)"] = f"{min(down):.1f}-{max(down):.1f}"
        run.finish()
    finally:
        run.close()


@real
def test_broker_restart_under_a_steady_stream(
    request, tmp_path, broker, influx, receiver, registry
):
    restarts = max(2, round(5 * SCALE))
    run = Run.begin(
        request, f"broker restart x{restarts}", tmp_path, broker, influx, receiver, registry, "br"
    )
    try:
        back = []
        for _ in range(restarts):
            time.sleep(scaled(10, 3))
            broker.stop()  # SIGTERM: mosquitto saves the sessions and their queues
            broker.start()  # same port, same persistence file
            t = time.monotonic()
            assert wait_until(lambda: (c := run.service.ready()) and c["broker"], 20)
            back.append(time.monotonic() - t)
        time.sleep(2)
        run.facts["restarts"] = restarts
        run.facts["service reconnected after (s)"] = f"{max(back):.1f} at most"
        run.finish()
    finally:
        run.close()


@real
def test_broker_down_for_a_minute(request, tmp_path, broker, influx, receiver, registry):
    down = scaled(60, 8)
    run = Run.begin(
        request, f"broker down {down:.0f} s", tmp_path, broker, influx, receiver, registry, "bd"
    )
    try:
        time.sleep(2)
        broker.stop()
        t = time.monotonic()
        sent = run.stream.sent
        assert wait_until(lambda: (c := run.service.ready()) is not None and not c["broker"], 5)
        time.sleep(max(0.0, down - (time.monotonic() - t)))
        run.facts["published while down (kept by the devices)"] = run.stream.sent - sent
        broker.start()
        assert wait_until(lambda: (c := run.service.ready()) and c["broker"], 20)
        run.facts["service reconnected after (s)"] = round(time.monotonic() - t - down, 1)
        time.sleep(2)
        alerts = run.service.get("/api/alerts", state="all", limit=5000).json()
        raised = [a for a in alerts if a["rule"] == "broker_disconnected"]
        run.facts["broker_disconnected alerts"] = len(raised)
        assert len(raised) == 1, "the outage (past the rule's 5 s) is one system alert"
        run.finish()
    finally:
        run.close()


@real
def test_influx_down_for_five_minutes(request, tmp_path, broker, influx, receiver, registry):
    down = scaled(300, 10)
    run = Run.begin(
        request, f"InfluxDB down {down:.0f} s", tmp_path, broker, influx, receiver, registry, "id"
    )
    try:
        time.sleep(2)
        influx.stop()
        t = time.monotonic()
        logged, delivered = run.events_logged(), len(receiver.received)
        assert wait_until(lambda: (c := run.service.ready()) is not None and not c["store"], 10)
        time.sleep(max(0.0, down - (time.monotonic() - t)))
        # alerting and notifications went on without the store; the spool kept the points
        spooled = run.service.count("SELECT count(*) FROM points")
        assert run.events_logged() > logged, "events were processed during the outage"
        assert len(receiver.received) > delivered, "notifications went out during the outage"
        assert spooled > 0
        run.facts["spool rows at the end of the outage"] = spooled
        influx.start()  # same port, same data
        t = time.monotonic()
        assert wait_until(lambda: (c := run.service.ready()) and c["store"], 60)
        run.facts["store healthy again after (s)"] = round(time.monotonic() - t, 1)
        if down >= 70:  # the rule waits 60 s
            alerts = run.service.get("/api/alerts", state="all", limit=5000).json()
            assert [a for a in alerts if a["rule"] == "store_unreachable"]
            run.facts["store_unreachable alert"] = "raised"
        run.finish()
    finally:
        run.close()


@real
def test_disk_full_holds_messages_unacked_then_processes_them(
    request, tmp_path, broker, influx, receiver, registry
):
    """The disk near its limit: the database (spool, alerts, outbox) on a 64 MB tmpfs filled
    to the last 256 KB. The engine cannot commit: it holds its batch and acks nothing; once
    space is back it goes on by itself. The second time the service is killed -9 while
    the disk is full: what it held un-acked comes again from the broker."""
    hold = scaled(30, 4)
    with small_filesystem(tmp_path / "small", 64) as small:
        run = Run.begin(
            request,
            f"disk full {hold:.0f} s x2",
            tmp_path,
            broker,
            influx,
            receiver,
            registry,
            "df",
            db_dir=small,
        )
        try:
            for round_ in (1, 2):
                time.sleep(2)
                checkpoint(run.service.db)  # a short WAL: the next commits must grow it
                filler = fill(small, 256 * 1024)
                t = time.monotonic()
                failing = wait_until(
                    lambda: (c := run.service.ready()) is not None and not c["engine"], 30
                )
                assert failing, "the engine never hit the full disk"
                run.facts[f"full after (s) #{round_}"] = round(time.monotonic() - t, 1)
                logged, sent = run.events_logged(), len(run.stream.events)
                time.sleep(hold)
                # a small transaction may still fit where a rolled-back one wrote its WAL
                # frames; the stream's batches do not
                held = len(run.stream.events) - sent
                got = run.events_logged() - logged
                assert got < held / 2, "the full disk held the stream back"
                run.facts[f"events committed while full #{round_}"] = f"{got} of {held}"
                run.facts[f"free while held #{round_}"] = f"{free_bytes(small) // 1024} KiB"
                if round_ == 2:
                    run.service.kill9()
                filler.unlink()
                t = time.monotonic()
                if round_ == 2:
                    run.service.start()
                assert wait_until(lambda: (c := run.service.ready()) and c["engine"], 30)
                run.facts[f"engine healthy again after (s) #{round_}"] = round(
                    time.monotonic() - t, 1
                )
            time.sleep(2)
            run.finish()
        finally:
            run.close()


@real
def test_webhook_receiver_down_then_failing_then_back(
    request, tmp_path, broker, influx, receiver, registry
):
    down = scaled(60, 6)
    run = Run.begin(
        request,
        f"receiver down+503 {down:.0f} s",
        tmp_path,
        broker,
        influx,
        receiver,
        registry,
        "rx",
    )

    def head_attempts() -> int:
        rows = run.service.read(
            "SELECT attempts FROM outbox WHERE target = ? AND state = 'pending'"
            " ORDER BY id LIMIT 1",
            TARGET,
        )
        return int(rows[0][0]) if rows else 0

    try:
        time.sleep(2)
        receiver.stop()  # connection refused
        t = time.monotonic()
        assert wait_until(lambda: head_attempts() >= 2, 30), "retried while down"
        time.sleep(max(0.0, down / 2 - (time.monotonic() - t)))
        receiver.fail_with = 503  # up, but failing
        receiver.start()
        t = time.monotonic()
        assert wait_until(lambda: receiver.failed >= 1, 70), "retried while failing"
        time.sleep(max(0.0, down / 2 - (time.monotonic() - t)))
        pending = run.service.count(
            "SELECT count(*) FROM outbox WHERE target = ? AND state = 'pending'", TARGET
        )
        assert pending > 0
        run.facts["pending at recovery"] = pending
        run.facts["answered 503"] = receiver.failed
        receiver.fail_with = None
        t = time.monotonic()
        assert wait_until(
            lambda: (
                run.service.count(
                    "SELECT count(*) FROM outbox WHERE target = ? AND state = 'pending'", TARGET
                )
                < pending // 2
            ),
            75,
        )
        run.facts["backlog halved after (s)"] = round(time.monotonic() - t, 1)
        run.finish()
    finally:
        run.close()
