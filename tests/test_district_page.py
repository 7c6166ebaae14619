"""The district overview in a real browser (Debian's Chromium via playwright) against the
real service watching the three example sites on a real broker: every site listed, the
most urgent first, live within a second or two of a new alert, no console error; and the
screenshots of docs/district.md (zh-CN and English)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from alerting import store
from devices.registry import load_sites
from tests.conftest import DEMO_SITE, ROOT, BrowserPage, all_online, wait_until

SITES = ROOT / "examples" / "sites"
SHOTS = ROOT / "docs" / "screenshots"


def _ev(site: str, device: str, name: str) -> tuple[str, bytes]:
    return (f"carewatch/v1/{site}/{device}/event", orjson.dumps({"event": name, "id": device}))


def _rows(p: BrowserPage) -> list[tuple[str, str]]:
    rows = p.page.evaluate(
        "[...document.querySelectorAll('tr.site-row')].map(r => [r.dataset.site, r.dataset.status])"
    )
    return [(site, status) for site, status in rows]


def _visited(db: Path) -> None:
    """The community worker cw-zhao visited hb-wang's resident a minute ago (a row as the
    visit recording writes it): the home-bed panel's visit rate is 1 of 1."""
    now = int(time.time() * 1000) - 60_000
    conn = sqlite3.connect(db)
    try:
        store.create_schema(conn)
        conn.execute(
            "INSERT INTO visits(site, resident, worker, at_ms, recorded_ms, outcome, note)"
            " VALUES ('hb-wang', 'r-1', 'cw-zhao', ?, ?, 'visited', NULL)",
            (now, now),
        )
        conn.commit()
    finally:
        conn.close()


def _home_beds_panel_shows_the_months_figures(p: BrowserPage, service: Any) -> None:
    """Below the sites: the home bed's calls this month (its press), answered within 60 s,
    check-ins, the visit rate, the district total and the worker, as the API counts them."""
    api = service.get("/api/district/home-beds").json()
    [site] = api["sites"]
    assert site["id"] == "hb-wang" and site["calls"]["calls"] >= 1
    p.page.wait_for_selector('tr.hb-row[data-site="hb-wang"]', timeout=5000)
    row = p.page.locator('tr.hb-row[data-site="hb-wang"]').inner_text()
    assert "翠苑" in row and f"{site['calls']['calls']} 次" in row
    assert f"其中紧急 {site['emergency']['calls']} 次" in row
    assert "100.0%" in row and "1/1 人" in row  # visited: 1 of 1 resident
    total = p.page.locator("tr.hb-total").inner_text()
    assert "全区合计（1 个家庭床位）" in total and "1/1 人" in total
    worker = p.page.locator('tr.hb-worker[data-worker="cw-zhao"]').inner_text()
    assert "100.0%" in worker and "hb-wang" in worker
    assert p.page.input_value("#hb-month") == api["month"]
    assert "家庭床位（一键通）" in p.page.inner_text("#home-beds h2")


@pytest.mark.integration
def test_the_page_lists_every_site_most_urgent_first_and_updates_live(
    tmp_path, broker, publisher, open_page
):
    from tests.servers import CarewatchProcess

    service = CarewatchProcess(
        tmp_path / "cw", broker.url, DEMO_SITE, settings={"sites_dir": str(SITES)}
    )
    _visited(service.dir / "carewatch.db")
    service.start()
    try:
        publisher.publish_all(all_online(load_sites(SITES)), 2000)
        publisher.publish_all(
            [
                _ev("sunrise", "w-204-1", "fall"),
                _ev("hb-wang", "hb-wang-call", "press"),
                _ev("riverside", "rv-sd-b1-pump", "fault"),
            ],
            100,
        )
        assert wait_until(lambda: len(service.get("/api/alerts").json()) >= 3, 10)
        p = open_page(1600, 1000, "zh-CN")
        # as a district office opens it: its token given once in the address (then kept)
        p.page.goto(service.url + f"/district?token={service.token}")
        p.page.wait_for_function(
            "window.carewatchDistrict && window.carewatchDistrict.conn() === 'open'"
        )
        p.page.wait_for_selector("tr.site-row >> nth=2")
        assert _rows(p) == [
            ("sunrise", "alarm"),
            ("hb-wang", "attention"),
            ("riverside", "attention"),
        ]
        first = p.page.locator("tr.site-row").first
        assert "阳光颐养院" in first.inner_text() and "危急 1" in first.inner_text()
        assert first.locator("a.site-link").get_attribute("href") == "/?site=sunrise"
        assert "消防设施故障" in p.page.inner_text("thead")
        assert "1 台" in p.page.locator('tr[data-site="riverside"]').inner_text()
        assert p.page.locator("#system-banner").is_hidden()
        _home_beds_panel_shows_the_months_figures(p, service)
        # a fall at riverside: on the page within a second or two, no reload
        sent = time.monotonic()
        publisher.publish_all([_ev("riverside", "rv-w-305-1", "fall")], 100)
        p.page.wait_for_selector(
            'tr.site-row[data-site="riverside"][data-status="alarm"]', timeout=5000
        )
        shown = time.monotonic() - sent
        assert shown < 2.0, f"riverside's fall on the district page after {shown:.2f} s"
        # both with a critical alert waiting: riverside has two alerts waiting, sunrise one
        assert [s for s, _ in _rows(p)] == ["riverside", "sunrise", "hb-wang"]
        # sunrise's fall acknowledged on its duty screen: in hand, no longer first
        fall = next(a for a in service.get("/api/alerts").json() if a["device_id"] == "w-204-1")
        assert service.post(f"/api/alerts/{fall['id']}/ack", {"by": "nurse-li"}).status_code == 200
        p.page.wait_for_selector(
            'tr.site-row[data-site="sunrise"][data-status="open"]', timeout=5000
        )
        assert _rows(p) == [("riverside", "alarm"), ("hb-wang", "attention"), ("sunrise", "open")]
        SHOTS.mkdir(parents=True, exist_ok=True)
        p.page.screenshot(path=str(SHOTS / "district-zh.png"), full_page=True)
        p.page.click("#lang-toggle")
        p.page.wait_for_function("document.documentElement.lang === 'en'")
        assert "Fire equipment faults" in p.page.inner_text("thead")
        assert "Urgent" in p.page.locator("tr.site-row").first.inner_text()
        assert "Monthly visit rate" in p.page.inner_text("#home-beds")
        p.page.screenshot(path=str(SHOTS / "district-en.png"), full_page=True)
        assert p.errors == []
    finally:
        service.stop()
