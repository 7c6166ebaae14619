"""The call-centre console in a real browser (Debian's Chromium via playwright) against the
real service watching the example district on a real broker, opened with a call centre's
operator token (the access file, granted hb-wang): a press of hb-wang's one-touch terminal
appears in the queue live, the card shows the resident and her contacts, 'no answer' then
'family on the way' are audited with who and when and the call leaves the waiting queue;
no console error; the screenshots of docs/home-beds.md (zh-CN and English)."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
import yaml

from dashboards.auth import token_sha256
from devices.registry import load_sites
from tests.conftest import DEMO_SITE, ROOT, BrowserPage, all_online, wait_until

SITES = ROOT / "examples" / "sites"
SHOTS = ROOT / "docs" / "screenshots"
OPERATOR = "cw_call-centre-0123456789"
TERMINAL = "hb-wang-call"


def home_call(site: str, device: str, n: int) -> tuple[str, bytes]:
    """A press of a home's one-touch terminal as it publishes it: the event the `call` rule
    raises on (today hb-wang-call is a call_button; as a home_terminal it sends the same)."""
    body = {"event": "press", "id": f"{device}-press-{n}"}
    return f"carewatch/v1/{site}/{device}/event", orjson.dumps(body)


def access_file(path: Path) -> Path:
    users = [
        {
            "name": "call-centre",
            "role": "operator",
            "sites": ["hb-wang"],
            "token_sha256": token_sha256(OPERATOR),
        }
    ]
    path.write_text(yaml.safe_dump({"users": users}), encoding="utf-8")
    return path


def shoot(p: BrowserPage, name: str) -> None:
    """A screenshot of the page without the passing toast over it."""
    p.page.evaluate("(() => { const t = document.getElementById('toast');"
                    " if (t.matches(':popover-open')) t.hidePopover(); })()")  # fmt: skip
    p.page.screenshot(path=str(SHOTS / name), full_page=True)


def waiting_ids(p: BrowserPage) -> list[str]:
    return list(
        p.page.evaluate(
            "[...document.querySelectorAll('#queue-waiting button.call')].map(b => b.dataset.alert)"
        )
    )


@pytest.mark.integration
def test_a_home_call_reaches_the_console_live_and_the_operator_records_what_was_done(
    tmp_path, broker, publisher, open_page
):
    from tests.servers import CarewatchProcess

    service = CarewatchProcess(
        tmp_path / "cw",
        broker.url,
        DEMO_SITE,
        settings={"sites_dir": str(SITES), "access_file": str(access_file(tmp_path / "a.yaml"))},
    )
    service.start()
    try:
        publisher.publish_all(all_online(load_sites(SITES)), 2000)
        # a fall in a nursing home the call centre does not serve: never on its console
        fall = ("carewatch/v1/sunrise/w-204-1/event", b'{"event": "fall", "id": "f-1"}')
        publisher.publish_all([fall], 100)
        assert wait_until(lambda: len(service.get("/api/alerts").json()) >= 1, 10)
        p = open_page(1600, 1100, "zh-CN")
        p.page.goto(service.url + f"/console?token={OPERATOR}")
        p.page.wait_for_function(
            "window.carewatchConsole && window.carewatchConsole.conn() === 'open'"
        )
        p.page.wait_for_selector("#no-waiting", state="visible")
        assert waiting_ids(p) == []
        # the press at home: in the queue without a reload
        sent = time.monotonic()
        publisher.publish_all([home_call("hb-wang", TERMINAL, 1)], 100)
        p.page.wait_for_selector('#queue-waiting button.call[data-waiting="true"]', timeout=5000)
        shown = time.monotonic() - sent
        assert shown < 2.0, f"the home call on the console after {shown:.2f} s"
        [call_id] = waiting_ids(p)
        item = p.page.locator("#queue-waiting button.call").first
        assert "王秀英" in item.inner_text() and "尚未联系任何人" in item.inner_text()
        # the card of the most urgent call opens by itself: the home and the contacts
        p.page.wait_for_selector(f'#card .card[data-alert="{call_id}"]')
        card = p.page.locator("#card")
        assert "文二西路 18 号" in card.inner_text() and "左耳听力差" in card.inner_text()
        assert p.page.locator("li.contact").count() == 4
        daughter = p.page.locator('li.contact[data-contact="daughter"]')
        assert "李敏" in daughter.inner_text() and "+8613800001234" in daughter.inner_text()
        # the operator gives her id, calls the daughter: no answer
        p.page.fill("#operator-id", "op-night")
        daughter.locator('button[data-result="no_answer"]').click()
        p.page.wait_for_selector('#card .trail li[data-action="contact"]')
        p.page.wait_for_selector("#queue-waiting button.call >> text=女儿 李敏 未接听")
        SHOTS.mkdir(parents=True, exist_ok=True)
        shoot(p, "console-zh.png")
        # the son is reached and comes: family on the way; the call is in hand
        p.page.click('button.outcome-btn[data-code="family_on_way"]')
        p.page.wait_for_selector(f'#queue-in-hand button.call[data-alert="{call_id}"]')
        assert waiting_ids(p) == []
        history = service.get(f"/api/alerts/{call_id}").json()["history"]
        done = [(h["action"], h["by"], h["note"]) for h in history if h["by"] == "op-night"]
        assert done == [
            ("contact", "op-night", "daughter no_answer"),
            ("ack", "op-night", None),
            ("outcome", "op-night", "family_on_way"),
        ]
        assert all(h["at"] for h in history)
        # another call comes in while the first is in hand; the page in English
        publisher.publish_all([("carewatch/v1/hb-wang/hb-wang-band/event",
                                b'{"event": "fall", "id": "band-fall-1"}')], 100)  # fmt: skip
        p.page.wait_for_selector("#queue-waiting button.call", timeout=5000)
        p.page.click("#lang-toggle")
        p.page.wait_for_function("document.documentElement.lang === 'en'")
        assert "Family on the way" in p.page.inner_text("#card")
        assert "Waiting" in p.page.inner_text(".queue")
        shoot(p, "console-en.png")
        assert p.errors == []
    finally:
        service.stop()
