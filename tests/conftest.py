from __future__ import annotations

from pathlib import Path

import pytest

from devices.registry import Registry, load_site

ROOT = Path(__file__).resolve().parent.parent
DEMO_SITE = ROOT / "examples" / "demo-site.yaml"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_site(DEMO_SITE)


def running(server):
    """Start a server process for a test and stop it afterwards."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def broker(tmp_path):
    from ingest.broker import MosquittoProcess

    yield from running(MosquittoProcess(tmp_path / "mosquitto"))


@pytest.fixture
def influx(tmp_path):
    from tests.servers import InfluxProcess

    yield from running(InfluxProcess(tmp_path / "influx"))


@pytest.fixture
def publisher(broker):
    from simulators.publisher import Publisher

    p = Publisher("127.0.0.1", broker.port)
    yield p
    p.close()


def wait_until(predicate, timeout_s: float, interval_s: float = 0.05):
    """Poll a condition of a real process (integration tests only)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(interval_s)
