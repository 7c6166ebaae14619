"""A call is reset at the bedside (nurse-call practice, DIN VDE 0834): the rule's `reset:
bedside` makes a remote resolve a refusal, and a supervisor's override (with a reason) the
only remote reset, audited as `override_reset`. The engine on a fake clock, the rule as
data, a Zigbee SOS button (no cancel: resolved as before), and the API's roles over the
app in-process. The screen in Chromium: tests/test_screen_override.py."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from alerting.bedside import OVERRIDE_RESET, resets_at_bedside, sends
from alerting.defaults import default_rules
from alerting.items import Command, CommandResult
from alerting.model import AlertState
from alerting.rulebook import Rulebook
from alerting.rules import EventRule
from alerting.ruleset import Override, RuleSet
from alerting.views import AlertView
from dashboards.auth import StaffAuth, TokenBook, token_sha256
from devices.registry import Registry, load_sites
from tests.app_harness import harness_runtime, request
from tests.conftest import ROOT
from tests.engine_harness import Harness

REASON = "按钮卡住，已到房间确认 (button stuck, checked in the room)"


def press(h: Harness, device: str = "cb-101-1", n: int = 1) -> int:
    h.send(device, "event", f'{{"event":"press","id":"p{n}"}}')
    [a] = [a for a in h.open("call") if a.device_id == device]
    return a.id


def override(h: Harness, alert_id: int, by: str = "supervisor-zhao") -> CommandResult:
    r = h.engine.process([Command("resolve", alert_id, by, REASON, override=True)])
    h.changes += r.changes
    return r.results[0]


def audit(h: Harness, alert_id: int) -> list[tuple[str, str | None, str | None]]:
    return h.conn.execute(
        "SELECT action, by, note FROM audit WHERE alert_id = ? ORDER BY id", (alert_id,)
    ).fetchall()


# --------------------------------------------------------------------- the engine


def test_a_call_is_not_resolved_remotely_and_the_refusal_changes_nothing(h: Harness) -> None:
    alert_id = press(h)
    before = audit(h, alert_id)
    r = h.command("resolve", alert_id)
    assert (r.ok, r.error) == (False, "bedside_reset")
    assert h.one("call").state is AlertState.ACTIVE_UNACK and audit(h, alert_id) == before
    assert h.command("ack", alert_id).ok  # "on my way" stays anybody's
    h.send("cb-101-1", "event", '{"event":"cancel","id":"c1"}')  # the bedside closes it
    assert h.open("call") == [] and audit(h, alert_id)[-1][:2] == ("reset", "device:cb-101-1")


def test_a_supervisors_override_closes_the_call_as_its_own_audited_action(h: Harness) -> None:
    alert_id = press(h)
    r = override(h, alert_id)
    assert r.ok and r.alert is not None and r.alert.state is AlertState.CLOSED
    assert r.alert.closed_by == "supervisor-zhao" and r.alert.note == REASON
    assert audit(h, alert_id)[-1] == (OVERRIDE_RESET, "supervisor-zhao", REASON)
    [change] = h.actions(OVERRIDE_RESET)
    assert change.alert.state is AlertState.CLOSED and change.by == "supervisor-zhao"
    assert h.open("call") == []
    # what follows a close follows an override: the duty screen's escalation stops
    h.tick(3600)
    assert [c for c in h.changes if c.alert.id == alert_id][-1].action == OVERRIDE_RESET


def test_an_override_of_an_alert_not_reset_at_the_bedside_is_refused(h: Harness) -> None:
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    fall = h.one("fall")
    r = override(h, fall.id)
    assert (r.ok, r.error) == (False, "not_bedside")
    h.send("w-101-1", "event", '{"event":"sos","id":"s1"}')
    sos = h.one("sos")  # a wearable has no bedside cancel: resolved as before
    assert h.command("resolve", sos.id).ok and h.command("resolve", fall.id).ok


def test_an_override_after_the_close_is_refused_as_closed(h: Harness) -> None:
    alert_id = press(h)
    assert override(h, alert_id).ok
    assert override(h, alert_id).error == "closed"


# --------------------------------------------------------------------- the rule as data


def test_the_default_call_rule_says_bedside_and_the_others_do_not() -> None:
    rules = RuleSet.defaults()
    bedside = sorted(
        n for n, r in rules.rules.items() if isinstance(r, EventRule) and r.reset == "bedside"
    )
    assert bedside == ["call"]


def test_bedside_needs_a_reset_at_the_origin() -> None:
    with pytest.raises(ValidationError, match="reset: bedside needs"):
        EventRule(name="x", device_types=["wearable"], events=["sos"], severity="high",
                  reset="bedside")  # fmt: skip
    with pytest.raises(ValidationError, match="reset: bedside needs"):
        RuleSet.defaults().rules["call"].model_validate(
            {**RuleSet.defaults().rules["call"].model_dump(), "clear_resets": False}
        )


def test_a_site_may_set_a_device_or_room_back_to_remote(tmp_path: Any, registry: Registry) -> None:
    rules = RuleSet(
        default_rules(),
        [Override(rule="call", device="cb-102-1", set={"reset": "remote"})],
    )
    h = Harness(tmp_path / "cw.db", registry, rules=rules)
    own, other = press(h, "cb-102-1"), press(h, "cb-101-1", 2)
    view = AlertView(registry, rules)
    alerts = {a.id: a for a in h.open("call")}
    assert view(alerts[own])["reset"] == "remote" and view(alerts[other])["reset"] == "bedside"
    assert h.command("resolve", own).ok
    assert h.command("resolve", other).error == "bedside_reset"


def test_a_zigbee_sos_button_cannot_cancel_so_its_calls_resolve_as_before() -> None:
    reg = load_sites(ROOT / "examples" / "sites" / "2-riverside.yaml")
    zigbee, wired = reg.get("riverside", "rv-z-sos-204"), reg.get("riverside", "rv-cb-101-1")
    assert zigbee is not None and wired is not None
    assert sends(zigbee, "press") and not sends(zigbee, "cancel")
    assert sends(wired, "cancel")
    book = Rulebook.of_one(RuleSet.defaults())

    def call(dev_id: str) -> Any:
        return SimpleNamespace(rule="call", site="riverside", device_id=dev_id)

    assert not resets_at_bedside(book, call("rv-z-sos-204"), zigbee)
    assert resets_at_bedside(book, call("rv-cb-101-1"), wired)
    assert not resets_at_bedside(book, call("gone"), None)


# --------------------------------------------------------------------- the API's roles

ADMIN, DUTY = "cw_sunrise-admin-0123456789", "cw_sunrise-duty-0123456789"


class Api:
    """The app in-process over a harness: commands run in the harness's engine."""

    def __init__(self, h: Harness) -> None:
        from dashboards.app import create_app
        from dashboards.auth import Grant

        site = h.registry.site
        self.staff = StaffAuth.of_sites([site], b"k" * 32, h.clock)
        grants = [
            Grant(n, role, frozenset({site.id}), token_sha256(t))  # type: ignore[arg-type]
            for n, role, t in (("desk", "admin", ADMIN), ("ward", "duty", DUTY))
        ]
        runtime = harness_runtime(h, self.staff, TokenBook(grants, None), read_open=False)
        self.app = create_app(runtime)  # type: ignore[arg-type]

    def session(self, staff_id: str, pin: str) -> str:
        return self.staff.login(staff_id, pin).token

    def resolve(self, alert_id: int, token: str, **body: Any) -> httpx.Response:
        auth = {"Authorization": f"Bearer {token}"}
        return request(self.app, "POST", f"/api/alerts/{alert_id}/resolve", json=body, headers=auth)


