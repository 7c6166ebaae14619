"""The rounds routes by caller and site on the real service of two homes (the world of
tests/test_site_roles.py: sunrise with its night route, riverside without routes): reads
show the caller's sites only (403 another's, 401 without a token), a check-in needs the
duty role at the check-in's site (a read-only district token and another home's token
are 403), and a staff session checks in at her own home only."""

from __future__ import annotations

import httpx
import pytest

from tests.site_roles_world import CALLERS, READS, A, B, World

TAGS = [f"nfc:04a2b3c4d5e60{i}" for i in range(1, 9)]
DUTY_AT_A = {A, "service"}  # who may check in at sunrise (admin of it; the service's token)

pytestmark = pytest.mark.integration


def test_rounds_reads_and_check_ins_keep_to_the_callers_sites(world: World) -> None:
    for caller in CALLERS:
        for site in (A, B):
            want = 401 if caller == "anonymous" else 200 if site in READS[caller] else 403
            r = world.get("/api/rounds", caller, site=site)
            assert r.status_code == want, (caller, site, r.text)
            if want == 200:
                body = r.json()
                assert body["site"] == site
                assert [x["id"] for x in body["routes"]] == (["night"] if site == A else [])
            r = world.get("/api/rounds/checkins", caller, site=site)
            assert r.status_code == want, (caller, site, r.text)
            r = world.get("/api/rounds/tag", caller, site=site, tag=TAGS[0])
            tag_want = 404 if want == 200 and site == B else want  # riverside has no tags
            assert r.status_code == tag_want, (caller, site, r.text)
    for i, caller in enumerate(CALLERS):
        body = {"site": A, "tag": TAGS[i], "by": "nurse-li"}
        r = world.request("POST", "/api/rounds/checkins", caller, body)
        want = 401 if caller == "anonymous" else 201 if caller in DUTY_AT_A else 403
        assert r.status_code == want, (caller, r.text)
    listed = world.get("/api/rounds/checkins", A, site=A).json()
    assert {c["by"] for c in listed} == {"nurse-li"} and len(listed) == len(DUTY_AT_A)
    assert world.get("/api/rounds/checkins", B, site=B).json() == []
    # a staff session of riverside checks in at riverside only
    r = httpx.post(
        world.service.url + "/api/session", json={"staff_id": "nurse-chen", "pin": "1234"}
    )
    assert r.status_code == 200, r.text
    auth = {"Authorization": f"Bearer {r.json()['token']}"}
    r = httpx.post(
        world.service.url + "/api/rounds/checkins",
        json={"site": A, "tag": TAGS[7]},
        headers=auth,
    )
    assert r.status_code == 403 and "not one of this caller's sites" in r.json()["detail"]
