"""The duty-room screen in a real browser (Debian's Chromium via playwright) against the
real service, broker and store: live alerts, acknowledging on the page, reconnecting after
a restart, and screenshots for docs/screenshots/ (zh-CN and English).

Console errors are counted in every test and must be zero. The one exception is the
restart test: while the service is deliberately stopped, Chromium itself reports the cut
stream and the refused reconnects ("Failed to load resource: net::ERR_..."); only those
network lines are excused there, never a script error.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import DEMO_SITE, ROOT, BrowserPage, wait_until
from tests.servers import CarewatchProcess

T = "carewatch/v1/sunrise"
SHOTS = ROOT / "docs" / "screenshots"


class Page(BrowserPage):
    """The duty screen in a page of its own (zh-CN or en-US), its live stream connected."""

    def __init__(self, browser, base_url: str, lang: str = "zh") -> None:
        super().__init__(browser, 1600, 1000, "zh-CN" if lang == "zh" else "en-US")
        self.page.goto(base_url)
        if lang == "en":
            self.page.evaluate("localStorage.setItem('carewatch.lang', 'en')")
            self.page.reload()
        self.connected()

    def connected(self, timeout_s: float = 10) -> None:
        self.page.wait_for_selector("#conn-banner", state="hidden", timeout=timeout_s * 1000)


# the screens of these tests open without a token: reads open, as the service allows
# when asked (read_access: open); the viewer-token screen is tested below
OPEN_READS = {"read_access": "open"}


@pytest.fixture
def service(tmp_path, broker) -> Iterator[CarewatchProcess]:
    s = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, settings=OPEN_READS)
    s.start()
    yield s
    s.stop()


LOG_TARGETS = """\
notify:
  targets:
    fire_brigade: {kind: log}
    supervisor: {kind: log}
