"""The patrol phone page's kept check-in (dashboards/static/patrol.js) in Chromium against a
stub of the service (page routes, no broker or database): a check-in whose answer was lost
is sent again with its client_id only while it is the same check-in (same answers, same
staff member, within 10 minutes); changed answers are a new check-in; logging out or
another staff member's log-in drops it; a retry the service had saved says what it saved
(its time and hazards); and a QR link's tag survives `+`, `&`, `#` and `%`."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.conftest import ROOT, BrowserPage

BASE = "http://patrol.test"
STATIC = ROOT / "dashboards" / "static"
CATALOG = json.loads((ROOT / "devices" / "catalog" / "zh.json").read_text(encoding="utf-8"))
CP = {
    "site": "sunrise", "tag": "nfc:04a2b3c4d5e601", "id": "cp-1f-east-exit", "name": "1F 东侧安全出口",
    "name_en": None, "floor": "1", "room": None, "checklist": ["exit_clear", "fire_door_closed"],
}  # fmt: skip
SAVED_AT = 1_796_481_600_000  # 2026-12-05 22:40 in Shanghai


class Stub:
    """The service's answers the page needs; `answer` decides each check-in's reply."""

    def __init__(self, page: Any) -> None:
        self.posts: list[dict[str, Any]] = []
        self.tags: list[str] = []
        self.routes: list[dict[str, Any]] = []
        self.answer: Callable[[dict[str, Any]], tuple[int, dict[str, Any] | None]] = lambda b: (
            201, {"at_ms": SAVED_AT, "late": False, "missed": False, "hazards": [], "repeat": False},
        )  # fmt: skip
        page.route(BASE + "/**", self._serve)

    def _serve(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        path = url.path
        if path == "/patrol":
            return route.fulfill(path=str(STATIC / "patrol.html"))
        if path in ("/static/patrol.js", "/static/phone.js", "/static/phone.css"):  # its helpers
            return route.fulfill(path=str(STATIC / path.removeprefix("/static/")))
        if path.startswith("/api/i18n/"):
            return route.fulfill(json=CATALOG)
        if path == "/api/session":
            name = json.loads(route.request.post_data)["staff_id"]
            return route.fulfill(json={"token": "t-" + name, "name": name, "site": "sunrise",
                                       "expires_at": "2099-01-01T00:00:00Z"})  # fmt: skip
        if path == "/api/rounds":
            return route.fulfill(json={"site": "sunrise", "timezone": "Asia/Shanghai",
                                       "now_ms": SAVED_AT, "routes": self.routes})  # fmt: skip
        if path == "/api/rounds/tag":
            self.tags.append(parse_qs(url.query)["tag"][0])
            return route.fulfill(json=CP)
        if path == "/api/rounds/checkins":
            body = json.loads(route.request.post_data)
            self.posts.append(body)
            status, reply = self.answer(body)
            if reply is None:
                return route.abort()  # the answer lost on the way back
            return route.fulfill(status=status, json=reply)
        return route.fulfill(status=404, json={"detail": "not stubbed"})


def _login(page: Any, staff: str) -> None:
    page.wait_for_function("window.carewatchPatrol && window.carewatchPatrol.ready()")
    page.fill("#staff", staff)
    page.fill("#pin", "1234")
    page.click("#login-btn")
    page.wait_for_selector("#work:not([hidden])")


def _open(page: Any) -> None:
    page.fill("#tag", CP["tag"])
    page.click("#open")
    page.wait_for_selector("#checkpoint:not([hidden])")


def _kept(page: Any) -> Any:
    return page.evaluate("JSON.parse(localStorage.getItem('cw.patrol.pending') || 'null')")


@pytest.fixture
def phone(open_page: Callable[..., BrowserPage]) -> tuple[BrowserPage, Stub]:
    p = open_page(360, 640, "zh-CN", "Asia/Shanghai")
    stub = Stub(p.page)
    p.page.goto(BASE + "/patrol?site=sunrise")
    return p, stub


def test_a_lost_answer_is_retried_as_the_same_check_in_only_while_it_is_the_same(
    phone: tuple[BrowserPage, Stub],
) -> None:
    p, stub = phone
    page = p.page
    _login(page, "nurse-li")
    _open(page)
    stub.answer = lambda b: (0, None)
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    page.click("#submit")  # the same answers again: the same check-in
    page.wait_for_function("document.getElementById('submit').disabled === false")
    assert stub.posts[0]["client_id"] == stub.posts[1]["client_id"]
    kept = _kept(page)
    assert kept["staff"] == "nurse-li" and kept["created_ms"] > 0
    page.check('input[name="a-exit_clear"][value="problem"]')  # changed: a new check-in
    page.click("#submit")
    page.wait_for_function("document.getElementById('submit').disabled === false")
    assert len(stub.posts) == 3 and stub.posts[2]["client_id"] != stub.posts[1]["client_id"]
    assert stub.posts[2]["answers"] == {"exit_clear": "problem", "fire_door_closed": "ok"}
    # the service had saved it: the page says what it saved (22:40, one hazard)
    saved = {"at_ms": SAVED_AT, "answers": stub.posts[2]["answers"], "hazards": [7], "late": False}
    stub.answer = lambda b: (409, {"detail": "recorded already", "code": "already_recorded",
                                   "saved": saved})  # fmt: skip
    page.click("#submit")
    page.wait_for_selector("#toast:not([hidden])")
    toast = page.inner_text("#toast")
    assert "已打卡：1F 东侧安全出口" in toast and "22:40" in toast and "已登记隐患 1 项" in toast
    assert _kept(page) is None
    assert p.errors == [] or all("net::ERR_FAILED" in e or "409" in e for e in p.errors)


def test_the_kept_check_in_is_dropped_on_log_out_for_another_nurse_and_when_old(
    phone: tuple[BrowserPage, Stub],
) -> None:
    p, stub = phone
    page = p.page
    _login(page, "nurse-li")
    _open(page)
    stub.answer = lambda b: (0, None)
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    assert _kept(page) is not None
    page.click("#logout")
    assert _kept(page) is None  # the next one on this phone starts clean
    # kept by nurse-li, then nurse-wang logs in: not hers, dropped, not reopened
    entry = {"checkpoint": CP, "answers": {"exit_clear": "ok"}, "note": None,
             "client_id": "p-old-0001", "staff": "nurse-li"}  # fmt: skip
    page.evaluate("e => localStorage.setItem('cw.patrol.pending', JSON.stringify("
                  "Object.assign(e, {created_ms: Date.now()})))", entry)  # fmt: skip
    _login(page, "nurse-wang")
    assert page.is_hidden("#checkpoint") and _kept(page) is None
    _open(page)
    stub.answer = lambda b: (201, {"at_ms": SAVED_AT, "late": False, "hazards": []})
    page.click("#submit")
    page.wait_for_selector("#toast:not([hidden])")
    assert stub.posts[-1]["client_id"] != "p-old-0001"
    # kept by nurse-wang 11 minutes ago: too old to be a retry, dropped
    page.evaluate("e => localStorage.setItem('cw.patrol.pending', JSON.stringify("
                  "Object.assign(e, {staff: 'nurse-wang', created_ms: Date.now() - 11 * 60000})))",
                  entry)  # fmt: skip
    page.reload()
    page.wait_for_selector("#work:not([hidden])")
    assert page.is_hidden("#checkpoint") and _kept(page) is None
    _open(page)
    page.click("#submit")
    page.wait_for_function("document.getElementById('submit').disabled === false")
    assert stub.posts[-1]["client_id"] != "p-old-0001"


@pytest.mark.parametrize("tag", ["qr:a+b", "qr:a&b=c", "qr:a#b", "qr:100%", "nfc:04a2b3"])
def test_a_qr_links_tag_survives_its_encoding(
    open_page: Callable[..., BrowserPage], tag: str
) -> None:
    p = open_page(360, 640, "zh-CN", "Asia/Shanghai")
    stub = Stub(p.page)
    p.page.goto(BASE + "/patrol?site=sunrise&tag=" + quote(tag, safe=""))
    _login(p.page, "nurse-li")
    p.page.wait_for_selector("#checkpoint:not([hidden])")
    assert stub.tags == [tag]


def test_a_checkpoint_checked_in_too_late_to_count_is_not_counted_done(
    open_page: Callable[..., BrowserPage],
) -> None:
    p = open_page(360, 640, "zh-CN", "Asia/Shanghai")
    stub = Stub(p.page)
    point = {"id": "a", "name": "A", "name_en": None, "floor": "1", "room": None, "checklist": []}
    stub.routes = [{"id": "night", "name": "夜间防火巡查", "name_en": None, "every_h": 2,
                    "next_start_ms": None, "current": {
                        "start_ms": SAVED_AT, "due_ms": SAVED_AT, "grace_until_ms": SAVED_AT,
                        "status": "missed", "checkpoints": [
                            {**point, "status": "late", "at_ms": SAVED_AT, "by": "x"},
                            {**point, "id": "b", "status": "missed", "at_ms": SAVED_AT, "by": "x"},
                        ]}}]  # fmt: skip
    p.page.goto(BASE + "/patrol?site=sunrise")
    _login(p.page, "nurse-li")
    p.page.wait_for_selector('.route[data-route="night"]')
    assert "已完成 1/2" in p.page.inner_text('.route[data-route="night"]')
