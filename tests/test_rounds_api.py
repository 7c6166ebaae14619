"""The rounds API (dashboards/rounds.py) on the real app in-process over an engine harness
of the demo home, with the service's patrols (carewatch/patrols.py): a staff PIN session
checks in as herself, a duty token names the staff member; an unknown tag is 404, a
replay 409, a bad body 422, each saying why; a "problem" answer's hazard comes back with
the check-in; the rounds view shows the night route's round; and a check-in through the
API clears `round_missed` at once."""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from alerting.items import CommandResult, StoreWrite
from carewatch.patrols import Patrols
from dashboards.auth import Grant, StaffAuth, TokenBook, token_sha256
from devices.ports import FakeClock
from devices.registry import Registry
from tests.app_harness import harness_runtime, request
from tests.engine_harness import Harness

SH = ZoneInfo("Asia/Shanghai")
DUTY, VIEWER = "cw_sunrise-duty-0123456789", "cw_sunrise-viewer-0123456789"
TAGS = [f"nfc:04a2b3c4d5e60{i}" for i in range(1, 9)]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SH).timestamp() * 1000)


class Api:
    def __init__(self, tmp_path: Path, registry: Registry) -> None:
        from dashboards.app import create_app

        self.h = h = Harness(tmp_path / "cw.db", registry, FakeClock(ms("2026-12-05T21:00")))

        def write(apply: Any) -> Future[CommandResult]:
            r = h.engine.process([StoreWrite(apply)])
            h.changes += r.changes
            return _done(r.results[0])

        def submit(item: Any) -> Future[CommandResult]:
            r = h.engine.process([item])
            h.changes += r.changes
            return _done(r.results[0])

        self.patrols = Patrols(registry, lambda _s: SH, h.clock, lambda: sqlite3.connect(h.path))
        link = SimpleNamespace(write=write, submit=submit, after_commit=lambda _hook: None)
        self.patrols.wire(link, BackgroundScheduler())
        grants = [
            Grant("office", role, frozenset({"sunrise"}), token_sha256(t))  # type: ignore[arg-type]
            for role, t in (("duty", DUTY), ("viewer", VIEWER))
        ]
        staff = StaffAuth.of_sites(registry.sites.values(), b"k" * 32, h.clock)
        runtime = harness_runtime(
            h, staff, TokenBook(grants, None), read_open=False, patrols=self.patrols
        )
        self.app = create_app(runtime)  # type: ignore[arg-type]

    def at(self, text: str) -> None:
        self.h.clock.t = ms(text)

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return request(self.app, method, path, headers=headers, **kw)

    def nurse(self) -> str:
        r = self.call("POST", "/api/session", json={"staff_id": "nurse-li", "pin": "1234"})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def checkin(self, token: str | None, **body: Any) -> httpx.Response:
        return self.call("POST", "/api/rounds/checkins", token, json={"site": "sunrise", **body})


def _done(result: CommandResult) -> Future[CommandResult]:
    fut: Future[CommandResult] = Future()
    fut.set_result(result)
    return fut


@pytest.fixture
def api(tmp_path: Path, registry: Registry) -> Api:
    return Api(tmp_path, registry)


