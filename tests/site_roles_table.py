"""The table of tests/test_site_roles.py: every route of the app with the check of what
each caller gets (200 on its own sites, 403 on another's, 401 without a token)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx

from alerting.ruleset import RuleSet
from dashboards.app import create_app
from devices.ports import SystemClock
from devices.registry import load_sites
from tests.conftest import ROOT
from tests.site_roles_world import ADMINISTERS, DEVICE, READS, SYS, A, B, World

# ------------------------------------------------------------------ the table

Check = Callable[[World, str, str], None]  # world, route path, caller


def listing(rows: Callable[[Any], list[str]], alerts: bool = False, **params: Any) -> Check:
    """A read across sites: the caller's sites' rows (and the watch's own alerts for every
    caller); `?site=` narrows to one of them, 403 for another's."""

    def check(w: World, path: str, caller: str) -> None:
        def get(**more: Any) -> tuple[int, Any]:
            if path == "/api/alerts/stream":
                status, snap = w.snapshot(caller, **params, **more)
                return status, snap and snap["alerts"]
            r = w.get(path, caller, **params, **more)
            return r.status_code, r.json() if r.status_code == 200 else r.text

        status, body = get()
        if caller == "anonymous":
            assert status == 401, (path, status)
            return
        assert status == 200, (path, caller, status, body)
        seen = set(rows(body))
        assert seen - {SYS} == READS[caller], (path, caller, seen)
        if alerts:
            assert SYS in seen, (path, caller, "the watch's own alerts are every caller's")
        for site in (A, B):
            status, body = get(site=site)
            if site in READS[caller]:
                assert status == 200 and set(rows(body)) - {SYS} == {site}, (path, caller)
            else:
                assert status == 403, (path, caller, site, status)

    return check


def one_site(about: Callable[[httpx.Response], str] | None = None, **params: Any) -> Check:
    """A read about one site (the screen's meta, a report): `?site=`, or the caller's only
    site; 400 for a caller of several without it, 403 for a site not the caller's."""

    def check(w: World, path: str, caller: str) -> None:
        r = w.get(path, caller, **params)
        if caller == "anonymous":
            assert r.status_code == 401, path
            return
        mine = READS[caller]
        if len(mine) == 1:
            assert r.status_code == 200, (path, caller, r.text)
            assert about is None or about(r) == next(iter(mine))
        else:
            assert r.status_code == 400, (path, caller, r.status_code)
        for site in (A, B):
            r = w.get(path, caller, site=site, **params)
            if site in mine:
                assert r.status_code == 200, (path, caller, site, r.text)
                assert about is None or about(r) == site
            else:
                assert r.status_code == 403, (path, caller, site, r.status_code)

    return check


def by_id(path_of: Callable[[World, str], str], sites: tuple[str, ...], **params: Any) -> Check:
    """One alert or device by id: 200 on the caller's sites (the watch's own alerts:
    every caller's), 403 on another's, 401 without a token."""

    def check(w: World, _path: str, caller: str) -> None:
        for site in sites:
            r = w.get(path_of(w, site), caller, **params)
            want = 401 if caller == "anonymous" else 200 if site in READS[caller] | {SYS} else 403
            assert r.status_code == want, (path_of(w, site), caller, r.status_code, r.text)

    return check


def whole(w: World, path: str, caller: str) -> None:
    """The whole service's figures: for callers of every site."""
    r = w.get(path, caller)
    want = 401 if caller == "anonymous" else 200 if READS[caller] == {A, B} else 403
    assert r.status_code == want, (path, caller, r.status_code)


def open_to_all(concrete: str) -> Check:
    def check(w: World, _path: str, caller: str) -> None:
        r = w.get(concrete, caller)
        assert r.status_code == 200, (concrete, caller, r.status_code)

    return check


def any_reader(concrete: str) -> Check:
    """Nothing of a site's (a schema): every caller with a token, 401 without."""

    def check(w: World, _path: str, caller: str) -> None:
        r = w.get(concrete, caller)
        assert r.status_code == (401 if caller == "anonymous" else 200), (concrete, caller)

    return check


def login(w: World, _path: str, caller: str) -> None:
    """The PIN log-in needs no token; the session is for the staff member's own site."""
    for staff, site in (("nurse-li", A), ("nurse-chen", B)):
        r = w.request("POST", "/api/session", caller, {"staff_id": staff, "pin": "1234"})
        assert r.status_code == 200 and r.json()["site"] == site, (caller, r.text)