"""


@pytest.fixture
def home(tmp_path, broker) -> Iterator[CarewatchProcess]:
    """A service whose fire brigade and supervisor targets are logged (delivered at once)."""
    s = CarewatchProcess(
        tmp_path / "cw", broker.url, DEMO_SITE, rules=LOG_TARGETS, settings=OPEN_READS
    )
    s.start()
    yield s
    s.stop()


def api_alert(service: CarewatchProcess, rule: str) -> dict:
    return next(a for a in service.get("/api/alerts").json() if a["rule"] == rule)


def login_if_asked(page) -> None:
    dialog = page.locator("#login-dialog")
    dialog.wait_for(state="visible", timeout=5000)
    page.select_option("#login-staff", "nurse-li")
    page.fill("#login-pin", "1234")
    page.click("#login-submit")


def test_an_alert_shows_within_a_second_and_is_acknowledged_on_the_page(
    browser, service, publisher
):
    p = Page(browser, service.url)
    try:
        page = p.page
        sent = time.monotonic()
        publisher.publish_all([(f"{T}/w-204-1/event", b'{"event":"fall","id":"f-1"}')], 100)
        page.wait_for_selector('.alert-card[data-state="active_unack"]', timeout=5000)
        shown = time.monotonic() - sent
        assert shown < 1.0, f"fall on screen after {shown:.3f} s"
        card = page.locator(".alert-card").first
        text = card.inner_text()
        assert "老人跌倒" in text and "204" in text
        alert_id = card.get_attribute("data-alert-id")
        assert page.evaluate("window.carewatch.soundPattern()") == "emergency"
        card.locator('[data-action="ack"]').click()
        login_if_asked(page)
        page.wait_for_selector(
            f'.alert-card[data-alert-id="{alert_id}"][data-state="active_ack"]', timeout=5000
        )
        a = api_alert(service, "fall")
        assert a["state"] == "active_ack" and a["acknowledged_by"] == "nurse-li"
        assert page.evaluate("window.carewatch.soundPattern()") is None  # acknowledged: quiet
        assert p.errors == []
    finally:
        p.close()


def test_the_stream_reconnects_after_a_restart_and_shows_what_happened_meanwhile(
    browser, service, publisher
):
    p = Page(browser, service.url)
    try:
        page = p.page
        publisher.publish_all([(f"{T}/cb-112-1/event", b'{"event":"press","id":"c-1"}')], 100)
        page.wait_for_selector(".alert-card", timeout=5000)
        service.stop()
        page.wait_for_selector("#conn-banner", state="visible", timeout=10_000)
        # while the service is down the broker keeps what devices send
        publisher.publish_all([(f"{T}/w-305-1/event", b'{"event":"fall","id":"f-2"}')], 100)
        service.start()
        p.connected(20)
        page.wait_for_selector(".alert-card >> text=老人跌倒", timeout=10_000)
        assert page.locator(".alert-card").count() == 2
        errors = [e for e in p.errors if not e.startswith("Failed to load resource: net::ERR_")]
        assert errors == []
    finally:
        p.close()


def seed_home(service: CarewatchProcess, publisher) -> None:
    now = int(time.time() * 1000)
    msgs = [
        (f"{T}/w-204-1/event", b'{"event":"fall","id":"s-1"}'),
        (f"{T}/cb-112-1/event", b'{"event":"press","button":"bathroom_cord","id":"s-2"}'),
        (f"{T}/sd-301/event", b'{"event":"smoke_alarm","id":"s-3"}'),
        (f"{T}/sd-302/event", b'{"event":"smoke_alarm","id":"s-4"}'),
        (f"{T}/e-2f-panel/telemetry", b'{"residual_current_ma": 420}'),
        (f"{T}/w-107-2/telemetry", b'{"battery_pct": 9, "heart_rate_bpm": 76}'),
        (f"{T}/sd-105/event", b'{"event":"tamper","id":"s-5"}'),
        (f"{T}/ghost-7/telemetry", b'{"battery_pct": 50}'),
    ]
    msgs += [
        (
            f"{T}/p-1f-riser/telemetry",
            f'{{"ts": {now - (120 - i) * 30_000}, "pressure_mpa": {0.36 - i * 0.002:.3f}}}'.encode(),
        )
        for i in range(120)
    ]
    publisher.publish_all(msgs, 500)
    assert wait_until(lambda: len(service.get("/api/alerts").json()) >= 7, 10)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_screenshots_of_alerts_floor_plan_devices_and_history(browser, home, publisher, lang):
    service = home
    seed_home(service, publisher)
    token = service.token
    fall = api_alert(service, "fall")
    service.post(f"/api/alerts/{fall['id']}/ack", {"by": "nurse-li", "note": "on my way"}, token)
    service.post("/api/devices/w-301-1/maintenance", {"by": "tech-wu", "minutes": 120}, token)
    SHOTS.mkdir(parents=True, exist_ok=True)
    p = Page(browser, service.url, lang)
    try:
        page = p.page
        page.wait_for_selector(".alert-card", timeout=5000)
        wait_until(lambda: page.locator(".alert-card").count() >= 7, 5)
        expected = "老人跌倒" if lang == "zh" else "Resident fell"
        assert expected in page.locator("#alerts-view").inner_text()
        page.screenshot(path=str(SHOTS / f"alerts-{lang}.png"))

        page.click('[data-view="floors"]')
        page.wait_for_selector("#floors-view .room-tile", timeout=5000)
        tile = page.locator('.room-tile[data-room="204"]')
        assert tile.count() == 1
        page.screenshot(path=str(SHOTS / f"floors-{lang}.png"))
        tile.click()
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"room-{lang}.png"))
        page.keyboard.press("Escape")

        page.click('[data-view="devices"]')
        page.wait_for_selector("#devices-view", state="visible", timeout=5000)
        devices_text = page.locator("#devices-view").inner_text()
        assert "ghost-7" in devices_text  # unregistered device that publishes
        assert "w-301-1" in devices_text  # out of service
        page.screenshot(path=str(SHOTS / f"devices-{lang}.png"))

        page.click('[data-view="floors"]')
        page.click('.room-tile[data-room="1-utility"]')
        page.click('[data-device="p-1f-riser"]')
        page.wait_for_selector("#history-view svg", timeout=5000)
        assert "MPa" in page.locator("#history-view").inner_text()
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"history-{lang}.png"))
        page.keyboard.press("Escape")  # the chart
        page.keyboard.press("Escape")  # the room it was opened from

        page.click('[data-view="notifications"]')
        page.wait_for_selector("#notifications-view .notif-row", timeout=15_000)
        brigade = "消防" if lang == "zh" else "Fire brigade"
        assert brigade in page.locator("#notifications-view").inner_text()
        page.screenshot(path=str(SHOTS / f"notifications-{lang}.png"))
        assert p.errors == []
    finally:
        p.close()


def test_a_screen_opened_with_a_viewer_token_works_where_reads_need_one(
    browser, tmp_path, broker, publisher
):
    import yaml

    from dashboards.auth import token_sha256

    viewer = "cw_screen-viewer-0123456789"
    data = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8"))
    data["api_tokens"] = [
        {"name": "duty-room", "role": "viewer", "token_sha256": token_sha256(viewer)}
    ]
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    s = CarewatchProcess(tmp_path / "cw", broker.url, site, settings={"read_access": "token"})
    s.start()
    p = None
    try:
        p = Page(browser, f"{s.url}?token={viewer}")
        assert "token=" not in p.page.url  # not left in the address bar
        publisher.publish_all([(f"{T}/w-204-1/event", b'{"event":"fall","id":"v-1"}')], 100)
        p.page.wait_for_selector('.alert-card[data-state="active_unack"]', timeout=5000)
        assert p.errors == []
    finally:
        if p:
            p.close()
        s.stop()
