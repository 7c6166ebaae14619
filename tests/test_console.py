"""The call-centre console's API over the real app and engine (a fake clock, no broker):
the queue of open home calls (most urgent, then longest waiting; the caller's sites only),
a call's card (home, resident, contacts, the last 24 h, the trail), contact attempts and
outcomes in the audit log with who and when, and bad input refused with a 4xx and a
machine code, changing nothing. The page in Chromium: tests/test_console_page.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from alerting.items import Incoming
from dashboards.auth import Grant, StaffAuth, TokenBook, token_sha256
from devices.registry import Registry, load_sites
from tests.app_harness import harness_runtime, request
from tests.conftest import ROOT
from tests.engine_harness import Harness

ADMIN = "console-admin-0123456789"
OPERATOR = "cw_call-centre-0123456789"  # a call centre granted hb-wang (and sunrise)
VIEWER = "cw_hb-wang-viewer-0123456789"
OP = {"Authorization": f"Bearer {OPERATOR}"}
ALL = {"Authorization": f"Bearer {ADMIN}"}


def hb_li(folder: Path) -> None:
    """A second home bed like hb-wang (the call centre is not granted it)."""
    data = yaml.safe_load((ROOT / "examples/sites/3-hb-wang.yaml").read_text(encoding="utf-8"))
    data["id"], data["name"] = "hb-li", "李家 家庭床位"
    data.pop("zigbee_prefix", None)
    data["devices"] = [
        {**d, "id": d["id"].replace("hb-wang", "hb-li")}
        for d in data["devices"]
        if d.get("source") != "zigbee2mqtt"
    ]
    (folder / "4-hb-li.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """The example district (two homes, hb-wang) and a second home bed, hb-li: conftest's
    engine harness `h` runs over it."""
    folder = tmp_path_factory.mktemp("sites")
    for f in (ROOT / "examples" / "sites").glob("*.yaml"):
        (folder / f.name).write_text(f.read_text(encoding="utf-8"), "utf-8")
    hb_li(folder)
    return load_sites(folder)


class Api:
    """The app over the harness: the service token, a call centre's operator token of
    hb-wang and sunrise, and a viewer of hb-wang."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        grants = [
            Grant(
                "call-centre", "operator", frozenset({"hb-wang", "sunrise"}), token_sha256(OPERATOR)
            ),
            Grant("hb-wang-screen", "viewer", frozenset({"hb-wang"}), token_sha256(VIEWER)),
        ]
        staff = StaffAuth.of_sites(h.registry.sites.values(), b"k" * 32, h.clock)
        runtime = harness_runtime(h, staff, TokenBook(grants, ADMIN), False)
        from dashboards.app import create_app

        self.app = create_app(runtime)  # type: ignore[arg-type]

    def get(self, path: str, headers: dict[str, str] = OP, **params: Any) -> httpx.Response:
        return request(self.app, "GET", path, headers=headers, params=params)

    def post(self, path: str, body: dict[str, Any], headers: dict[str, str] = OP) -> httpx.Response:
        return request(self.app, "POST", path, headers=headers, json=body)

    def queue(self, headers: dict[str, str] = OP) -> list[dict[str, Any]]:
        r = self.get("/api/console/queue", headers)
        assert r.status_code == 200, r.text
        return list(r.json())


def press(h: Harness, site: str, device: str, name: str = "press", seconds: float = 1) -> int:
    """A device event through the decoder and the engine; the id of the open alert it left
    on that device (the newest)."""
    h.clock.advance(seconds)
    body = orjson.dumps({"event": name, "id": f"{device}-{name}-{h.clock.now_ms()}"})
    d = h.decoder.decode(f"carewatch/v1/{site}/{device}/event", body, h.clock.now_ms())
    h.changes += h.engine.process([Incoming(d)]).changes
    mine = [a for a in h.open() if a.site == site and a.device_id == device]
    return max(a.id for a in mine)


def audit(h: Harness, alert_id: int, steps: bool = False) -> list[tuple[Any, ...]]:
    """The alert's audit rows (action, by, note, at, to_state), without the escalation's
    steps unless `steps`."""
    return h.conn.execute(
        "SELECT action, by, note, at, to_state FROM audit WHERE alert_id = ?"
        " AND (? OR action NOT IN ('escalate', 'renotify')) ORDER BY id",
        (alert_id, steps),
    ).fetchall()


