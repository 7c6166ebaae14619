"""The visits API (dashboards/visits.py) on the real app in-process over an engine
harness: a worker's PIN session, recording a visit with every refusal a phone or an
office may meet (401, 403, 422 with the reason), the month's list for staff, the worker's
due list, and `visit_missed` raised on a missed visit and cleared by the visit recorded
through the API."""

from __future__ import annotations

import re
import sqlite3
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerting.items import CommandResult, StoreWrite
from alerting.visits import DAY_MS, RULE, VisitDesk
from carewatch.visiting import Visiting
from dashboards.access import Worker
from dashboards.auth import Grant, StaffAuth, TokenBook, hash_pin, token_sha256
from dashboards.workers import WorkerAuth
from devices.registry import load_sites
from tests.app_harness import harness_runtime, request
from tests.conftest import ROOT
from tests.engine_harness import Harness

DUTY, VIEWER = "cw_hb-duty-0123456789", "cw_hb-viewer-0123456789"
PIN = "2468"


class Api:
    def __init__(self, tmp_path: Path) -> None:
        from dashboards.app import create_app

        self.h = h = Harness(tmp_path / "cw.db", load_sites(ROOT / "examples/sites/3-hb-wang.yaml"))
        pin = hash_pin(PIN, iterations=1000)
        workers = [
            Worker("cw-zhao", "赵志强", frozenset({"hb-wang"}), pin),
            Worker("cw-qian", "钱芳", frozenset({"hb-li"}), pin),  # visits another home bed
        ]

        def write(apply: Any) -> Future[CommandResult]:
            return self._done(h.engine.process([StoreWrite(apply)]).results[0])

        def submit(item: Any) -> Future[CommandResult]:
            r = h.engine.process([item])
            h.changes += r.changes
            return self._done(r.results[0])

        auth = WorkerAuth(workers, b"k" * 32, h.clock)
        desk = VisitDesk(
            h.registry, auth.assigned(), lambda: sqlite3.connect(h.path), write, h.clock
        )
        self.visiting = Visiting(desk, auth, write, submit)
        grants = [
            Grant("office", role, frozenset({"hb-wang"}), token_sha256(t))  # type: ignore[arg-type]
            for role, t in (("duty", DUTY), ("viewer", VIEWER))
        ]
        staff = StaffAuth([], b"k" * 32, h.clock)
        runtime = harness_runtime(
            h, staff, TokenBook(grants, None), read_open=False, visiting=self.visiting
        )
        self.app = create_app(runtime)  # type: ignore[arg-type]

    @staticmethod
    def _done(result: Any) -> Future[CommandResult]:
        fut: Future[CommandResult] = Future()
        fut.set_result(result)
        return fut

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return request(self.app, method, path, headers=headers, **kw)

    def login(self, worker: str = "cw-zhao", pin: str = PIN) -> httpx.Response:
        return self.call("POST", "/api/visits/session", json={"worker_id": worker, "pin": pin})


@pytest.fixture
def api(tmp_path: Path) -> Api:
    return Api(tmp_path)


def test_a_worker_logs_in_with_her_pin_and_wrong_pins_get_401_then_429(api: Api) -> None:
    r = api.login()
    assert r.status_code == 200
    body = r.json()
    assert body["worker_id"] == "cw-zhao" and body["name"] == "赵志强"
    assert body["sites"] == ["hb-wang"] and body["token"].startswith("w.")
    assert api.login(pin="1357").status_code == 401
    assert api.login(worker="nobody").status_code == 401
    assert api.login(pin="12ab").status_code == 422
    for _ in range(4):
        assert api.login(pin="1357").status_code == 401
    r = api.login()  # five wrong in five minutes: even the right PIN waits
    assert r.status_code == 429 and "5" in r.json()["detail"]
    # a worker's session is no key to the rest of the API
    token = api.login("cw-qian").json()["token"]
    assert api.call("GET", "/api/alerts", token).status_code == 401
    assert api.call("GET", "/api/visits", token).status_code == 401