def test_staff_check_in_as_themselves_and_every_refusal_says_why(api: Api) -> None:
    nurse = api.nurse()
    api.at("2026-12-05T22:12")
    r = api.checkin(nurse, tag=TAGS[0], answers={"exit_clear": "ok", "fire_door_closed": "ok"},
                    client_id="phone-0001")  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["checkpoint"] == "cp-1f-east-exit" and body["by"] == "nurse-li"
    assert body["routes"] == ["night"] and body["late"] is False and body["hazards"] == []
    again = api.checkin(nurse, tag=TAGS[0])
    assert again.status_code == 409 and "already in this round" in again.json()["detail"]
    assert again.json()["code"] == "already_checked_in"
    retry = api.checkin(nurse, tag=TAGS[1], client_id="phone-0001")
    assert retry.status_code == 409 and "recorded already" in retry.json()["detail"]
    assert retry.json()["code"] == "already_recorded"  # the phone's retry: saved before
    saved = retry.json()["saved"]  # what was kept, for the phone to show
    assert saved["at_ms"] == ms("2026-12-05T22:12") and saved["checkpoint"] == "cp-1f-east-exit"
    assert saved["answers"] == {"exit_clear": "ok", "fire_door_closed": "ok"}
    assert saved["hazards"] == []
    found = api.checkin(nurse, tag=TAGS[0], answers={"exit_clear": "problem"})
    assert found.status_code == 201 and found.json()["repeat"] is True
    assert found.json()["routes"] == [] and len(found.json()["hazards"]) == 1
    unknown = api.checkin(nurse, tag="nfc:ffff")
    assert unknown.status_code == 404 and "has tag 'nfc:ffff'" in unknown.json()["detail"]
    assert unknown.json()["code"] == "unknown_tag"
    bad = api.checkin(nurse, tag=TAGS[1], answers={"exit_clear": "ok"})
    assert bad.status_code == 422 and "not on checkpoint cp-1f-corridor's" in bad.json()["detail"]
    assert api.checkin(nurse, tag=TAGS[1], answers={"no_combustibles": "bad"}).status_code == 422
    assert api.checkin(nurse).status_code == 422  # no tag
    assert api.checkin(None, tag=TAGS[1]).status_code == 401
    assert api.checkin(VIEWER, tag=TAGS[1], by="nurse-li").status_code == 403
    nobody = api.checkin(DUTY, tag=TAGS[1])
    assert nobody.status_code == 422 and "`by`" in nobody.json()["detail"]
    assert api.checkin(nurse, tag=TAGS[1], by="nurse-wang").status_code == 403
    # a duty token checks in for a staff member of the site
    r = api.checkin(DUTY, tag=TAGS[1], by="nurse-wang",
                    answers={"extinguisher_ok": "problem"}, note="压力表指针在红区")  # fmt: skip
    assert r.status_code == 201 and r.json()["by"] == "nurse-wang"
    [hid] = r.json()["hazards"]
    conn = sqlite3.connect(api.h.path)
    assert conn.execute("SELECT category, source FROM hazards WHERE id = ?", (hid,)).fetchone() == (
        "extinguisher", "round",
    )  # fmt: skip
    listed = api.call("GET", "/api/rounds/checkins", VIEWER, params={"site": "sunrise"}).json()
    assert [c["checkpoint"] for c in listed] == [
        "cp-1f-east-exit", "cp-1f-east-exit", "cp-1f-corridor",
    ]  # fmt: skip
    assert listed[2]["result"] == "problem" and listed[2]["note"] == "压力表指针在红区"


def test_a_tag_names_its_checkpoint_and_checklist_for_the_phone_page(api: Api) -> None:
    nurse = api.nurse()
    r = api.call("GET", "/api/rounds/tag", nurse, params={"site": "sunrise", "tag": TAGS[2]})
    assert r.status_code == 200
    assert r.json() | {"name_en": None} == {
        "site": "sunrise", "tag": TAGS[2], "id": "cp-1f-utility", "name": "1F 设备间",
        "name_en": None, "floor": "1", "room": "1-utility",
        "checklist": ["electrical_ok", "valve_open"],
    }  # fmt: skip
    r = api.call("GET", "/api/rounds/tag", nurse, params={"site": "sunrise", "tag": "x"})
    assert r.status_code == 404 and "has tag 'x'" in r.json()["detail"]
    assert api.call("GET", "/api/rounds/tag", None, params={"tag": "x"}).status_code == 401


def test_the_rounds_view_shows_the_round_in_progress_and_the_next_one(api: Api) -> None:
    nurse = api.nurse()
    api.at("2026-12-05T20:00")
    [route] = api.call("GET", "/api/rounds", VIEWER, params={"site": "sunrise"}).json()["routes"]
    assert route["id"] == "night" and route["current"]["status"] == "upcoming"
    assert route["current"]["start_ms"] == ms("2026-12-05T22:00")
    api.at("2026-12-05T22:20")
    assert api.checkin(nurse, tag=TAGS[0]).status_code == 201
    api.at("2026-12-05T23:10")
    assert api.checkin(nurse, tag=TAGS[1]).status_code == 201
    api.at("2026-12-05T23:20")
    body = api.call("GET", "/api/rounds", VIEWER, params={"site": "sunrise"}).json()
    assert body["timezone"] == "Asia/Shanghai"
    [route] = body["routes"]
    cur = route["current"]
    assert cur["status"] == "missed" and cur["due_ms"] == ms("2026-12-05T23:00")
    points = {c["id"]: (c["status"], c["by"]) for c in cur["checkpoints"]}
    assert points["cp-1f-east-exit"] == ("done", "nurse-li")
    assert points["cp-1f-corridor"] == ("late", "nurse-li")
    assert points["cp-3f-utility"] == ("missed", None)
    assert cur["checkpoints"][0]["name_en"] == "1F east fire exit"
    assert route["next_start_ms"] == ms("2026-12-06T00:00")


def test_a_check_in_through_the_api_clears_round_missed_at_once(api: Api) -> None:
    api.patrols.check()  # the watch begins at 21:00
    api.at("2026-12-05T23:15")
    api.patrols.check()
    [alert] = api.h.open("round_missed")
    assert alert.value == "night 22:00 round (2026-12-05): 8 of 8 checkpoints missed"
    nurse = api.nurse()
    for i, tag in enumerate(TAGS):
        api.at(f"2026-12-06T00:{10 + i}")
        assert api.checkin(nurse, tag=tag).status_code == 201
    assert api.h.one("round_missed").state.value == "cleared_unack"
