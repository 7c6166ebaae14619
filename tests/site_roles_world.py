"""The world the site-roles tests run in: two sites of examples/sites with a token each, a
district office and a call centre in an access file, and a real service on a real broker
holding an open alert of each site and the watch's own (the `world` fixture, loaded as a
plugin by conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from dashboards.auth import token_sha256
from devices.siteconfig import SYSTEM_SITE
from tests.conftest import DEMO_SITE, ROOT, wait_until
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
