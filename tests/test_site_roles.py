"""Roles per site against a real service watching two sites (examples/sites: sunrise and
riverside), with a token of each site, a district office and a call centre (the access
file) and the service token. Every route of the app has a case in ROUTES (walked from the
FastAPI app itself: a new route without one fails `test_every_route_has_a_case`); each
case asserts what every caller gets: 200 on its own sites, 403 on another's, 401 without
a token. Also: the access file's and the site files' checks (file:line), staff sessions
at their own site, and the duty screens of two sites in Chromium."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
import yaml

from alerting.ruleset import RuleSet
from carewatch.cli import main as cli
from dashboards.access import load_access
from dashboards.app import create_app
from dashboards.auth import token_sha256
from devices.ports import SystemClock
from devices.registry import SYSTEM_SITE, load_sites
from devices.yamlconf import ConfigError
from tests.conftest import DEMO_SITE, ROOT, BrowserPage, wait_until
from tests.servers import CarewatchProcess

A, B, SYS = "sunrise", "riverside", SYSTEM_SITE
TOKENS = {
    A: "cw_sunrise-desk-0123456789",
    B: "cw_riverside-desk-0123456789",
    "district": "cw_district-office-0123456789",
    "operator": "cw_call-centre-0123456789",
}
CALLERS = ["anonymous", A, B, "district", "operator", "service"]
# what each caller reads, answers (duty: alerts) and administers (maintenance)
READS: dict[str, set[str]] = {
    "anonymous": set(),
    A: {A},
    B: {B},
    "district": {A, B},
    "operator": {B},
    "service": {A, B},
}
ANSWERS = {A: {A, SYS}, B: {B, SYS}, "operator": {B, SYS}, "service": {A, B, SYS}}
ADMINISTERS = {A: {A}, B: {B}, "service": {A, B}}
DEVICE = {A: "w-101-1", B: "rv-w-101-1"}
SUPERVISOR = {A: "supervisor-zhao", B: "supervisor-he"}
ACCESS = {
    "users": [
        {"name": "district-office", "role": "district", "token_sha256": "<district>"},
        {"name": "call-centre", "role": "operator", "sites": [B], "token_sha256": "<operator>"},
    ]
}
RULES = "overrides:\n  - rule: broker_disconnected\n    set: {for_s: 1}\n"


def site_dir(folder: Path) -> Path:
    """examples/sites' two homes, each with an admin token of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, sid in (("1-sunrise.yaml", A), ("2-riverside.yaml", B)):
        data = yaml.safe_load((ROOT / "examples" / "sites" / name).read_text(encoding="utf-8"))
        data["api_tokens"] = [
            {"name": f"{sid}-desk", "role": "admin", "token_sha256": token_sha256(TOKENS[sid])}
        ]
        if sid == B:  # riverside's supervisor (PIN 1234, as nurse-chen's)
            data["staff"].append({**data["staff"][0], "id": SUPERVISOR[B], "role": "supervisor"})
        (folder / name).write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return folder


def access_file(path: Path) -> Path:
    text = yaml.safe_dump(ACCESS)
    for who in ("district", "operator"):
        text = text.replace(f"<{who}>", token_sha256(TOKENS[who]))
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------- the checks


def write_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "access.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_access(path, load_sites(site_dir(tmp_path / "sites")))
    return e.value.problems


def test_a_user_granted_an_unknown_site_names_file_and_line(tmp_path: Path) -> None:
    h = "0" * 64
    [p] = write_problems(
        tmp_path, f"users:\n  - name: cc\n    role: operator\n    sites: [{B}, nowhere]\n"
        f"    token_sha256: '{h}'\n",
    )  # fmt: skip
    assert p.startswith(f"{tmp_path / 'access.yaml'}:4: users.0.sites.1:")
    assert "unknown site 'nowhere'" in p and "sunrise, riverside" in p


