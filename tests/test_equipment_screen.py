"""The duty screen's fire-equipment tab in a real browser (Debian's Chromium via playwright)
against the real service on a real broker: a detector's fault, a call point out of service
and a riser pressure sensor that lost its link each show with a word (not colour alone),
since when in the site's time (the browser runs in UTC), counted at the top; a new fault
appears without a reload; and the screenshots of docs/screen.md (zh-CN and English)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devices.registry import load_site
from tests.conftest import DEMO_SITE, ROOT, BrowserPage, all_online, wait_until
from tests.servers import CarewatchProcess

T = "carewatch/v1/sunrise"
SHOTS = ROOT / "docs" / "screenshots"
SITE_TZ = ZoneInfo("Asia/Shanghai")  # the demo site's zone; the browser's is UTC

WORDS = {
    "zh": {"tab": "消防设施", "fault": "故障", "offline": "失联", "maintenance": "维护停用",
           "normal": "正常", "fault_means": "报修", "since": "自 {t} 起", "never": "从未收到它的信号"},
    "en": {"tab": "Fire equipment", "fault": "Fault", "offline": "No signal",
           "maintenance": "Out of service", "normal": "Normal", "fault_means": "repair",
           "since": "since {t}", "never": "never heard from"},
}  # fmt: skip


@pytest.fixture
def service(tmp_path, broker) -> Iterator[CarewatchProcess]:
    s = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, settings={"read_access": "open"})
    s.start()
    yield s
    s.stop()


def _equipment(service: CarewatchProcess) -> dict[str, Any]:
    body: dict[str, Any] = service.get("/api/equipment", site="sunrise").json()
    return body


def _device(body: dict[str, Any], device_id: str) -> dict[str, Any]:
    return next(d for f in body["floors"] for d in f["devices"] if d["id"] == device_id)


def _seed(service: CarewatchProcess, publisher: Any) -> dict[str, Any]:
    """Every device heard from but sd-313 (just installed, say); then a fault on 2F, a call
    point out of service for two hours, a riser sensor offline."""
    online = [m for m in all_online(load_site(DEMO_SITE)) if "/sd-313/" not in m[0]]
    publisher.publish_all(online, 1000)
    assert wait_until(lambda: _device(_equipment(service), "sd-312")["last_seen_ms"], 10)
    publisher.publish_all(
        [
            (f"{T}/sd-201/event", b'{"event":"fault","id":"f-201"}'),
            (f"{T}/p-3f-riser/status", b'{"online": false}'),
        ],
        100,
    )
    r = service.post("/api/devices/cp-2f/maintenance", {"by": "tech-wu", "minutes": 120})
    assert r.status_code == 200, r.text

    def settled() -> dict[str, Any] | None:
        body = _equipment(service)
        c = body["counts"]
        return body if (c["fault"], c["offline"], c["maintenance"]) == (1, 1, 1) else None

    body = wait_until(settled, 10)
    assert body, _equipment(service)["counts"]
    return body


def _open(browser: Any, url: str, lang: str) -> BrowserPage:
    p = BrowserPage(browser, 1600, 1200, "zh-CN" if lang == "zh" else "en-US", "UTC")
    p.page.goto(url)
    if lang == "en":
        p.page.evaluate("localStorage.setItem('carewatch.lang', 'en')")
        p.page.reload()
    p.page.wait_for_selector("#conn-banner", state="hidden", timeout=10_000)
    return p


@pytest.mark.integration
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_faults_out_of_service_and_offline_show_in_words_live(browser, service, publisher, lang):
    body = _seed(service, publisher)
    w = WORDS[lang]
    p = _open(browser, service.url, lang)
    try:
        page = p.page
        tab = page.locator('.tab[data-view="equipment"]')
        # the language's texts and the first load of the view arrive after the page opens
        wait_until(lambda: f"{w['tab']} (3)" in tab.inner_text(), 5)
        assert f"{w['tab']} (3)" in tab.inner_text()  # three devices need someone
        tab.click()
        page.wait_for_selector('.eq-row[data-device="sd-201"][data-state="fault"]', timeout=5000)

        # needs someone: fault first, then the lost link, then the one out of service
        rows = page.locator(".eq-row")
        assert [rows.nth(i).get_attribute("data-device") for i in range(3)] == [
            "sd-201",
            "p-3f-riser",
            "cp-2f",
        ]
        fault = page.locator('.eq-row[data-device="sd-201"]').inner_text()
        since = _device(body, "sd-201")["since_ms"]
        local = datetime.fromtimestamp(since / 1000, SITE_TZ).strftime("%H:%M")
        assert w["fault"] in fault and w["fault_means"] in fault
        assert " @ " not in fault  # its alert stands where it does: no other place named
        assert w["since"].format(t=local) in fault  # the site's time, not the browser's
        assert w["offline"] in page.locator('.eq-row[data-device="p-3f-riser"]').inner_text()
        assert w["maintenance"] in page.locator('.eq-row[data-device="cp-2f"]').inner_text()

        # by floor: every fire device as a tile, its state in words
        assert page.locator(".eq-tile").count() == body["counts"]["total"]
        tile = page.locator('.eq-floor[data-floor="2"] .eq-tile[data-device="sd-202"]')
        assert w["normal"] in tile.inner_text() and w["never"] not in tile.inner_text()
        never = page.locator('.eq-tile[data-device="sd-313"]').inner_text()
        assert w["normal"] in never and w["never"] in never  # no alert, but never heard
        counts = page.locator(".eq-counts").inner_text()
        assert w["fault"] in counts and w["offline"] in counts

        page.wait_for_timeout(1200)  # the header clock ticks into the site's zone
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"equipment-{lang}.png"), full_page=False)

        # live: a new fault shows without a reload (the alert stream says a fire device changed)
        publisher.publish_all([(f"{T}/sd-305/event", b'{"event":"fault","id":"f-305"}')], 100)
        page.wait_for_selector('.eq-row[data-device="sd-305"][data-state="fault"]', timeout=8000)
        assert p.errors == []
    finally:
        p.close()
