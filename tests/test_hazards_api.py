"""The hazard register through the real service (`carewatch serve` on a real broker,
watching the example sites): a nurse opens a hazard already past its deadline, which
raises `hazard_overdue` at once; she fixes it, which clears the alert; she cannot close
her own fix (409 that says so); her supervisor can. A photo is stored once by checksum
and served with its type; a photo too large or not an image is refused. Another site's
staff neither read nor act on it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, wait_until

SITES = ROOT / "examples" / "sites"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _login(url: str, staff: str, pin: str) -> dict[str, str]:
    r = httpx.post(url + "/api/session", json={"staff_id": staff, "pin": pin}, timeout=10)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _overdue(service: Any) -> list[dict[str, Any]]:
    return [a for a in service.get("/api/alerts", state="all").json()
            if a["rule"] == "hazard_overdue"]  # fmt: skip


@pytest.mark.integration
def test_open_fix_close_by_another_with_the_overdue_alert_raised_and_cleared(
    tmp_path: Path, broker: Any
) -> None:
    from tests.servers import CarewatchProcess

    service = CarewatchProcess(tmp_path / "cw", broker.url, SITES)
    service.start()
    url = service.url
    try:
        li = _login(url, "nurse-li", "1234")
        boss = _login(url, "supervisor-zhao", "3456")
        chen = _login(url, "nurse-chen", "1234")  # riverside's
        body = {"site": "sunrise", "category": "fire_door", "description": "防火门被楔子顶开",
                "floor": "1", "room": "101",
                "deadline_ms": int(time.time() * 1000) - 60_000}  # a minute ago  # fmt: skip
        r = httpx.post(url + "/api/hazards", json=body, headers=li, timeout=10)
        assert r.status_code == 201, r.text
        hz = r.json()
        assert (hz["state"], hz["opened_by"], hz["source"], hz["overdue"]) == (
            "open", "nurse-li", "screen", True
        )  # fmt: skip
        hid = hz["id"]
        assert wait_until(lambda: _overdue(service), 5), service.log()
        [alert] = _overdue(service)
        assert alert["device_id"] == f"hazard:{hid}" and alert["state"] == "active_unack"
        # bad input: a clear 4xx each, nothing written
        bad = {**body, "category": "dragons"}
        r = httpx.post(url + "/api/hazards", json=bad, headers=li, timeout=10)
        assert r.status_code == 422 and "unknown category 'dragons'" in r.json()["detail"]
        r = httpx.post(url + "/api/hazards", json={**body, "site": "riverside"}, headers=li)
        assert r.status_code == 403
        # another site's nurse neither reads nor acts on it
        assert httpx.get(f"{url}/api/hazards/{hid}", headers=chen).status_code == 403
        assert (
            httpx.post(f"{url}/api/hazards/{hid}/start", json={}, headers=chen).status_code == 403
        )
        assert httpx.get(f"{url}/api/hazards", headers=chen).json() == []
        # a photo: stored once, served with its type; too large, or not an image: refused
        photo_url = f"{url}/api/hazards/{hid}/photos"
        r = httpx.post(photo_url, content=PNG, headers={**li, "Content-Type": "image/png"})
        assert r.status_code == 201, r.text
        sha = r.json()["sha256"]
        r = httpx.post(photo_url, content=PNG, headers={**li, "Content-Type": "image/png"})
        assert r.status_code == 200 and r.json()["sha256"] == sha
        r = httpx.post(photo_url, content=PNG, headers={**li, "Content-Type": "image/jpeg"})
        assert r.status_code == 415, r.text
        r = httpx.post(
            photo_url, content=b"GIF89a....", headers={**li, "Content-Type": "image/gif"}
        )
        assert r.status_code == 415
        big = b"\xff\xd8\xff\xe0" + b"\x00" * (5 * 1024 * 1024)
        r = httpx.post(photo_url, content=big, headers={**li, "Content-Type": "image/jpeg"})
        assert r.status_code == 413, r.text

        def chunked():  # no Content-Length: counted while streaming
            yield b"\xff\xd8\xff\xe0"
            for _ in range(6):
                yield b"\x00" * (1024 * 1024)

        r = httpx.post(photo_url, content=chunked(), headers={**li, "Content-Type": "image/jpeg"})
        assert r.status_code == 413, r.text
        r = httpx.get(f"{photo_url}/{sha}", headers=li)
        assert r.status_code == 200 and r.content == PNG
        assert r.headers["content-type"] == "image/png"
        assert r.headers["x-content-type-options"] == "nosniff"
        stored = list((tmp_path / "cw" / "hazard-photos").rglob("*"))
        assert [p.name for p in stored if p.is_file()] == [sha]
        # the steps: start, fix (clears the overdue alert), close by the fixer refused
        for step in ("start", "fix"):
            r = httpx.post(f"{url}/api/hazards/{hid}/{step}", json={}, headers=li, timeout=10)
            assert r.status_code == 200, r.text
        assert wait_until(lambda: _overdue(service)[0]["state"] == "cleared_unack", 5)
        r = httpx.post(f"{url}/api/hazards/{hid}/close", json={}, headers=li, timeout=10)
        assert r.status_code == 409
        assert "需另一人验收" in r.json()["detail"] and "second person" in r.json()["detail"]
        r = httpx.post(f"{url}/api/hazards/{hid}/start", json={}, headers=li, timeout=10)
        assert r.status_code == 409 and "fixed" in r.json()["detail"]
        r = httpx.post(f"{url}/api/hazards/{hid}/close", json={"note": "验收合格"}, headers=boss)
        assert r.status_code == 200, r.text
        done = r.json()
        assert (done["state"], done["fixed_by"], done["closed_by"]) == (
            "closed", "nurse-li", "supervisor-zhao"
        )  # fmt: skip
        full = service.get(f"/api/hazards/{hid}").json()
        assert [s["action"] for s in full["log"]] == ["open", "photo", "start", "fix", "close"]
        assert [p["sha256"] for p in full["photos"]] == [sha]
        # a token acts for a named person (`by`), and needs one
        r = service.post("/api/hazards", {**body, "deadline_ms": None})
        assert r.status_code == 422 and "`by`" in r.json()["detail"]
        r = service.post("/api/hazards", {**body, "deadline_ms": None, "by": "nurse-wang"})
        assert r.status_code == 201 and r.json()["opened_by"] == "nurse-wang"
        listed = service.get("/api/hazards", site="sunrise", state="closed").json()
        assert [h["id"] for h in listed] == [hid]
        assert "防火门被楔子顶开" not in service.log()  # descriptions stay out of the log
    finally:
        service.stop()
