"""Welfare visits through the real service (`carewatch serve` on a real broker) watching
the example home bed hb-wang with the example access file (worker cw-zhao, demo PIN
2468): a visit nine days old under a weekly plan raises `visit_missed` as the service
starts, and the visit recorded through the API clears it; and the workers' phone page in
Chromium at a cheap phone's size (360x640): PIN log-in, the overdue mark, a network
failure that keeps the form, a one-tap visit, and the screenshots of docs/home-beds.md
(zh-CN and English)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from alerting.store import create_schema
from alerting.visits import DAY_MS
from ingest.sqlite import connect
from tests.conftest import ROOT, wait_until

HB = ROOT / "examples" / "sites" / "3-hb-wang.yaml"
ACCESS = ROOT / "examples" / "access.yaml"
SHOTS = ROOT / "docs" / "screenshots"
PIN = "2468"  # the demo PIN of examples/access.yaml


def _service(data_dir: Path, mqtt_url: str, days_ago: float = 9) -> object:
    """The service over hb-wang whose last visit was `days_ago` days ago."""
    from tests.servers import CarewatchProcess

    service = CarewatchProcess(data_dir, mqtt_url, HB, settings={"access_file": str(ACCESS)})
    conn = connect(data_dir / "carewatch.db")
    create_schema(conn)
    at = int(time.time() * 1000 - days_ago * DAY_MS)
    conn.execute(
        "INSERT INTO visits(site, resident, worker, at_ms, recorded_ms, outcome, note)"
        " VALUES ('hb-wang', 'r-1', 'cw-zhao', ?, ?, 'visited', NULL)",
        (at, at),
    )
    conn.commit()
    conn.close()
    return service


def _missed(service) -> list[dict]:  # type: ignore[no-untyped-def]
    return [a for a in service.get("/api/alerts").json() if a["rule"] == "visit_missed"]


@pytest.mark.integration
def test_a_missed_visit_raises_visit_missed_and_the_visit_recorded_clears_it(tmp_path, broker):
    service = _service(tmp_path / "cw", broker.url)
    service.start()
    try:
        assert wait_until(lambda: _missed(service), 10), service.log()
        [alert] = _missed(service)
        assert alert["site"] == "hb-wang" and alert["device_id"] == "hb-wang-call"
        assert alert["value"].startswith("r-1: last visit ")
        assert alert["state"] == "active_unack"
        # the worker logs in and records her visit: the alert clears at once
        r = httpx.post(
            service.url + "/api/visits/session", json={"worker_id": "cw-zhao", "pin": PIN}
        )
        assert r.status_code == 200
        auth = {"Authorization": f"Bearer {r.json()['token']}"}
        bad = httpx.post(
            service.url + "/api/visits", json={"site": "hb-wang", "resident": "r-2"}, headers=auth
        )
        assert bad.status_code == 422 and "unknown resident 'r-2'" in bad.json()["detail"]
        r = httpx.post(
            service.url + "/api/visits",
            json={"site": "hb-wang", "resident": "r-1", "note": "精神好"},
            headers=auth,
        )
        assert r.status_code == 201, r.text
        assert wait_until(lambda: _missed(service)[0]["state"] == "cleared_unack", 5)
        listed = service.get("/api/visits", site="hb-wang").json()
        assert [v["note"] for v in listed][-1] == "精神好"
        log = service.log()
        assert "王秀英" not in log and "精神好" not in log  # no names, no notes in the log
    finally:
        service.stop()


@pytest.mark.integration
def test_the_phone_page_logs_in_shows_the_overdue_visit_and_records_it(tmp_path, broker, open_page):
    service = _service(tmp_path / "cw", broker.url)
    service.start()
    try:
        p = open_page(360, 640, "zh-CN")
        page = p.page
        page.goto(service.url + "/visit")
        page.wait_for_function("window.carewatchVisit && window.carewatchVisit.ready()")
        page.fill("#worker", "cw-zhao")
        page.fill("#pin", "1111")
        page.click("#login-btn")
        page.wait_for_selector("#login-error:not([hidden])")
        assert "工号或PIN错误" in page.inner_text("#login-error")
        page.fill("#pin", PIN)
        page.click("#login-btn")
        card = page.locator('.card[data-resident="r-1"]')
        card.wait_for()
        assert card.get_attribute("data-status") == "overdue"
        text = card.inner_text()
        assert "王秀英" in text and "已逾期" in text and "文二西路" in text
        box = card.locator("button.visited").bounding_box()
        assert box is not None and box["height"] >= 48 and box["width"] >= 300  # a thumb's
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "visit-zh.png"), full_page=True)
        # no network: a clear error, and the entry stays to be sent again
        page.route("**/api/visits", lambda route: route.abort())
        card.locator("button.more").click()
        card.locator("textarea.note").fill("血压偏高，已告知女儿")
        card.locator("button.save").click()
        card.locator(".msg-err").wait_for()
        assert "网络不通" in card.locator(".msg-err").inner_text()
        assert card.locator("textarea.note").input_value() == "血压偏高，已告知女儿"
        page.unroute("**/api/visits")
        card.locator("button.save").click()
        page.wait_for_selector("#toast:not([hidden])")
        assert "已记录：王秀英 已探访" in page.inner_text("#toast")
        page.wait_for_selector('.card[data-resident="r-1"][data-status="ok"]')
        [v] = [v for v in service.get("/api/visits", site="hb-wang").json() if v["note"]]
        assert (v["worker"], v["outcome"]) == ("cw-zhao", "visited")
        page.click("#lang")
        page.wait_for_function("document.documentElement.lang === 'en'")
        # the language switch re-renders once the English catalog is in: wait for it
        page.wait_for_function(
            "(() => { const c = document.querySelector('.card[data-resident=\"r-1\"]');"
            " return c && c.innerText.includes('Not yet due'); })()"
        )
        card = page.locator('.card[data-resident="r-1"]')
        assert "Visited" in card.inner_text()
        page.screenshot(path=str(SHOTS / "visit-en.png"), full_page=True)
        # the browser's own notes of the wrong PIN (401) and of the cut network: no others
        expected = ("status of 401", "net::ERR_FAILED")
        assert [e for e in p.errors if not any(x in e for x in expected)] == []
    finally:
        service.stop()