def test_a_visit_is_recorded_once_and_bad_input_gets_a_clear_4xx(api: Api) -> None:
    token = api.login().json()["token"]
    now = api.h.clock.now_ms()

    def post(tok: str | None = token, **body: Any) -> httpx.Response:
        return api.call("POST", "/api/visits", tok, json={"site": "hb-wang", **body})

    assert post(None, resident="r-1").status_code == 401
    assert post("w.forged.token", resident="r-1").status_code == 401
    r = post(resident="r-9")
    assert r.status_code == 422 and "unknown resident 'r-9'" in r.json()["detail"]
    r = post(resident="r-1", outcome="asleep")
    assert r.status_code == 422 and "visited" in str(r.json()["detail"])
    r = post(resident="r-1", at=now + 3_600_000)
    assert r.status_code == 422 and "future" in r.json()["detail"]
    r = api.call("POST", "/api/visits", token, json={"site": "nowhere", "resident": "r-1"})
    assert r.status_code == 422 and "unknown site" in r.json()["detail"]
    qian = api.login("cw-qian").json()["token"]
    r = post(qian, resident="r-1")
    assert r.status_code == 403 and "does not visit site 'hb-wang'" in r.json()["detail"]
    assert post(resident="r-1", worker="cw-qian").status_code == 403  # her own only
    assert api.call("GET", "/api/visits?site=hb-wang", DUTY).json() == []  # nothing kept
    at = datetime.fromtimestamp((now - 600_000) / 1000, UTC).isoformat()
    r = post(resident="r-1", at=at, outcome="not_home", note="邻居说去女儿家了")
    assert r.status_code == 201
    visit = r.json()
    assert (visit["worker"], visit["outcome"], visit["note"]) == (
        "cw-zhao", "not_home", "邻居说去女儿家了"
    )  # fmt: skip
    again = post(resident="r-1", at=at, outcome="not_home", note="邻居说去女儿家了")
    assert again.status_code == 200 and again.json()["id"] == visit["id"]  # a retry
    # the office types in a paper record: for a worker, with the duty role
    assert post(DUTY, resident="r-1").status_code == 422  # whose visit?
    assert post(VIEWER, resident="r-1", worker="cw-zhao").status_code == 403
    assert post(DUTY, resident="r-1", worker="cw-zhao").status_code == 201
    month = datetime.fromtimestamp(now / 1000, UTC).strftime("%Y-%m")
    listed = api.call("GET", f"/api/visits?site=hb-wang&month={month}", VIEWER).json()
    assert [v["outcome"] for v in listed] == ["not_home", "visited"]
    assert api.call("GET", "/api/visits?month=2020-01", VIEWER).json() == []
    assert api.call("GET", "/api/visits?month=2020-13", VIEWER).status_code == 422
    assert api.call("GET", "/api/visits").status_code == 401


def test_a_missed_visit_is_raised_and_the_visit_recorded_clears_it(api: Api) -> None:
    api.visiting.check()
    token = api.login().json()["token"]
    [due] = api.call("GET", "/api/visits/due", token).json()
    assert (due["resident"], due["name"], due["status"], due["missed"]) == (
        "r-1", "王秀英", "ok", False
    )  # fmt: skip
    assert "文二西路" in due["address"] and due["every_days"] == 7
    assert api.call("GET", "/api/visits/due").status_code == 401
    api.h.clock.advance(9 * DAY_MS / 1000)
    api.visiting.check()
    [alert] = api.h.open(RULE)
    assert alert.site == "hb-wang" and alert.value == "r-1: no visit yet (every 7 days)"
    token = api.login().json()["token"]
    [due] = api.call("GET", "/api/visits/due", token).json()
    assert (due["status"], due["missed"]) == ("overdue", True)
    # the staff see the same list for their site
    assert api.call("GET", "/api/visits/due", VIEWER).json()[0]["resident"] == "r-1"
    r = api.call("POST", "/api/visits", token, json={"site": "hb-wang", "resident": "r-1"})
    assert r.status_code == 201
    assert [a.state for a in api.h.open(RULE)] == ["cleared_unack"]
    assert api.call("GET", "/api/visits/due", token).json()[0]["status"] == "ok"


def test_the_phone_page_is_small_and_without_outside_resources(api: Api) -> None:
    """The page and the one helper script it shares with the patrol's page (/static/phone.js):
    small, from the service itself, nothing from outside."""
    r = api.call("GET", "/visit")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts == ["/static/phone.js"]
    helper = api.call("GET", scripts[0])
    assert helper.status_code == 200
    assert len(r.content) + len(helper.content) < 40_000
    assert "http://" not in html + helper.text and "https://" not in html + helper.text