def test_the_queue_is_most_urgent_first_then_longest_waiting_and_only_home_calls(h: Harness):
    api = Api(h)
    press(h, "sunrise", "w-204-1", "fall")  # a nursing home's fall: no home call
    wang_call = press(h, "hb-wang", "hb-wang-call")  # high, emergency
    li_call = press(h, "hb-li", "hb-li-call")  # high, emergency, later
    battery = press(h, "hb-wang", "hb-wang-smoke", "low_battery")  # low, trouble
    fall = press(h, "hb-wang", "hb-wang-band", "fall")  # critical, latest
    ids = [int(c["id"]) for c in api.queue(ALL)]
    assert ids == [fall, wang_call, li_call, battery]
    first = api.queue(ALL)[0]
    assert first["waiting"] is True and first["site_name"].startswith("翠苑")
    assert first["timezone"] == "Asia/Shanghai" and first["resident_name"] == "王秀英"
    # answered: in hand, after every call still waiting
    assert api.post(f"/api/alerts/{fall}/contact", {"by": "op-1", "contact": "daughter",
                    "result": "no_answer"}).status_code == 200  # fmt: skip
    assert [int(c["id"]) for c in api.queue(ALL)] == [fall, wang_call, li_call, battery]
    r = api.post(f"/api/alerts/{fall}/outcome", {"by": "op-1", "code": "ambulance_120"})
    assert r.status_code == 200 and r.json()["state"] == "active_ack"
    calls = api.queue(ALL)
    assert [int(c["id"]) for c in calls] == [wang_call, li_call, battery, fall]
    assert calls[-1]["waiting"] is False and calls[-1]["outcome"] == "ambulance_120"
    assert [(t["contact"], t["result"], t["by"]) for t in calls[-1]["tried"]] == [
        ("daughter", "no_answer", "op-1")
    ]


def test_an_operator_sees_and_answers_only_the_sites_granted(h: Harness):
    api = Api(h)
    wang = press(h, "hb-wang", "hb-wang-call")
    li = press(h, "hb-li", "hb-li-call")
    assert [int(c["id"]) for c in api.queue()] == [wang]
    assert api.get("/api/console/queue", site="hb-li").status_code == 403
    assert api.get(f"/api/console/calls/{li}").status_code == 403
    r = api.post(f"/api/alerts/{li}/outcome", {"by": "op-1", "code": "false_alarm"})
    assert r.status_code == 403
    r = api.post(f"/api/alerts/{li}/contact", {"by": "op-1", "contact": "son", "result": "reached"})
    assert r.status_code == 403
    assert [a[0] for a in audit(h, li)] == ["raise"]  # nothing written
    # a viewer reads the queue but answers nothing; without a token nothing at all
    assert [int(c["id"]) for c in api.queue({"Authorization": f"Bearer {VIEWER}"})] == [wang]
    viewer = {"Authorization": f"Bearer {VIEWER}"}
    assert (
        api.post(
            f"/api/alerts/{wang}/outcome", {"by": "x", "code": "false_alarm"}, viewer
        ).status_code
        == 403
    )
    assert api.get("/api/console/queue", {}).status_code == 401
    assert api.get("/console", {}).status_code == 200


def test_the_card_shows_the_home_the_resident_the_contacts_and_the_last_day(h: Harness):
    api = Api(h)
    press(h, "hb-wang", "hb-wang-smoke", "low_battery", seconds=0)
    h.clock.advance(25 * 3600)  # a day later: yesterday's battery is not "recent"
    press(h, "hb-wang", "hb-wang-band", "sos")
    call = press(h, "hb-wang", "hb-wang-call", seconds=60)
    h.clock.advance(61)
    h.tick()  # the escalation's first step
    r = api.get(f"/api/console/calls/{call}")
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["site"]["address"].startswith("浙江省杭州市西湖区")
    assert card["site"]["timezone"] == "Asia/Shanghai"
    assert card["resident"]["name"] == "王秀英" and "糖尿病" in card["resident"]["care_notes"]
    contacts = {c["id"]: c for c in card["contacts"]}
    assert list(contacts) == ["daughter", "son", "centre", "doctor"]
    assert contacts["daughter"]["phone"] == "+8613800001234"
    assert contacts["centre"]["phone"] == "+8657188000000"
    assert contacts["son"]["channels"] == ["voice"] and contacts["son"]["relation"] == "儿子"
    assert contacts["daughter"]["last"] is None
    assert {o["code"] for o in card["outcomes"]} >= {"false_alarm", "fire_119"}
    kinds = [(e["kind"], e.get("rule") or e.get("event")) for e in card["events"]]
    assert kinds[:2] == [("alert", "call"), ("device", "press")], kinds  # newest first
    assert ("alert", "sos") in kinds and ("device", "sos") in kinds
    assert ("alert", "battery_low_reported") not in kinds  # older than 24 h
    assert [e["at"] for e in card["events"]] == sorted(
        (e["at"] for e in card["events"]), reverse=True
    )
    assert [x["action"] for x in card["history"]][:1] == ["raise"]
    # the operator tries the daughter, then the son answers: on the card and in the trail
    api.post(
        f"/api/alerts/{call}/contact", {"by": "op-1", "contact": "daughter", "result": "no_answer"}
    )
    api.post(f"/api/alerts/{call}/contact", {"by": "op-1", "contact": "son", "result": "reached",
             "note": "20 分钟到"})  # fmt: skip
    card = api.get(f"/api/console/calls/{call}").json()
    contacts = {c["id"]: c for c in card["contacts"]}
    assert contacts["daughter"]["last"]["result"] == "no_answer"
    assert (
        contacts["son"]["last"]["result"] == "reached" and contacts["son"]["last"]["by"] == "op-1"
    )
    tried = [x for x in card["history"] if x["action"] == "contact"]
    assert [(x["contact"], x["result"], x["contact_label"]) for x in tried] == [
        ("daughter", "no_answer", "女儿 李敏"),
        ("son", "reached", "儿子 李强"),
    ]
    # a nursing home's alert has no card here
    fall = press(h, "sunrise", "w-204-1", "fall")
    r = api.get(f"/api/console/calls/{fall}")
    assert r.status_code == 409 and r.json()["code"] == "not_home_call"
    assert api.get("/api/console/calls/999999").json()["code"] == "not_found"


