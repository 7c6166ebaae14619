"""A call is reset at the bedside, on the duty screen in Chromium against the real service:
its card says "reset at the bedside" where the resolve button would be, a carer logged in
cannot reset it from the screen (nor with her session through the API), and a supervisor
logged in overrides it with a reason, which the audit log keeps as `override_reset`.
Console errors must be zero."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import DEMO_SITE, BrowserPage, wait_until
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
T = "carewatch/v1/sunrise"
REASON = "呼叫器按键卡住，已到房间确认 (button stuck, checked in the room)"


@pytest.fixture
def service(tmp_path, broker) -> Iterator[CarewatchProcess]:
    s = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, settings={"read_access": "open"})
    s.start()
    yield s
    s.stop()


def log_in(page: Any, staff_id: str, pin: str) -> None:
    page.click("#login-open")
    page.locator("#login-dialog").wait_for(state="visible", timeout=5000)
    page.select_option("#login-staff", staff_id)
    page.fill("#login-pin", pin)
    page.click("#login-submit")
    page.locator("#login-dialog").wait_for(state="hidden", timeout=5000)


def session_token(page: Any) -> str:
    return str(page.evaluate("JSON.parse(sessionStorage.getItem('carewatch.session')).token"))


def test_a_carer_cannot_reset_a_call_remotely_and_a_supervisor_can_with_a_reason(
    open_page: Callable[..., BrowserPage], service: CarewatchProcess, publisher: Any
) -> None:
    bp = open_page()
    page = bp.page
    page.goto(service.url)
    page.wait_for_selector("#conn-banner", state="hidden", timeout=10_000)
    publisher.publish_all(
        [
            (f"{T}/cb-102-1/event", b'{"event":"press","button":"bathroom_cord","id":"o-1"}'),
            (f"{T}/w-204-1/event", b'{"event":"fall","id":"o-2"}'),
        ],
        100,
    )

    def raised() -> dict[str, Any] | None:
        got = {a["rule"]: a for a in service.get("/api/alerts").json()}
        return got if {"call", "fall"} <= got.keys() else None

    alerts = wait_until(raised, 5)
    assert alerts, service.get("/api/alerts").json()
    call_id, fall_id = alerts["call"]["id"], alerts["fall"]["id"]
    assert alerts["call"]["reset"] == "bedside" and alerts["fall"]["reset"] == "remote"
    call = page.locator(f'.alert-card[data-alert-id="{call_id}"]')
    fall = page.locator(f'.alert-card[data-alert-id="{fall_id}"]')
    call.wait_for(timeout=5000)
    fall.wait_for(timeout=5000)

    # the call card says where it is reset, instead of a resolve button; the fall has one
    hint = call.locator('[data-reset="bedside"]')
    assert hint.inner_text() == "请到床边复位"
    assert call.locator('[data-action="resolve"]').count() == 0
    assert call.locator('[data-action="override"]').count() == 0
    assert fall.locator('[data-action="resolve"]').count() == 1

    # a carer: acknowledges ("on my way"), but has no reset on the screen ...
    log_in(page, "nurse-li", "1234")
    call.locator('[data-action="ack"]').click()
    page.wait_for_selector(
        f'.alert-card[data-alert-id="{call_id}"][data-state="active_ack"]', timeout=5000
    )
    assert call.locator('[data-action="override"]').count() == 0
    assert call.locator('[data-action="resolve"]').count() == 0
    # ... nor with her session through the API
    carer = {"Authorization": f"Bearer {session_token(page)}"}
    url = f"{service.url}/api/alerts/{call_id}/resolve"
    r = httpx.post(url, json={"note": "done"}, headers=carer, timeout=10)
    assert r.status_code == 409 and "bedside" in r.json()["detail"]
    r = httpx.post(url, json={"override": True, "note": REASON}, headers=carer, timeout=10)
    assert r.status_code == 403

    # the supervisor: the override, which asks for the reason
    page.click("#logout")
    log_in(page, "supervisor-zhao", "3456")
    button = call.locator('[data-action="override"]')
    button.wait_for(timeout=5000)
    assert button.inner_text() == "主管强制复位" and hint.count() == 1
    page.evaluate("window.carewatch.setLang('en')")
    page.wait_for_function(
        f"""document.querySelector('.alert-card[data-alert-id="{call_id}"] [data-reset]')
            .textContent === 'Reset at the bedside'"""
    )
    assert call.locator('[data-action="override"]').inner_text() == "Supervisor override"
    call.locator('[data-action="override"]').click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible", timeout=5000)
    assert "Supervisor override" in page.locator("#confirm-title").inner_text()
    assert page.locator("#confirm-note-label").inner_text() == "Reason (required)"
    page.fill("#confirm-note", "ok")  # too short: the dialog stays, nothing is sent
    page.click("#confirm-submit")
    assert dialog.is_visible()
    assert service.get(f"/api/alerts/{call_id}").json()["state"] == "active_ack"
    page.fill("#confirm-note", REASON)
    page.click("#confirm-submit")
    call.wait_for(state="detached", timeout=5000)  # closed: off the list
    got = service.get(f"/api/alerts/{call_id}").json()
    assert got["state"] == "closed" and got["closed_by"] == "supervisor-zhao"
    last = got["history"][-1]
    assert (last["action"], last["by"], last["note"]) == (
        "override_reset",
        "supervisor-zhao",
        REASON,
    )
    assert fall.count() == 1  # the fall is still there, resolvable as before
    assert bp.errors == [], orjson.dumps(bp.errors).decode()
