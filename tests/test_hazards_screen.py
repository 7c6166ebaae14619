"""The hazards tab of the duty screen in Chromium against the real service: the register by
state with the overdue one marked and its deadline in the site's zone (the browser set to
New York), a hazard recorded from an alert card ("记为隐患"), the steps by their buttons,
the fixer's own sign-off refused with the reason shown and a second person's accepted; in
zh-CN and in English, with the screenshots of docs/screen.md. Console errors must be zero."""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import DEMO_SITE, ROOT, BrowserPage, wait_until
from tests.servers import CarewatchProcess
from tests.test_screen_override import log_in

pytestmark = pytest.mark.integration
T = "carewatch/v1/sunrise"
SHOTS = ROOT / "docs" / "screenshots"
ZONE = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def service(tmp_path, broker) -> Iterator[CarewatchProcess]:
    s = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, settings={"read_access": "open"})
    s.start()
    yield s
    s.stop()


def png(width: int = 8, height: int = 6) -> bytes:
    """A small red PNG the browser can draw."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))  # fmt: skip


def _seed(service: CarewatchProcess) -> dict[str, int]:
    """Four hazards, one in each state; the open one is past its deadline."""
    now = int(time.time() * 1000)

    def new(category: str, desc: str, room: str, deadline: int | None, by: str) -> int:
        body = {"site": "sunrise", "category": category, "description": desc, "floor": "1",
                "room": room, "deadline_ms": deadline, "by": by, "owner": "nurse-wang"}  # fmt: skip
        r = service.post("/api/hazards", body)
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    def act(hid: int, step: str, by: str) -> None:
        r = service.post(f"/api/hazards/{hid}/{step}", {"by": by})
        assert r.status_code == 200, r.text

    ids = {
        "open": new("exit_blocked", "轮椅堆放在东侧安全出口", "101", now - 60_000, "nurse-li"),
        "open2": new("fire_door", "常闭防火门被楔子顶开", "105", now - 60_000, "nurse-wang"),
        "in_progress": new("electrical", "102房间私拉电线充电", "102", None, "nurse-li"),
        "fixed": new("extinguisher", "1楼走廊灭火器压力不足", "103", None, "nurse-wang"),
        "closed": new("combustibles", "楼梯间堆放纸箱", "104", None, "nurse-li"),
    }
    act(ids["in_progress"], "start", "nurse-wang")
    act(ids["fixed"], "fix", "nurse-li")
    act(ids["closed"], "fix", "nurse-wang")
    act(ids["closed"], "close", "supervisor-zhao")
    r = httpx.post(
        f"{service.url}/api/hazards/{ids['open2']}/photos?by=nurse-wang", content=png(),
        headers={"Authorization": f"Bearer {service.token}", "Content-Type": "image/png"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return {**ids, "deadline_ms": now - 60_000}


def _open_tab(page: Any) -> None:
    page.click('.tab[data-view="hazards"]')
    page.wait_for_selector(".hazard-row", timeout=5000)


def test_the_hazards_tab_in_chinese_records_from_an_alert_and_takes_the_steps(
    open_page: Callable[..., BrowserPage], service: CarewatchProcess, publisher: Any
) -> None:
    ids = _seed(service)
    bp = open_page(1600, 1000, "zh-CN", "America/New_York")
    page = bp.page
    page.goto(service.url)
    page.wait_for_selector("#conn-banner", state="hidden", timeout=10_000)
    # the tab says how many are overdue
    page.wait_for_function(
        "document.getElementById('tab-count-hazards').textContent === '(2!)'", timeout=10_000
    )
    _open_tab(page)
    overdue = page.locator(f'.hazard-row[data-hazard-id="{ids["open"]}"]')
    assert overdue.get_attribute("data-overdue") == "1"
    text = overdue.inner_text()
    due = datetime.fromtimestamp(ids["deadline_ms"] / 1000, ZONE).strftime("%H:%M")
    assert "疏散通道/安全出口堵塞" in text and "已逾期" in text and due in text
    assert "王护士" in text  # the owner by her name
    # the photo of the fire door, fetched with the screen's token and shown
    page.locator(f'.hazard-row[data-hazard-id="{ids["open2"]}"] [data-hazard-photos]').click()
    page.locator("#hazard-photo-dialog").wait_for(state="visible")
    page.wait_for_function(
        "document.getElementById('hazard-photo-img').naturalWidth === 8", timeout=5000
    )
    page.click("#hazard-photo-dialog [data-close]")
    groups = [g.inner_text().split("\n")[0] for g in page.locator(".hazard-group h3").all()]
    assert groups == ["待整改 (2)", "整改中 (1)", "待验收 (1)", "已销号 (1)"]
    # the fixer cannot sign off her own fix: the screen shows why
    log_in(page, "nurse-li", "1234")
    page.locator(f'.hazard-row[data-hazard-id="{ids["fixed"]}"] [data-hazard-step="close"]').click()
    page.locator("#hazard-step-dialog").wait_for(state="visible")
    assert "李护士" in page.inner_text("#hazard-step-hint")
    page.click("#hazard-step-submit")
    page.wait_for_selector("#toast:popover-open")
    assert "需另一人验收" in page.inner_text("#toast")
    # the overdue one is fixed on the spot: it leaves the overdue mark
    page.locator(f'.hazard-row[data-hazard-id="{ids["open"]}"] [data-hazard-step="fix"]').click()
    page.fill("#hazard-step-note", "已移走轮椅")
    page.click("#hazard-step-submit")
    page.wait_for_selector(
        f'.hazard-row[data-hazard-id="{ids["open"]}"][data-state="fixed"][data-overdue="0"]',
        timeout=5000,
    )
    # an alert card's "记为隐患" opens the form placed at the alert's device
    page.click('.tab[data-view="alerts"]')
    publisher.publish_all([(f"{T}/sd-105/event", b'{"event":"tamper","id":"hz-1"}')], 100)
    tamper = wait_until(
        lambda: [a for a in service.get("/api/alerts").json() if a["rule"] == "tamper"], 5
    )
    assert tamper
    alert_id = str(tamper[0]["id"])
    card = page.locator(f'.alert-card[data-alert-id="{alert_id}"]')
    card.wait_for(timeout=5000)
    # the overdue alert of a hazard is no hazard of its own
    overdue_cards = page.locator('.alert-card:has-text("隐患逾期未整改")')
    assert overdue_cards.locator('[data-action="hazard"]').count() == 0
    card.locator('[data-action="hazard"]').click()
    page.locator("#hazard-dialog").wait_for(state="visible")
    assert "来自告警" in page.inner_text("#hazard-subject")
    assert page.input_value("#hazard-room") == "105"
    page.select_option("#hazard-category", "alarm_system")
    page.fill("#hazard-description", "105房烟感被拆开")
    page.click("#hazard-submit")
    page.locator("#hazard-dialog").wait_for(state="hidden", timeout=5000)
    made = wait_until(
        lambda: [h for h in service.get("/api/hazards").json() if h["source"] == "alert"], 5
    )
    assert made and made[0]["source_ref"] == alert_id and made[0]["room"] == "105"
    assert made[0]["opened_by"] == "nurse-li" and made[0]["deadline_ms"] > time.time() * 1000
    _open_tab(page)
    page.wait_for_selector(f'.hazard-row[data-hazard-id="{made[0]["id"]}"]', timeout=5000)
    page.evaluate("document.getElementById('toast').hidePopover()")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "hazards-zh.png"), full_page=True)
    # the one refusal (the fixer's own sign-off) is Chromium's only console line
    assert bp.errors == [
        "Failed to load resource: the server responded with a status of 409 (Conflict)"
    ]


def test_the_hazards_tab_in_english(
    open_page: Callable[..., BrowserPage], service: CarewatchProcess
) -> None:
    ids = _seed(service)
    bp = open_page(1600, 1000, "en-GB")
    page = bp.page
    page.goto(service.url)
    page.wait_for_selector("#conn-banner", state="hidden", timeout=10_000)
    page.evaluate("window.carewatch.setLang('en')")
    page.wait_for_function("document.documentElement.lang.startsWith('en')")
    _open_tab(page)
    row = page.locator(f'.hazard-row[data-hazard-id="{ids["open"]}"]')
    assert "Exit or escape route blocked" in row.inner_text() and "Overdue" in row.inner_text()
    assert page.inner_text('.tab[data-view="hazards"]').startswith("Hazards")
    fixed = page.locator(f'.hazard-row[data-hazard-id="{ids["fixed"]}"]')
    assert fixed.locator('[data-hazard-step="close"]').inner_text() == "Verify and close"
    page.click("#hazard-new")
    page.locator("#hazard-dialog").wait_for(state="visible")
    assert page.inner_text("#hazard-title") == "Record a hazard"
    page.click("#hazard-cancel")
    page.screenshot(path=str(SHOTS / "hazards-en.png"), full_page=True)
    assert bp.errors == []
