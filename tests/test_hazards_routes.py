"""The hazard API (dashboards/hazards.py) on the real app in-process over an engine harness
of the example sites (sunrise, riverside): who may act (a PIN session as herself, a duty
token for a staff id of the hazard's site, exactly), deadlines bounded and a bad row
never failing the listing, a photo refused on a closed hazard or too short to be one,
another site's alert unknown, the category the form suggests for an alert's rule, and a
step with no body."""

from __future__ import annotations

import sqlite3
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerting.hazard_desk import HazardDesk
from alerting.hazard_photos import PhotoStore
from alerting.hazards import DAY_MS
from alerting.items import CommandResult, Observed, StoreWrite
from carewatch.hazarding import Hazarding
from dashboards.auth import Grant, StaffAuth, TokenBook, token_sha256
from devices.ports import FakeClock
from devices.registry import Registry, load_sites
from tests.app_harness import harness_runtime, request
from tests.conftest import ROOT
from tests.engine_harness import Harness

T0 = 1_795_300_000_000
DUTY = "cw_sunrise-duty-0123456789"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def _done(result: CommandResult) -> Future[CommandResult]:
    fut: Future[CommandResult] = Future()
    fut.set_result(result)
    return fut


class Api:
    def __init__(self, tmp_path: Path, registry: Registry) -> None:
        from dashboards.app import create_app

        self.h = h = Harness(tmp_path / "cw.db", registry, FakeClock(T0))

        def write(apply: Any) -> Future[CommandResult]:
            r = h.engine.process([StoreWrite(apply)])
            h.changes += r.changes
            return _done(r.results[0])

        def submit(item: Any) -> Future[CommandResult]:
            r = h.engine.process([item])
            h.changes += r.changes
            return _done(r.results[0])

        self.desk = HazardDesk(registry, lambda: sqlite3.connect(h.path), write, h.clock)
        self.photos = PhotoStore(tmp_path / "hazard-photos")
        hazarding = Hazarding(self.desk, self.photos, registry, submit)
        grants = [Grant("office", "duty", frozenset({"sunrise"}), token_sha256(DUTY))]
        staff = StaffAuth.of_sites(registry.sites.values(), b"k" * 32, h.clock)
        runtime = harness_runtime(h, staff, TokenBook(grants, None), False, hazarding=hazarding)
        self.app = create_app(runtime)  # type: ignore[arg-type]
        self.submit = submit

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})} if token else {}
        return request(self.app, method, path, headers=headers, **kw)

    def login(self, staff: str, pin: str) -> str:
        r = self.call("POST", "/api/session", json={"staff_id": staff, "pin": pin})
        assert r.status_code == 200, r.text
        return str(r.json()["token"])

    def open(self, token: str, **kw: Any) -> httpx.Response:
        body = {"site": "sunrise", "category": "fire_door", "description": "防火门被楔子顶开",
                "floor": "1", "room": "101", **kw}  # fmt: skip
        return self.call("POST", "/api/hazards", token, json=body)


@pytest.fixture(scope="module")
def sites() -> Registry:
    return load_sites(ROOT / "examples" / "sites")


@pytest.fixture
def api(tmp_path: Path, sites: Registry) -> Api:
    return Api(tmp_path, sites)


# --- who acts ------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["nurse-li ", "NURSE-LI", "nurse-lee", "nurse-chen"])
def test_a_token_closes_only_for_a_real_other_staff_member_of_the_site(api: Api, by: str) -> None:
    hid = api.open(DUTY, by="nurse-li").json()["id"]
    r = api.call("POST", f"/api/hazards/{hid}/fix", DUTY, json={"by": "nurse-li"})
    assert r.status_code == 200 and r.json()["fixed_by"] == "nurse-li"
    r = api.call("POST", f"/api/hazards/{hid}/close", DUTY, json={"by": by})
    if by.strip() == "nurse-li":  # the same person, spaces or not: the second-person rule
        assert r.status_code == 409 and "second person" in r.json()["detail"]
    else:  # another spelling, an invented name, another site's nurse: nobody of sunrise
        assert r.status_code == 422 and "no staff member of sunrise" in r.json()["detail"]
    assert api.desk.get(hid).state == "fixed"  # type: ignore[union-attr]
    r = api.call("POST", f"/api/hazards/{hid}/close", DUTY, json={"by": "supervisor-zhao"})
    assert r.status_code == 200 and r.json()["closed_by"] == "supervisor-zhao"


def test_a_token_must_name_a_staff_member_to_open_or_act(api: Api) -> None:
    r = api.open(DUTY)
    assert r.status_code == 422 and "`by`" in r.json()["detail"]
    r = api.open(DUTY, by="Mr Nobody")
    assert r.status_code == 422 and "'Mr Nobody' is no staff member of sunrise" in r.text
    assert api.desk.find(["sunrise"]) == []


def test_a_pin_session_acts_as_herself_and_a_step_needs_no_body(api: Api) -> None:
    li = api.login("nurse-li", "1234")
    hid = api.open(li).json()["id"]
    r = api.call("POST", f"/api/hazards/{hid}/fix", li, json={"by": "supervisor-zhao"})
    assert r.status_code == 403 and "herself" in r.json()["detail"]
    r = api.call("POST", f"/api/hazards/{hid}/fix", li)  # no body at all
    assert r.status_code == 200 and r.json()["fixed_by"] == "nurse-li"
    assert api.call("POST", f"/api/hazards/{hid}/close", li).status_code == 409
    boss = api.login("supervisor-zhao", "3456")
    r = api.call("POST", f"/api/hazards/{hid}/close", boss)
    assert r.status_code == 200 and r.json()["closed_by"] == "supervisor-zhao"


