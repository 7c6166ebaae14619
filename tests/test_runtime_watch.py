"""The watchdog's view of the broker link at start: ingest workers may take seconds to
connect, which is no broker outage; a broker that never comes up still is one."""

from __future__ import annotations

import sqlite3
import time

from carewatch.runtime import BROKER_GRACE_S, build_runtime
from carewatch.settings import Settings
from ingest.broker import free_port
from tests.conftest import DEMO_SITE, wait_until


def test_the_broker_counts_as_up_while_starting_and_down_after_the_grace(tmp_path) -> None:
    nowhere = f"mqtt://127.0.0.1:{free_port()}"  # no broker listens there
    rt = build_runtime(
        Settings(site_file=DEMO_SITE, mqtt_url=nowhere, data_dir=tmp_path / "cw"), env={}
    )
    assert rt.broker_connected() is False
    rt._started_mono = time.monotonic()  # as start() sets it, without starting the threads
    assert rt._broker_seen_connected() is True  # still coming up
    rt._started_mono = time.monotonic() - BROKER_GRACE_S - 1
    assert rt._broker_seen_connected() is False  # never came up: an outage


def test_after_the_first_connection_the_link_is_seen_as_it_is(tmp_path) -> None:
    nowhere = f"mqtt://127.0.0.1:{free_port()}"
    rt = build_runtime(
        Settings(site_file=DEMO_SITE, mqtt_url=nowhere, data_dir=tmp_path / "cw"), env={}
    )
    rt._started_mono = time.monotonic()
    rt._broker_was_up = True  # it was connected once: a loss now is a loss at once
    assert rt._broker_seen_connected() is False


def test_the_demo_homes_wait_for_the_subscription_and_lose_nothing_after_it(
    tmp_path, broker, publisher
) -> None:
    """`carewatch demo` starts its simulated homes once `wait_subscribed` returns: from then
    the broker routes what is published to the service, so the first reading is kept."""
    nowhere = f"mqtt://127.0.0.1:{free_port()}"
    down = build_runtime(
        Settings(site_file=DEMO_SITE, mqtt_url=nowhere, data_dir=tmp_path / "a"), env={}
    )
    down.start()
    try:
        assert down.wait_subscribed(1.0) is False  # no broker: the homes stay off
    finally:
        down.stop()
    rt = build_runtime(
        Settings(
            site_file=DEMO_SITE,
            mqtt_url=broker.url,
            data_dir=tmp_path / "b",
            mqtt_client_id="cw-subscribed-test",
        ),
        env={},
    )
    rt.start()
    try:
        assert rt.wait_subscribed(10.0) is True
        publisher.publish_all(
            [("carewatch/v1/sunrise/w-101-1/telemetry", b'{"heart_rate_bpm": 71}')], rate=10
        )

        def seen() -> object:
            with sqlite3.connect(rt.db_path) as db:
                row = db.execute(
                    "SELECT last_seen_ms FROM device_state WHERE device_id='w-101-1'"
                ).fetchone()
            return row and row[0]

        assert wait_until(seen, 5), "the first reading after the subscription was committed"
    finally:
        rt.stop()