def test_the_access_file_is_checked_like_the_site_files(tmp_path: Path) -> None:
    h, site_token = "1" * 64, token_sha256(TOKENS[A])
    problems = write_problems(
        tmp_path,
        f"users:\n  - {{name: ops, role: operator, token_sha256: '{h}'}}\n"
        f"  - {{name: dist, role: district, token_sha256: '{h}'}}\n"
        f"  - {{name: dist, role: district, token_sha256: '{site_token}'}}\n"
        f"  - {{name: x, role: viewer, sites: [], token_sha256: '{'2' * 64}', extra: 1}}\n",
    )
    text = "\n".join(problems)
    assert ":2: users.0: " in text and "operator works on the sites listed" in text
    assert ":5: users.3.sites:" in text and ":5: users.3.extra:" in text  # unknown key
    # the pydantic pass stops at those; fixed, the file's other problems show
    problems = write_problems(
        tmp_path,
        f"users:\n  - {{name: dist, role: district, token_sha256: '{h}'}}\n"
        f"  - {{name: dist, role: district, token_sha256: '{h}'}}\n"
        f"  - {{name: other, role: district, token_sha256: '{site_token}'}}\n",
    )
    assert any(":3: users.1.name:" in p and "twice" in p for p in problems)
    assert any(":3: users.1.token_sha256:" in p for p in problems)
    assert any(":4: users.2.token_sha256:" in p and "site sunrise" in p for p in problems)


