"""The site export through the real service (`python -m carewatch serve`) and a real
webhook receiver on loopback, nothing mocked: the known week in the data directory, the
site's `export: {notify: regulator}`. The receiver is down at first, then back: every
export arrives once, signed, valid against the schema, with no resident's name; asking
again for the same day is the same key; a new revision is a new one; `carewatch export`
reads and queues through the same outbox."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from datetime import date, datetime, timedelta

import jsonschema
import pytest

from alerting.notify.receiver import Receiver
from alerting.reports.export import SCHEMA_FILE
from alerting.reports.export_csv import COLUMNS
from ingest.broker import free_port
from tests.conftest import DEMO_SITE, wait_until
from tests.report_week import TZ, simulate_week
from tests.servers import CarewatchProcess

pytestmark = pytest.mark.integration
SECRET = "e2e-regulator-secret-0123456789"
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads(SCHEMA_FILE.read_text(encoding="utf-8")),
    format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
)
# the known week moved to end yesterday morning (as in test_report_api.py): the real
# service runs on the real clock
OFFSET_DAYS = (datetime.now(TZ).date() - date(2026, 3, 2)).days - 8
FRIDAY = (date(2026, 3, 6) + timedelta(days=OFFSET_DAYS)).isoformat()
THURSDAY = (date(2026, 3, 5) + timedelta(days=OFFSET_DAYS)).isoformat()


def exports(service: CarewatchProcess, **params: object) -> list[dict]:
    rows = service.get("/api/notifications", target="regulator", limit=100, **params).json()
    return sorted((r for r in rows if r["kind"] == "export"), key=lambda r: r["id"])


def post(service: CarewatchProcess, token: str | None = "", **params: object):
    import httpx

    headers = {} if token is None else {"Authorization": f"Bearer {token or service.token}"}
    return httpx.post(service.url + "/api/exports", params=params, headers=headers, timeout=30)


def cli(service: CarewatchProcess, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "carewatch", "export", "--config", str(service.config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_exports_reach_the_regulator_once_each_signed_and_valid(
    tmp_path, monkeypatch, broker, registry
):
    monkeypatch.setenv("CW_REG_SECRET", SECRET)
    port = free_port()
    receiver = Receiver("127.0.0.1", port, SECRET.encode())  # down at first
    site = tmp_path / "site.yaml"
    site.write_text(
        DEMO_SITE.read_text(encoding="utf-8") + "\nexport: {notify: regulator}\n", encoding="utf-8"
    )
    rules = (
        "notify:\n  targets:\n    regulator: {url: "
        f'"http://127.0.0.1:{port}/exports", format: json, secret_env: CW_REG_SECRET}}\n'
    )
    service = CarewatchProcess(tmp_path / "cw", broker.url, site, rules=rules)
    simulate_week(service.dir / "carewatch.db", registry, OFFSET_DAYS).conn.close()
    service.start()
    try:
        # the catch-up at start queued the last watch day; the receiver is down: retried
        def retried() -> list[dict] | None:
            rows = exports(service)
            return rows if rows and rows[0]["attempts"] >= 2 else None

        rows = wait_until(retried, 15)
        assert rows, exports(service)
        [catch_up] = rows
        assert catch_up["state"] == "pending" and catch_up["last_error"]
        install = catch_up["key"].split(":")[1]

        # on demand: Friday of the week; asked twice, one key
        assert post(service, token=None, site="sunrise", date=FRIDAY).status_code == 401
        r = post(service, site="sunrise", date=FRIDAY)
        assert r.status_code == 202, r.text
        friday = r.json()
        assert friday["key"] == f"sunrise:{install}:export:{FRIDAY}:regulator:1"
        assert (friday["queued"], friday["state"], friday["target"]) == (
            True,
            "pending",
            "regulator",
        )
        again = post(service, site="sunrise", date=FRIDAY).json()
        assert (again["key"], again["queued"]) == (friday["key"], False)
        rev2 = post(service, date=FRIDAY, revision=2).json()  # the only site: no ?site= needed
        assert rev2["key"] == f"sunrise:{install}:export:{FRIDAY}:regulator:2" and rev2["queued"]
        assert post(service, site="sunrise", date="2026-13-01").status_code == 422
        assert post(service, site="nowhere", date=FRIDAY).status_code == 404

        # read without sending: JSON and CSV, and the schema
        doc = service.get("/api/exports", site="sunrise", date=FRIDAY).json()
        assert not list(VALIDATOR.iter_errors(doc))
        assert doc["answers"]["emergency"]["median_ack_s"] == 40.0 and doc["fire"]["forwarded"] == 1
        csv_r = service.get("/api/exports", site="sunrise", date=FRIDAY, format="csv")
        assert csv_r.headers["content-type"].startswith("text/csv")
        table = list(csv.reader(io.StringIO(csv_r.content.decode("utf-8-sig"))))
        assert tuple(table[0]) == COLUMNS and len(table) > 50
        schema = service.get("/api/exports/schema").json()
        assert schema["properties"]["version"]["const"] == "1"

        # the CLI reads the same and queues through the same outbox
        out = cli(service, "--site", "sunrise", "--date", FRIDAY)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["answers"] == doc["answers"]
        sent = cli(service, "--site", "sunrise", "--date", THURSDAY, "--send")
        assert sent.returncode == 0, sent.stderr
        thursday_key = f"sunrise:{install}:export:{THURSDAY}:regulator:1"
        assert sent.stdout.startswith(f"queued: {thursday_key} -> regulator")
        repeat = cli(service, "--date", THURSDAY, "--send")
        assert repeat.returncode == 0 and repeat.stdout.startswith("already queued")
        keys = {catch_up["key"], friday["key"], rev2["key"], thursday_key}
        assert {r["key"] for r in exports(service)} == keys

        # back: each export arrives once
        receiver.start()
        assert receiver.wait_for(len(keys), 30), receiver.keys()
        assert wait_until(lambda: all(r["state"] == "delivered" for r in exports(service)), 5)
        time.sleep(1.0)  # a second delivery of any key would show up now
        assert sorted(receiver.keys()) == sorted(keys) and receiver.duplicates == 0
        assert receiver.rejected == 0 and receiver.invalid == 0
        names = [r.display_name for r in registry.site.residents]
        for d in receiver.received:
            assert d["verified"] is True and d["content_type"] == "application/json"
            assert not list(VALIDATOR.iter_errors(d["parsed"]))
            text = d["body"].decode()
            assert not [n for n in names if n in text]
        by_key = {d["key"]: d["parsed"] for d in receiver.received}
        assert by_key[friday["key"]]["answers"] == doc["answers"]
        assert by_key[rev2["key"]]["revision"] == 2
        assert by_key[thursday_key]["fire"]["equipment_below_limit"] == 1

        # asked again after delivery: the same key, nothing sent again
        late = post(service, site="sunrise", date=FRIDAY).json()
        assert (late["queued"], late["state"]) == (False, "delivered")
        time.sleep(1.5)
        assert len(receiver.received) == len(keys)
    finally:
        service.stop()
        receiver.stop()