@dataclass(frozen=True)
class Write:
    """A write on an alert (duty on its site) or a device (admin on its site): denied
    callers get 403 (401 without a token) and change nothing; allowed callers get `first`
    the first time, then `again` (a closed alert, a device back from maintenance)."""

    action: str
    body: dict[str, Any]
    first: int = 200
    again: tuple[int, ...] = (200,)
    device: bool = False


def alert_rows(body: Any) -> list[str]:
    return [a["site"] for a in body]


def district(w: World, path: str, caller: str) -> None:
    """The district view (and its stream): a row for each of the caller's sites, no other;
    the watch's own alerts once, for every caller; 401 without a token."""
    if path.endswith("/stream"):
        status, body = w.snapshot(caller, path)
    else:
        r = w.get(path, caller)
        status, body = r.status_code, r.json() if r.status_code == 200 else r.text
    if caller == "anonymous":
        assert status == 401, (path, status)
        return
    assert status == 200, (path, caller, status, body)
    assert {row["id"] for row in body["sites"]} == READS[caller], (path, caller)
    assert body["system"], (path, caller, "the watch's own alerts are every caller's")


def home_beds(w: World, path: str, caller: str) -> None:
    """The district's home beds for a month: only home beds of the caller's sites (this
    world's two homes are none), their totals; 401 without a token."""
    r = w.get(path, caller)
    if caller == "anonymous":
        assert r.status_code == 401, (path, r.status_code)
        return
    assert r.status_code == 200, (path, caller, r.status_code, r.text)
    body = r.json()
    assert {row["id"] for row in body["sites"]} <= READS[caller], (path, caller)
    assert body["district"]["sites"] == len(body["sites"]), (path, caller)


def send_export(w: World, path: str, caller: str) -> None:
    """Queueing a site's export is an admin's act on that site: 202 for an admin of the
    site (or of every site), 403 for anyone else with a token, 401 without; a site that
    does not exist is 404."""
    for site in (A, B):
        r = w.request("POST", path, caller, None, site=site)
        want = (
            401 if caller == "anonymous" else 202 if site in ADMINISTERS.get(caller, set()) else 403
        )
        # a site without an export target says so (409/422) after the role check passes
        if want == 202:
            assert r.status_code in (202, 409, 422), (path, caller, site, r.status_code, r.text)
        else:
            assert r.status_code == want, (path, caller, site, r.status_code, r.text)
    if caller == "service":
        r = w.request("POST", path, caller, None, site="nowhere")
        assert r.status_code in (404, 422), r.text


def console_queue(w: World, path: str, caller: str) -> None:
    """The console's queue: home calls of the caller's sites only (these two homes are no
    home beds: empty for everyone), `?site=` one of them, 403 for another's."""
    r = w.get(path, caller)
    if caller == "anonymous":
        assert r.status_code == 401, (path, r.status_code)
        return
    assert r.status_code == 200 and r.json() == [], (path, caller, r.text)
    for site in (A, B):
        want = 200 if site in READS[caller] else 403
        assert w.get(path, caller, site=site).status_code == want, (path, caller, site)


def console_card(w: World, _path: str, caller: str) -> None:
    """A call's card: 403 for another site's alert (401 without a token) before anything
    else; an alert of a caller's own site that is no home call is 409 `not_home_call`."""
    for site in (A, B, SYS):
        r = w.get(f"/api/console/calls/{w.alert[site]}", caller)
        if caller == "anonymous":
            assert r.status_code == 401, (caller, r.status_code)
        elif site in READS[caller] | {SYS}:
            assert (r.status_code, r.json()["code"]) == (409, "not_home_call"), (caller, r.text)
        else:
            assert r.status_code == 403, (caller, site, r.status_code)