def test_check_config_and_the_service_refuse_an_access_file_with_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from carewatch.runtime import build_runtime
    from carewatch.settings import load_settings

    sites = site_dir(tmp_path / "sites")
    bad = tmp_path / "access.yaml"
    bad.write_text(
        f"users:\n  - {{name: cc, role: duty, sites: [elsewhere], token_sha256: '{'3' * 64}'}}\n"
    )
    config = tmp_path / "carewatch.yaml"
    config.write_text(
        f"sites_dir: {sites}\naccess_file: access.yaml\ndata_dir: {tmp_path / 'data'}\n"
    )
    assert cli(["check-config", str(config)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2: users.0.sites.0: unknown site 'elsewhere'" in err
    assert cli(["check-config", str(bad), "--site", str(sites)]) == 1
    with pytest.raises(ConfigError, match="unknown site 'elsewhere'"):
        build_runtime(load_settings(config))  # the service does not start
    access_file(bad)
    assert cli(["check-config", str(bad), "--site", str(sites)]) == 0
    assert "ok, 2 users" in capsys.readouterr().out


def test_staff_ids_and_site_tokens_are_unique_across_the_service(tmp_path: Path) -> None:
    sites = site_dir(tmp_path / "sites")
    rv = sites / "2-riverside.yaml"
    data = yaml.safe_load(rv.read_text(encoding="utf-8"))
    data["staff"][0]["id"] = "nurse-li"  # sunrise's
    data["api_tokens"][0]["token_sha256"] = token_sha256(TOKENS[A])
    rv.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_sites(sites)
    staff, token = e.value.problems
    assert staff.startswith(f"{rv}:") and "staff.0.id: also in site sunrise" in staff
    assert "staff ids are unique across the service" in staff
    assert "api_tokens.0.token_sha256: also in site sunrise" in token


# ------------------------------------------------------------------ the service


@dataclass
class World:
    """The running service and what it holds: an open alert of each site and the watch's
    own (broker_disconnected), dead letters and unregistered devices under both sites."""

    service: CarewatchProcess
    broker_port: int
    alert: dict[str, str] = field(default_factory=dict)  # site -> an open alert's id

    def token(self, caller: str) -> str | None:
        if caller == "anonymous":
            return None
        return self.service.token if caller == "service" else TOKENS[caller]

    def request(
        self, method: str, path: str, caller: str, body: Any = None, **params: Any
    ) -> httpx.Response:
        token = self.token(caller)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(
            method, self.service.url + path, params=params, json=body, headers=headers, timeout=10
        )

    def get(self, path: str, caller: str, **params: Any) -> httpx.Response:
        return self.request("GET", path, caller, **params)

    def snapshot(
        self, caller: str, path: str = "/api/alerts/stream", **params: Any
    ) -> tuple[int, Any]:
        """The stream's status and its first event's data (the snapshot) when 200."""
        token = self.token(caller)
        q = {**params, **({"access_token": token} if token else {})}
        url = self.service.url + path
        with httpx.stream("GET", url, params=q, timeout=10) as resp:
            if resp.status_code != 200:
                return resp.status_code, None
            for line in resp.iter_lines():
                if line.startswith("data:"):
                    return 200, json.loads(line.removeprefix("data:"))
        raise AssertionError("the stream ended before its snapshot")


def publish(broker_port: int, msgs: list[tuple[str, bytes]]) -> None:
    from simulators.publisher import Publisher

    pub = Publisher("127.0.0.1", broker_port)
    try:
        pub.publish_all(msgs, rate=200)
        assert pub.wait_acked(len(msgs), 10)
    finally:
        pub.close()


def event(site: str, device: str, body: dict[str, Any]) -> tuple[str, bytes]:
    kind = "event" if "event" in body else "telemetry"
    return f"carewatch/v1/{site}/{device}/{kind}", orjson.dumps(body)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from ingest.broker import MosquittoProcess

    root = tmp_path_factory.mktemp("roles")
    broker = MosquittoProcess(root / "mosquitto")
    broker.start()
    sites = site_dir(root / "sites")
    service = CarewatchProcess(
        root / "cw",
        broker.url,
        DEMO_SITE,
        rules=RULES,
        settings={"sites_dir": str(sites), "access_file": str(access_file(root / "access.yaml"))},
    )
    service.start()
    w = World(service, broker.port)
    try:
        # the watch's own alert: the broker away for a moment
        broker.stop()
        lost = wait_until(
            lambda: [a for a in service.get("/api/alerts").json() if a["site"] == SYS], 10
        )
        assert lost, service.log()[-2000:]
        broker.start()
        assert wait_until(lambda: service.get("/readyz").status_code == 200, 30)
        publish(
            broker.port,
            [
                event(A, "w-101-1", {"event": "fall", "id": "a-1"}),
                event(A, "w-101-1", {"heart_rate_bpm": 71}),
                event(B, "rv-cb-101-1", {"event": "press", "id": "b-1"}),
                event(B, "rv-w-101-1", {"heart_rate_bpm": 72}),
                event(A, "ghost-a", {"battery_pct": 50}),
                event(B, "ghost-b", {"battery_pct": 50}),
            ],
        )

        def both() -> bool:
            alerts = service.get("/api/alerts").json()
            w.alert = {a["site"]: a["id"] for a in alerts}
            notified = {n["key"].split(":")[0] for n in service.get("/api/notifications").json()}
            dead = {d["site"] for d in service.get("/api/dead-letters").json()}
            return {A, B, SYS} <= set(w.alert) and {A, B} <= notified and {A, B} <= dead

        assert wait_until(both, 15), service.log()[-2000:]
        yield w
    finally:
        service.stop()
        broker.stop()


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
    ("GET", "/district"): open_to_all("/district"),
    ("GET", "/api/exports"): one_site(lambda r: str(r.json()["site"]["id"])),
    ("POST", "/api/exports"): send_export,
    ("GET", "/api/exports/schema"): any_reader("/api/exports/schema"),
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


def test_every_route_has_a_case() -> None:
    routes = app_routes()
    assert routes - ROUTES.keys() == set(), "a route without a case in ROUTES"
    assert ROUTES.keys() - routes == set(), "a case of a route the app no longer has"


@pytest.mark.integration
def test_every_read_shows_the_callers_sites_only(world: World) -> None:
    for (method, path), check in ROUTES.items():
        if isinstance(check, Write):
            continue
        for caller in CALLERS:
            check(world, path, caller)


@pytest.mark.integration
def test_a_staff_session_works_at_her_own_site_only(world: World) -> None:
    w = world
    for staff, site, other in (("nurse-li", A, B), ("nurse-chen", B, A)):
        r = httpx.post(
            w.service.url + "/api/session", json={"staff_id": staff, "pin": "1234"}, timeout=10
        )
        auth = {"Authorization": f"Bearer {r.json()['token']}"}

        def get(path: str, auth: dict[str, str] = auth, **params: Any) -> httpx.Response:
            return httpx.get(w.service.url + path, params=params, headers=auth, timeout=10)

        meta = get("/api/meta").json()
        assert meta["site"]["id"] == site and [s["id"] for s in meta["sites"]] == [site]
        assert staff in {s["id"] for s in meta["staff"]}
        assert {"nurse-li", "nurse-chen"} - {s["id"] for s in meta["staff"]}  # not the other's
        assert {a["site"] for a in get("/api/alerts").json()} == {site, SYS}
        assert get("/api/alerts", site=other).status_code == 403
        ack = f"{w.service.url}/api/alerts/{{}}/ack"
        r = httpx.post(ack.format(w.alert[other]), json={}, headers=auth, timeout=10)
        assert r.status_code == 403
        r = httpx.post(ack.format(w.alert[site]), json={}, headers=auth, timeout=10)
        assert r.status_code == 200 and r.json()["acknowledged_by"] == staff


# ------------------------------------------------------------------ the screens


def screen(open_page: Callable[..., BrowserPage], w: World, query: str) -> BrowserPage:
    bp = open_page()
    bp.page.goto(f"{w.service.url}/?{query}")
    return bp


def shown_sites(bp: BrowserPage) -> set[str]:
    bp.page.wait_for_selector("#conn-banner", state="hidden", timeout=10_000)
    bp.page.wait_for_function("window.carewatch.alerts().length >= 2", timeout=5000)
    return set(bp.page.evaluate("window.carewatch.alerts().map((a) => a.site)"))


@pytest.mark.integration
def test_each_sites_screen_shows_its_own_alerts_and_the_watchs(world: World, open_page) -> None:
    w, district = world, TOKENS["district"]
    pages = {site: screen(open_page, w, f"site={site}&token={district}") for site in (A, B)}
    for site, bp in pages.items():
        assert shown_sites(bp) == {site, SYS}
        assert f"site={site}" in bp.page.url and "token=" not in bp.page.url  # kept; not left
        name = load_sites(ROOT / "examples" / "sites").sites[site].name
        bp.page.wait_for_function(f"document.getElementById('site-name').textContent === {name!r}")
    # a caller of several sites and no ?site=: the screen offers them, nothing else loads
    bp = screen(open_page, w, f"token={district}")
    choices = bp.page.locator("#site-chooser a[data-site]")
    choices.first.wait_for(timeout=5000)
    assert [choices.nth(i).get_attribute("data-site") for i in range(choices.count())] == [A, B]
    assert bp.page.evaluate("window.carewatch.alerts().length") == 0
    bp.page.click(f'#site-chooser a[data-site="{B}"]')
    bp.page.wait_for_url(f"**site={B}**", timeout=5000)
    assert shown_sites(bp) == {B, SYS}
    # a caller of one site: that site, no choice
    one = screen(open_page, w, f"token={TOKENS[A]}")
    assert shown_sites(one) == {A, SYS} and one.page.locator("#site-chooser").count() == 0
    time.sleep(0.5)  # the handover panel's and the devices' requests too
    for p in (*pages.values(), bp, one):
        assert p.errors == []


# ------------------------------------------------------------------ the writes


def fresh_alerts(w: World) -> dict[str, dict[str, str]]:
    """An open alert of each site for every action (a fall to acknowledge, fires to
    confirm and dismiss, trouble to shelve and to unshelve, shelved first), and the
    watch's own."""
    subjects = {
        "ack": ({"event": "fall", "id": "w-ack"}, "w-102-1", "rv-w-102-1", "fall"),
        # a call is reset at the bedside, not resolved: a fall (overrides: below)
        "resolve": ({"event": "fall", "id": "w-res"}, "w-103-1", "rv-w-103-1", "fall"),
        "confirm": ({"event": "smoke_alarm", "id": "w-con"}, "sd-101", "rv-sd-101", "smoke"),
        "dismiss": ({"event": "smoke_alarm", "id": "w-dis"}, "sd-202", "rv-sd-202", "smoke"),
        "shelve": ({"event": "tamper", "id": "w-she"}, "sd-103", "rv-sd-103", "tamper"),
        "unshelve": ({"event": "tamper", "id": "w-uns"}, "sd-104", "rv-sd-104", "tamper"),
    }
    publish(
        w.broker_port,
        [event(s, dev, body) for body, a, b, _ in subjects.values() for s, dev in ((A, a), (B, b))],
    )
    found: dict[str, dict[str, str]] = {}

    def raised() -> bool:
        alerts = w.service.get("/api/alerts").json()
        for action, (_, a, b, _) in subjects.items():
            found[action] = {
                x["site"]: x["id"] for x in alerts if x["device_id"] in (a, b) and x["site"] != SYS
            }
            found[action][SYS] = w.alert[SYS]
        return all(len(v) == 3 for v in found.values())

    assert wait_until(raised, 10), found
    for site in (A, B):
        r = w.service.post(f"/api/alerts/{found['unshelve'][site]}/shelve", {"by": "x"})
        assert r.status_code == 200, r.text
    return found


@pytest.mark.integration
def test_writes_need_the_role_on_the_alerts_or_devices_site(world: World) -> None:
    w = world
    subjects = fresh_alerts(w)
    for (method, path), case in ROUTES.items():
        if not isinstance(case, Write):
            continue
        targets = DEVICE if case.device else subjects[case.action]
        allowed = ADMINISTERS if case.device else ANSWERS
        for site, subject in targets.items():
            url = path.replace("{alert_id}", subject).replace("{device_id}", subject)
            denied = [c for c in CALLERS if site not in allowed.get(c, set())]
            for caller in denied:  # first: they must change nothing
                r = w.request(method, url, caller, case.body)
                want = 401 if caller == "anonymous" else 403
                assert r.status_code == want, (url, caller, r.status_code, r.text)
            done = False
            for caller in (c for c in CALLERS if c not in denied):
                r = w.request(method, url, caller, case.body)
                want = (case.again if done else (case.first,)) if site != SYS else (200, 409)
                assert r.status_code in want, (url, caller, r.status_code, r.text)
                done = True


@pytest.mark.integration
def test_a_calls_override_needs_a_supervisor_of_the_alerts_site(world: World) -> None:
    """A call is reset at the bedside: resolving it is 409 for everyone allowed to answer;
    the override is 403 unless a supervisor's session, or an admin token of the site whose
    `by` names a supervisor of that site."""
    w = world
    publish(w.broker_port, [event(A, "cb-103-1", {"event": "press", "id": "o-a"}),
                            event(B, "rv-cb-103-1", {"event": "press", "id": "o-b"})])  # fmt: skip
    devices = {A: "cb-103-1", B: "rv-cb-103-1"}
    calls: dict[str, str] = {}

    def raised() -> bool:
        calls.update({a["site"]: a["id"] for a in w.service.get("/api/alerts").json()
                      if a["device_id"] in devices.values()})  # fmt: skip
        return len(calls) == 2

    assert wait_until(raised, 10), calls
    carer = {A: "nurse-li", B: "nurse-chen"}
    for site, call in calls.items():
        url, other = f"/api/alerts/{call}/resolve", B if site == A else A
        why = {"override": True, "note": "按钮卡住 stuck button"}
        for caller in CALLERS:
            r = w.request("POST", url, caller, {"by": SUPERVISOR[site]})
            want = 401 if caller == "anonymous" else 409 if site in ANSWERS.get(caller, ()) else 403
            assert r.status_code == want, (site, caller, r.status_code, r.text)
            if caller not in (site, "service"):  # those two may: below
                r = w.request("POST", url, caller, {**why, "by": SUPERVISOR[site]})
                want = 401 if caller == "anonymous" else 403
                assert r.status_code == want, (site, caller, r.status_code, r.text)
        for caller, by in ((site, carer[site]), ("service", SUPERVISOR[other])):
            r = w.request("POST", url, caller, {**why, "by": by})
            assert r.status_code == 403, (site, caller, by, r.text)
        if site == A:  # the site's admin token naming its supervisor
            r = w.request("POST", url, A, {**why, "by": SUPERVISOR[A]})
        else:  # the supervisor's own session
            login = {"staff_id": SUPERVISOR[B], "pin": "1234"}
            session = httpx.post(w.service.url + "/api/session", json=login, timeout=10).json()
            assert session["role"] == "supervisor"
            r = httpx.post(w.service.url + url, json=why, timeout=10,
                           headers={"Authorization": f"Bearer {session['token']}"})  # fmt: skip
        assert r.status_code == 200 and r.json()["state"] == "closed", (site, r.text)
        history = w.get(f"/api/alerts/{call}", "service").json()["history"]
        assert (history[-1]["action"], history[-1]["by"]) == ("override_reset", SUPERVISOR[site])
