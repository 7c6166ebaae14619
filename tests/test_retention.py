"""Retention: each kind of data kept as long as its setting says, then deleted in chunks
through the engine's queue; open alerts and notifications still owed are never deleted;
InfluxDB keeps readings as long as the setting says."""

from __future__ import annotations

import os
import sqlite3
from concurrent.futures import Future
from pathlib import Path

import httpx
import pytest

from alerting.items import CommandResult
from carewatch import retention
from carewatch.retention import DAY_MS, RetentionJob
from carewatch.settings import Retention
from ingest.influx import InfluxV1, set_bucket_retention
from tests.engine_harness import Harness

NOW = 1_795_300_000_000


def direct(conn: sqlite3.Connection, calls: list[int]):  # type: ignore[no-untyped-def]
    """A Writer that applies each write at once, as the engine's next transaction would."""

    def write(apply) -> Future[CommandResult]:  # type: ignore[no-untyped-def]
        calls.append(1)
        conn.execute("BEGIN IMMEDIATE")
        apply(conn)
        conn.execute("COMMIT")
        fut: Future[CommandResult] = Future()
        fut.set_result(CommandResult(True, None, None))
        return fut

    return write


def seed(h: Harness) -> None:
    """An old closed alert, an old open one, an old and a new event key, old and new dead
    letters, an old delivered and an old pending notification."""
    c = h.conn
    c.execute("BEGIN")
    old, new = NOW - 4 * 365 * DAY_MS, NOW - DAY_MS
    for aid, state in ((1, "closed"), (2, "active_unack"), (3, "closed")):
        at = old if aid < 3 else new
        c.execute(
            "INSERT INTO alerts(id, site, device_id, rule, severity, state, latched, raised_at,"
            " last_at, occurrences, cleared_at) VALUES (?,?,?,?,?,?,0,?,?,1,?)",
            (aid, "sunrise", "w-101-1", f"r{aid}", "high", state, at, at, at if aid != 2 else None),
        )
        c.execute(
            "INSERT INTO audit(alert_id, at, action, to_state) VALUES (?,?,?,?)",
            (aid, at, "raise", "active_unack"),
        )
    for key, at in (("old", NOW - 30 * DAY_MS), ("new", NOW - 1000)):
        c.execute(
            "INSERT INTO event_log VALUES ('sunrise', 'w-101-1', ?, ?, 'fall', ?)", (key, at, at)
        )
    for at in (NOW - 60 * DAY_MS, NOW - 1000):
        c.execute(
            "INSERT INTO dead_letters(received_ms, reason, detail, topic, payload, payload_bytes)"
            " VALUES (?, 'bad_json', '', 't', '', 0)",
            (at,),
        )
    for i, state in enumerate(("delivered", "pending")):
        c.execute(
            "INSERT INTO outbox(key, target, alert_id, seq, action, msg_type, created_ms,"
            " first_ms, alert, next_ms, state, site) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (f"k{i}", "supervisor", 1, 1, "escalate", "Alert", NOW - 200 * DAY_MS,
             NOW - 200 * DAY_MS, b"{}", 0, state, "sunrise"),
        )  # fmt: skip
    c.execute("COMMIT")


def count(h: Harness, sql: str) -> int:
    return int(h.conn.execute(sql).fetchone()[0])


def test_each_kind_goes_after_its_time_and_what_is_still_owed_stays(
    h: Harness, tmp_path: Path
) -> None:
    seed(h)
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "watch-2023-01-01.json").write_text("{}")
    (reports / "watch-2026-11-30.json").write_text("{}")
    os.utime(reports / "watch-2023-01-01.json", (NOW / 1000 - 4 * 365 * 86400,) * 2)
    os.utime(reports / "watch-2026-11-30.json", (NOW / 1000 - 86400,) * 2)
    calls: list[int] = []
    job = RetentionJob(direct(h.conn, calls), Retention(), lambda: NOW, reports_dir=reports)
    done = job.run()
    assert done["alerts"] == 1 and done["events"] == 1 and done["dead_letters"] == 1
    assert done["outbox"] == 1 and done["report_files"] == 1
    ids = [r[0] for r in h.conn.execute("SELECT id FROM alerts ORDER BY id")]
    assert ids == [2, 3]  # the old open alert stays; the recent closed one too
    assert count(h, "SELECT count(*) FROM audit WHERE alert_id = 1") == 0
    assert count(h, "SELECT count(*) FROM event_log") == 1
    assert [r[0] for r in h.conn.execute("SELECT state FROM outbox")] == ["pending"]
    assert [p.name for p in reports.iterdir()] == ["watch-2026-11-30.json"]
    assert job.run() == {k: 0 for k in done}  # nothing left to do


def test_big_deletes_go_in_chunks_of_short_transactions(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "CHUNK", 10)
    h.conn.execute("BEGIN")
    for i in range(35):
        h.conn.execute(
            "INSERT INTO event_log VALUES ('sunrise', 'w-101-1', ?, 0, 'fall', 0)", (f"k{i}",)
        )
    h.conn.execute("COMMIT")
    calls: list[int] = []
    job = RetentionJob(direct(h.conn, calls), Retention(), lambda: NOW)
    assert job.run()["events"] == 35
    # 4 writes for the events (10+10+10+5), one for each other kind
    assert len(calls) == 4 + len(job.kinds()) - 1


def test_the_settings_refuse_too_short_a_time_for_alerts() -> None:
    with pytest.raises(ValueError, match="alerts_days"):
        Retention(alerts_days=5)


@pytest.mark.integration
def test_influxdb_1x_keeps_readings_as_long_as_the_setting_says(influx) -> None:
    db = InfluxV1(influx.url, "carewatch")
    db.create_database()
    db.set_retention(365)
    assert db.retention_days() == 365
    db.set_retention(0)
    assert db.retention_days() == 0  # for ever
    db.close()


def test_influxdb_2x_bucket_gets_an_expire_rule() -> None:
    seen: list[tuple[str, str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.content))
        if request.method == "GET":
            assert request.url.params["name"] == "carewatch"
            assert request.headers["authorization"] == "Token t0k"
            return httpx.Response(200, json={"buckets": [{"id": "b1", "name": "carewatch"}]})
        return httpx.Response(200, json={})

    client = httpx.Client(base_url="http://influx.test", transport=httpx.MockTransport(answer))
    set_bucket_retention("http://influx.test", "home", "carewatch", "t0k", 365, client)
    method, path, body = seen[1]
    assert (method, path) == ("PATCH", "/api/v2/buckets/b1")
    assert b'"everySeconds":31536000' in body  # type: ignore[operator]
