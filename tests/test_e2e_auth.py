"""API roles against the real service: viewer, duty, admin tokens from the site file
(stored hashed), staff sessions, 401 without credentials, 403 below the role, and reads
behind a token unless the home asks for them open (tests/test_site_roles.py: per site)."""

from __future__ import annotations

import json

import httpx
import pytest
import yaml

from dashboards.auth import token_sha256
from tests.conftest import DEMO_SITE, wait_until
from tests.servers import CarewatchProcess

T = "carewatch/v1/sunrise"
TOKENS = {"viewer": "cw_viewer-token-0123456789", "duty": "cw_duty-token-0123456789"}


@pytest.fixture
def site(tmp_path):
    data = yaml.safe_load(DEMO_SITE.read_text(encoding="utf-8"))
    data["api_tokens"] = [
        {"name": f"{role}-desk", "role": role, "token_sha256": token_sha256(tok)}
        for role, tok in TOKENS.items()
    ]
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def call(service, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, service.url + path, json=body, headers=headers, timeout=10)


def test_roles_decide_who_may_do_what_and_reads_can_require_a_token(
    tmp_path, broker, publisher, site
):
    service = CarewatchProcess(tmp_path / "cw", broker.url, site, settings={"read_access": "token"})
    service.start()
    try:
        assert call(service, "GET", "/api/alerts").status_code == 401
        assert call(service, "GET", "/api/alerts", "cw_nobody-issued-this").status_code == 401
        assert call(service, "GET", "/api/meta").status_code == 401
        assert call(service, "GET", "/healthz").status_code == 200  # probes stay open
        assert call(service, "GET", "/").status_code == 200  # the page itself
        publisher.publish_all([(f"{T}/w-101-1/event", b'{"event":"fall","id":"f-1"}')], 10)
        alerts = wait_until(lambda: call(service, "GET", "/api/alerts", TOKENS["viewer"]).json(), 5)
        [a] = alerts
        ack = f"/api/alerts/{a['id']}/ack"
        assert call(service, "POST", ack, body={"by": "x"}).status_code == 401
        r = call(service, "POST", ack, TOKENS["viewer"], {"by": "nurse-li"})
        assert r.status_code == 403 and "duty" in r.json()["detail"]
        r = call(service, "POST", ack, TOKENS["duty"], {"by": "nurse-li"})
        assert r.status_code == 200 and r.json()["acknowledged_by"] == "nurse-li"
        maint = "/api/devices/sd-101/maintenance"
        assert call(service, "POST", maint, TOKENS["duty"], {"by": "x"}).status_code == 403
        assert call(service, "POST", maint, service.token, {"by": "tech-wu"}).status_code == 200
        # a staff session is duty: it acknowledges, it does not switch devices off
        session = httpx.post(
            service.url + "/api/session", json={"staff_id": "nurse-li", "pin": "1234"}, timeout=10
        ).json()["token"]
        assert call(service, "GET", "/api/alerts", session).status_code == 200
        assert call(service, "POST", maint, session, {"by": "x"}).status_code == 403
        # the stream takes the token in its URL (EventSource cannot send headers)
        with httpx.stream(
            "GET", f"{service.url}/api/alerts/stream?access_token={TOKENS['viewer']}", timeout=10
        ) as resp:
            assert resp.status_code == 200
        for secret in (*TOKENS.values(), service.token):
            assert secret not in service.log()
    finally:
        service.stop()


def test_reads_need_a_token_by_default_and_open_reads_are_an_explicit_warned_choice(
    tmp_path, broker, site
):
    service = CarewatchProcess(tmp_path / "cw", broker.url, site)
    service.start()
    try:
        assert call(service, "GET", "/api/alerts").status_code == 401
        assert call(service, "GET", "/api/alerts", TOKENS["viewer"]).status_code == 200
        assert "reads are open" not in service.log()
    finally:
        service.stop()
    # the duty-room LAN may keep reads open: asked for, and warned about at start
    service = CarewatchProcess(
        tmp_path / "open", broker.url, site, settings={"read_access": "open"}
    )
    service.start()
    try:
        assert call(service, "GET", "/api/alerts").status_code == 200
        assert call(service, "POST", "/api/alerts/1/ack", body={"by": "x"}).status_code == 401
        [warning] = [
            json.loads(line) for line in service.log().splitlines() if "reads are open" in line
        ]
        assert warning["level"] == "warning" and warning["read_access"] == "open"
    finally:
        service.stop()