def test_the_api_refuses_a_remote_resolve_and_lets_a_supervisor_override(h: Harness) -> None:
    api = Api(h)
    carer, boss = api.session("nurse-li", "1234"), api.session("supervisor-zhao", "3456")
    alert_id = press(h)
    r = api.resolve(alert_id, carer, note="done")
    assert r.status_code == 409 and "reset it at the bedside" in r.json()["detail"]
    assert api.resolve(alert_id, ADMIN, by="nurse-li").status_code == 409
    # the override: a supervisor only, with a reason of a few characters
    assert api.resolve(alert_id, carer, override=True, note=REASON).status_code == 403
    assert api.resolve(alert_id, boss, override=True).status_code == 422
    assert api.resolve(alert_id, boss, override=True, note=" ok ").status_code == 422
    for token, by in ((ADMIN, "nurse-li"), (DUTY, "supervisor-zhao"), (ADMIN, "nobody")):
        r = api.resolve(alert_id, token, override=True, note=REASON, by=by)
        assert r.status_code == 403, (by, r.text)
    assert h.one("call").state is AlertState.ACTIVE_UNACK  # every refusal changed nothing
    r = api.resolve(alert_id, boss, override=True, note=REASON, by="someone-else")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "closed" and body["closed_by"] == "supervisor-zhao"
    assert body["reset"] == "bedside" and body["note"] == REASON
    assert audit(h, alert_id)[-1] == (OVERRIDE_RESET, "supervisor-zhao", REASON)
    assert api.resolve(alert_id, boss, override=True, note=REASON).status_code == 409  # closed


def test_an_admin_token_naming_a_supervisor_overrides_and_a_fall_needs_none(h: Harness) -> None:
    api = Api(h)
    alert_id = press(h)
    r = api.resolve(alert_id, ADMIN, override=True, note=REASON, by="supervisor-zhao")
    assert r.status_code == 200 and r.json()["closed_by"] == "supervisor-zhao"
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    fall = h.one("fall")
    r = api.resolve(fall.id, ADMIN, override=True, note=REASON, by="supervisor-zhao")
    assert r.status_code == 409 and "not reset at the bedside" in r.json()["detail"]
    assert api.resolve(fall.id, api.session("nurse-li", "1234")).status_code == 200


def test_a_home_beds_call_is_resolved_remotely_by_the_call_centre(h) -> None:
    """At a home bed nobody of the watch is at the bedside: the call centre closes a call
    once someone answered, so `reset: bedside` holds in nursing homes only."""
    from alerting.rulebook import Rulebook

    book = Rulebook.of_one(h.rules)
    dev = h.registry.get("sunrise", "cb-101-1")
    h.send("cb-101-1", "event", '{"event":"press","id":"hb-1"}')
    alert = h.one("call")
    assert resets_at_bedside(book, alert, dev, home_bed=False)
    assert not resets_at_bedside(book, alert, dev, home_bed=True)