# --- deadlines ----------------------------------------------------------------------------


@pytest.mark.parametrize("deadline", [10**15, 1, T0 - 2 * DAY_MS, T0 + 367 * DAY_MS])
def test_a_deadline_out_of_bounds_is_a_422_on_open_and_assign(api: Api, deadline: int) -> None:
    li = api.login("nurse-li", "1234")
    r = api.open(li, deadline_ms=deadline)
    assert r.status_code == 422 and "366 days" in r.json()["detail"]
    assert api.desk.find(["sunrise"]) == []
    hz = api.open(li, deadline_ms=T0 + 365 * DAY_MS).json()
    r = api.call("POST", f"/api/hazards/{hz['id']}/assign", li, json={"deadline_ms": deadline})
    assert r.status_code == 422 and "366 days" in r.json()["detail"]
    assert api.desk.get(hz["id"]).deadline_ms == T0 + 365 * DAY_MS  # type: ignore[union-attr]


def test_a_row_with_a_deadline_no_date_has_never_fails_the_listing(api: Api) -> None:
    li = api.login("nurse-li", "1234")
    good = api.open(li).json()["id"]
    bad = api.open(li, category="extinguisher").json()["id"]
    with sqlite3.connect(api.h.path) as conn:  # saved before deadlines were bounded
        conn.execute("UPDATE hazards SET deadline_ms = ? WHERE id = ?", (10**18, bad))
    r = api.call("GET", "/api/hazards", li)
    assert r.status_code == 200, r.text
    rows = {x["id"]: x for x in r.json()}
    assert set(rows) == {good, bad} and rows[bad]["deadline_at"] is None
    assert api.call("GET", f"/api/hazards/{bad}", li).status_code == 200


# --- photos -------------------------------------------------------------------------------


def test_no_photo_on_a_closed_hazard_and_none_too_short_to_be_an_image(api: Api) -> None:
    li, boss = api.login("nurse-li", "1234"), api.login("supervisor-zhao", "3456")
    hid = api.open(li).json()["id"]
    url = f"/api/hazards/{hid}/photos"
    jpeg = {"Content-Type": "image/jpeg"}
    r = api.call("POST", url, li, content=b"\xff\xd8\xff", headers=jpeg)
    assert r.status_code == 415 and "16 bytes" in r.json()["detail"]
    r = api.call("POST", url, li, content=PNG, headers={"Content-Type": "image/png"})
    assert r.status_code == 201, r.text
    api.call("POST", f"/api/hazards/{hid}/fix", li)
    api.call("POST", f"/api/hazards/{hid}/close", boss)
    r = api.call("POST", url, li, content=PNG[:-1] + b"\x01", headers={"Content-Type": "image/png"})
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    assert api.call("GET", f"/api/hazards/{hid}", li).json()["photo_count"] == 1


# --- from an alert ------------------------------------------------------------------------


def test_another_sites_alert_is_unknown_as_an_unknown_one(api: Api) -> None:
    api.submit(Observed("riverside", "hazard_overdue", "hazard:99", True, "x"))
    [(alert,)] = api.h.conn.execute("SELECT id FROM alerts WHERE site = 'riverside'").fetchall()
    li = api.login("nurse-li", "1234")
    other = api.open(li, alert_id=alert)
    unknown = api.open(li, alert_id=alert + 1000)
    assert (other.status_code, other.json()) == (unknown.status_code, unknown.json())
    assert other.status_code == 404 and "riverside" not in other.text


def test_the_categories_name_the_rules_whose_hazards_they_file(api: Api) -> None:
    li = api.login("nurse-li", "1234")
    cats = {c["id"]: c for c in api.call("GET", "/api/hazards/categories", li).json()}
    assert {"valve_closed", "pump_manual", "tank_low"} <= set(cats["hydrant"]["rules"])
    assert "fire_door_open" in cats["fire_door"]["rules"]
    assert "emergency_light_fault" in cats["emergency_light"]["rules"]
    assert "device_fault" in cats["alarm_system"]["rules"]
    owners = [c["id"] for c in cats.values() if "valve_closed" in c["rules"]]
    assert owners == ["hydrant"]  # one category per rule


# --- one form, one hazard -----------------------------------------------------------------


def test_a_form_sent_twice_is_one_hazard(api: Api) -> None:
    li = api.login("nurse-li", "1234")
    first = api.open(li, client_id="hz-form-0001")
    assert first.status_code == 201, first.text
    again = api.open(li, client_id="hz-form-0001", description="又按了一次")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["description"] == "防火门被楔子顶开"
    other = api.open(li, client_id="hz-form-0002")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert api.open(li).status_code == 201  # without one: every form a hazard
    assert len(api.desk.find(["sunrise"])) == 3
    chen = api.login("nurse-chen", "1234")  # riverside's: the id is no key to sunrise's
    r = api.call("POST", "/api/hazards", chen, json={"site": "riverside", "category": "other",
                 "description": "x", "location": "y", "client_id": "hz-form-0001"})  # fmt: skip
    assert r.status_code == 409 and "防火门" not in r.text