def test_outcomes_and_contacts_are_audited_with_who_and_when(h: Harness):
    api = Api(h)
    call = press(h, "hb-wang", "hb-wang-call")
    h.clock.advance(5)
    at = h.clock.now_ms()
    r = api.post(
        f"/api/alerts/{call}/contact", {"by": "op-7", "contact": "daughter", "result": "no_answer"}
    )
    assert r.status_code == 200 and r.json()["state"] == "active_unack"  # still escalating
    r = api.post(
        f"/api/alerts/{call}/outcome", {"by": "op-7", "code": "family_on_way", "note": "儿子"}
    )
    assert r.status_code == 200
    assert r.json()["state"] == "active_ack" and r.json()["acknowledged_by"] == "op-7"
    rows = audit(h, call)
    assert [(a, by, note, t) for a, by, note, t, _ in rows[1:]] == [
        ("contact", "op-7", "daughter no_answer", at),
        ("ack", "op-7", None, at),
        ("outcome", "op-7", "family_on_way: 儿子", at),
    ]
    # the escalation stopped: time passes, no step is notified
    h.clock.advance(600)
    h.tick()
    assert [a[0] for a in audit(h, call, steps=True)][-1] == "outcome"
    # a closing outcome resolves it: off the queue
    r = api.post(f"/api/alerts/{call}/outcome", {"by": "op-8", "code": "solved_by_phone"})
    assert r.status_code == 200 and r.json()["state"] == "closed"
    assert [(a, by, note) for a, by, note, _, _ in audit(h, call)[-2:]] == [
        ("outcome", "op-8", "solved_by_phone"),
        ("resolve", "op-8", "solved_by_phone"),
    ]
    assert str(call) not in [c["id"] for c in api.queue()]
    r = api.post(f"/api/alerts/{call}/outcome", {"by": "op-8", "code": "false_alarm"})
    assert r.status_code == 409 and r.json()["code"] == "closed"


def test_a_false_alarm_at_once_is_answered_and_closed(h: Harness):
    api = Api(h)
    call = press(h, "hb-wang", "hb-wang-call")
    r = api.post(f"/api/alerts/{call}/outcome", {"by": "op-1", "code": "false_alarm"})
    assert r.status_code == 200 and r.json()["state"] == "closed"
    assert [a[0] for a in audit(h, call)] == ["raise", "ack", "outcome", "resolve"]


def test_bad_input_is_a_4xx_with_a_machine_code_and_changes_nothing(h: Harness):
    api = Api(h)
    call = press(h, "hb-wang", "hb-wang-call")
    fall = press(h, "sunrise", "w-204-1", "fall")
    cases = [
        (call, "outcome", {"by": "op-1", "code": "lunch"}, 422, "unknown_outcome"),
        (call, "contact", {"by": "op-1", "contact": "neighbour", "result": "reached"}, 422,
         "unknown_contact"),
        (call, "contact", {"by": "op-1", "contact": "daughter", "result": "busy"}, 422,
         "unknown_result"),
        (fall, "outcome", {"by": "op-1", "code": "false_alarm"}, 409, "not_home_call"),
        (fall, "contact", {"by": "op-1", "contact": "daughter", "result": "reached"}, 409,
         "not_home_call"),
        (999999, "outcome", {"by": "op-1", "code": "false_alarm"}, 404, "not_found"),
    ]  # fmt: skip
    for alert_id, action, body, status, code in cases:
        r = api.post(f"/api/alerts/{alert_id}/{action}", body, ALL)
        assert (r.status_code, r.json().get("code")) == (status, code), (action, body, r.text)
        assert r.json()["detail"], r.text  # and words for a person
    assert (
        "false_alarm"
        in api.post(f"/api/alerts/{call}/outcome", {"by": "x", "code": "?"}).json()["detail"]
    )
    # without `by` an API token is refused; a body without a code is a validation error
    assert api.post(f"/api/alerts/{call}/outcome", {"code": "false_alarm"}).status_code == 422
    assert api.post(f"/api/alerts/{call}/outcome", {"by": "op-1"}).status_code == 422
    assert [a[0] for a in audit(h, call)] == ["raise"]
    assert [a[0] for a in audit(h, fall)] == ["raise"]
