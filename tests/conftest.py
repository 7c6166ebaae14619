"""Fixtures shared by the test modules: the demo site, the real servers (mosquitto,
influxd), one engine harness on a fake clock, and one Chromium for the browser tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devices.registry import Registry, load_site
from tests.engine_harness import Harness

# shared fixtures of test families: the chaos tests (`receiver`, `chaos_outcomes`) and the
# report tests over the known week (`week_db`, `report`)
pytest_plugins = ["tests.chaos_run", "tests.report_week", "tests.site_roles_world"]

ROOT = Path(__file__).resolve().parent.parent
DEMO_SITE = ROOT / "examples" / "demo-site.yaml"


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_site(DEMO_SITE)


@pytest.fixture
def h(tmp_path: Path, registry: Registry) -> Harness:
    """An engine with the default rules on a fresh database and a fake clock."""
    return Harness(tmp_path / "cw.db", registry)


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


def all_online(reg: Registry) -> list[tuple[str, bytes]]:
    """Every device of the registry says it is online (carewatch status topics and
    Zigbee2MQTT availability), as a running district's devices do."""
    out = []
    for d in reg.devices():
        if d.source == "zigbee2mqtt":
            prefix = reg.sites[d.site].zigbee_prefix or "zigbee2mqtt"
            out.append((f"{prefix}/{d.friendly_name}/availability", b"online"))
        else:
            out.append((f"carewatch/v1/{d.site}/{d.id}/status", b'{"online": true}'))
    return out


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


# --- the browser ---------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by playwright (no browser download), launched once per test
    module; each test gets fresh contexts (`open_page`). Not once per session: playwright's
    sync API leaves an event loop running in the main thread while it is open, and a later
    module's `asyncio.run` would fail on it."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield b
        b.close()


class BrowserPage:
    """A page in a context of its own (no cookies or storage shared with other tests) that
    records console errors and uncaught exceptions: every browser test asserts none."""

    def __init__(
        self, browser: Any, width: int, height: int, locale: str, timezone_id: str | None = None
    ) -> None:
        self.ctx = browser.new_context(
            viewport={"width": width, "height": height}, locale=locale, timezone_id=timezone_id
        )
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self._open = True

    def close(self) -> None:
        if self._open:
            self._open = False
            self.ctx.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., BrowserPage]]:
    """Opens pages (viewport and locale per call); each is closed after the test."""
    opened: list[BrowserPage] = []

    def open_(
        width: int = 1600, height: int = 1000, locale: str = "zh-CN", timezone_id: str | None = None
    ) -> BrowserPage:
        opened.append(BrowserPage(browser, width, height, locale, timezone_id))
        return opened[-1]

    yield open_
    for p in reversed(opened):
        p.close()