ROUTES: dict[tuple[str, str], Check | Write] = {
    ("GET", "/api/alerts"): listing(alert_rows, alerts=True, state="all"),
    ("GET", "/api/alerts/stream"): listing(alert_rows, alerts=True),
    ("GET", "/api/alerts/groups"): listing(
        lambda body: [a["site"] for g in body for a in g["alerts"]], alerts=True
    ),
    ("GET", "/api/alerts/{alert_id}"): by_id(lambda w, s: f"/api/alerts/{w.alert[s]}", (A, B, SYS)),
    ("POST", "/api/alerts/{alert_id}/ack"): Write("ack", {"by": "x"}),
    ("POST", "/api/alerts/{alert_id}/resolve"): Write("resolve", {"by": "x"}, again=(409,)),
    ("POST", "/api/alerts/{alert_id}/confirm"): Write("confirm", {"by": "x"}),
    ("POST", "/api/alerts/{alert_id}/dismiss"): Write(
        "dismiss", {"by": "x", "note": "steam"}, again=(409,)
    ),
    ("POST", "/api/alerts/{alert_id}/shelve"): Write("shelve", {"by": "x", "minutes": 5}),
    ("POST", "/api/alerts/{alert_id}/unshelve"): Write("unshelve", {"by": "x"}, again=(409,)),
    ("GET", "/api/devices"): listing(alert_rows),
    ("POST", "/api/devices/{device_id}/maintenance"): Write(
        "maintenance", {"by": "tech-wu", "minutes": 5}, device=True
    ),
    ("POST", "/api/devices/{device_id}/maintenance/end"): Write(
        "maintenance/end", {"by": "tech-wu"}, again=(409,), device=True
    ),
    ("GET", "/api/devices/unregistered"): listing(alert_rows),
    ("GET", "/api/equipment"): one_site(lambda r: str(r.json()["site"])),
    ("GET", "/api/zigbee"): listing(alert_rows),
    ("GET", "/api/devices/{device_id}/readings"): by_id(
        lambda _w, s: f"/api/devices/{DEVICE[s]}/readings", (A, B), field="heart_rate_bpm"
    ),
    ("GET", "/api/notifications"): listing(lambda body: [n["key"].split(":")[0] for n in body]),
    ("GET", "/api/dead-letters"): listing(alert_rows),
    ("GET", "/healthz"): open_to_all("/healthz"),
    ("GET", "/readyz"): open_to_all("/readyz"),
    ("GET", "/metrics"): whole,
    ("GET", "/api/sites"): listing(lambda body: [s["id"] for s in body]),
    ("GET", "/api/meta"): one_site(lambda r: str(r.json()["site"]["id"])),
    ("POST", "/api/session"): login,
    ("GET", "/"): open_to_all("/"),
    ("GET", "/api/reports/watch"): one_site(),
    ("GET", "/api/reports/watch.csv"): one_site(),
    ("GET", "/api/reports/watch.html"): one_site(),
    ("GET", "/api/reports/handover"): one_site(),
    ("GET", "/api/i18n"): open_to_all("/api/i18n"),
    ("GET", "/api/i18n/{lang}"): open_to_all("/api/i18n/en"),
    ("GET", "/api/openapi.json"): open_to_all("/api/openapi.json"),
    ("GET", "/api/docs"): open_to_all("/api/docs"),
    ("GET", "/docs/oauth2-redirect"): open_to_all("/docs/oauth2-redirect"),
    ("GET", "/redoc"): open_to_all("/redoc"),
    ("GET", "/static"): open_to_all("/static/js/main.js"),
    ("GET", "/api/district"): district,
    ("GET", "/api/district/stream"): district,
    ("GET", "/api/district/home-beds"): home_beds,
    ("GET", "/district"): open_to_all("/district"),
    ("GET", "/api/exports"): one_site(lambda r: str(r.json()["site"]["id"])),
    ("POST", "/api/exports"): send_export,
    ("GET", "/api/exports/schema"): any_reader("/api/exports/schema"),
    ("GET", "/api/console/queue"): console_queue,
    ("GET", "/api/console/calls/{alert_id}"): console_card,
    # no home calls in this world: allowed callers get 409 not_home_call, change nothing
    ("POST", "/api/alerts/{alert_id}/outcome"): Write(
        "outcome", {"by": "x", "code": "false_alarm"}, first=409, again=(409,)
    ),
    ("POST", "/api/alerts/{alert_id}/contact"): Write(
        "contact", {"by": "x", "contact": "daughter", "result": "reached"}, first=409, again=(409,)
    ),
    ("GET", "/console"): open_to_all("/console"),
}


def app_routes() -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, from the FastAPI app itself (its
    included routers' routes too)."""
    from fastapi.routing import iter_route_contexts

    runtime = SimpleNamespace(registry=load_sites(ROOT / "examples" / "sites"))
    runtime.rules = RuleSet.defaults()
    runtime.alerts = None  # the district summary keeps a reader; no route is called here
    runtime.clock = SystemClock()
    app = create_app(runtime)  # type: ignore[arg-type]
    out = set()
    for r in iter_route_contexts(app.routes):
        assert r.path is not None, r
        out |= {(m, r.path) for m in r.methods or {"GET"} if m != "HEAD"}  # a mount: files
    return out
