"""The watchdog's view of the broker link at start: ingest workers may take seconds to
connect, which is no broker outage; a broker that never comes up still is one."""

from __future__ import annotations

import time

from carewatch.runtime import BROKER_GRACE_S, build_runtime
from carewatch.settings import Settings
from ingest.broker import free_port
from tests.conftest import DEMO_SITE


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
