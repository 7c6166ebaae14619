"""`carewatch demo` as a new user runs it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ingest.broker import free_port

pytestmark = pytest.mark.integration


def demo(port: int, *args: str, env_extra: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """`carewatch demo` as a new user runs it: none of this shell's CAREWATCH_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREWATCH_")}
    env.update(env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-m", "carewatch", "demo", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        text=True,
    )


def test_demo_prints_the_url_and_raises_an_alert_within_a_minute(tmp_path):
    port = free_port()
    # a data dir in the environment is not the demo's: it starts on a fresh one
    proc = demo(port, env_extra={"CAREWATCH_DATA_DIR": str(tmp_path)})
    started = time.monotonic()
    try:
        url = data = None
        assert proc.stdout is not None
        for line in proc.stdout:
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            url = url or (m.group(1) if m else None)
            d = re.search(r"data: (\S+)", line)
            if d:
                data = Path(d.group(1))
                break
        assert url == f"http://127.0.0.1:{port}/"
        # a fresh data dir each run: yesterday's alerts do not greet today's carer
        assert data is not None and data.is_dir() and not data.is_relative_to(tmp_path)
        alerts: list = []
        while time.monotonic() - started < 60 and not alerts:
            alerts = httpx.get(url + "api/alerts").json()
            time.sleep(0.5)
        assert alerts, "no alert from the simulated home within a minute"
        assert {"fall"} <= {a["rule"] for a in alerts}
        page = httpx.get(url)
        assert page.status_code == 200 and "值班屏" in page.text
        devices = httpx.get(url + "api/devices").json()
        assert len(devices) == 227 and sum(1 for d in devices if d["online"]) > 150
        # the embedded store (no InfluxDB in the demo) answers the readings API
        hr = httpx.get(url + "api/devices/w-204-1/readings", params={"field": "heart_rate_bpm"})
        assert hr.json()["unit"] == "bpm"
        assert hr.json()["points"] and all(40 < p["value"] < 120 for p in hr.json()["points"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0
    assert not data.exists(), "the demo's own data dir is removed when it stops"


def test_demo_sites_3_shows_a_district_of_two_homes_and_a_home_bed():
    port = free_port()
    proc = demo(port, "--sites", "3")
    started = time.monotonic()
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "data:" in line:
                break
        text = "".join(lines)
        base = f"http://127.0.0.1:{port}/"
        assert f"{base}district" in text
        [console] = [w for w in text.split() if w.startswith(f"{base}console?token=")]
        for site in ("sunrise", "riverside", "hb-wang"):
            assert f"{base}?site={site}" in text
        assert f"{base}visit  (cw-zhao, PIN 2468)" in text  # the workers' phone page
        sites: set[str] = set()
        while time.monotonic() - started < 60 and len(sites) < 3:
            sites = {a["site"] for a in httpx.get(base + "api/alerts").json()}
            time.sleep(0.5)
        assert {"sunrise", "riverside", "hb-wang"} <= sites, sites
        bed = httpx.get(base + "api/meta", params={"site": "hb-wang"}).json()
        assert bed["site"]["kind"] == "home_bed"
        # the home bed's alerts reach the call-centre console's queue
        queue = httpx.get(base + "api/console/queue").json()
        assert queue and {c["site"] for c in queue} == {"hb-wang"}, queue
        # and the operator of the banner's console address can answer it
        token = console.split("token=", 1)[1]
        call = queue[0]["id"]
        done = httpx.post(
            f"{base}api/alerts/{call}/outcome",
            json={"code": "solved_by_phone", "by": "op-demo"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert done.status_code == 200, done.text
        assert httpx.get(f"{base}api/alerts/{call}").json()["state"] == "closed"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert proc.returncode == 0
