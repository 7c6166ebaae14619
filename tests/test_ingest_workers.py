"""Ingest workers (docs/scaling.md): telemetry read by worker processes sharing
`$share/<service id>/...`, the engine one writer in the parent."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import orjson
import pytest
from prometheus_client import CollectorRegistry

from alerting.engine import Engine
from alerting.rulecheck import load_rules
from alerting.ruleset import RuleSet
from devices.registry import Registry, load_site
from ingest.deadletter import DeadLetterLog
from ingest.spool import Spool
from tests.conftest import DEMO_SITE, ROOT, running, wait_until
from tests.engine_harness import Harness
from tests.servers import CarewatchProcess

T = "carewatch/v1/sunrise"
RULES = """\
overrides:
  - rule: heart_rate_high
    device: w-101-1
    set: {for_s: 0}
"""


# --- the engine's stale-reading rule --------------------------------------------------------


def _rules(tmp_path: Path, registry: Registry) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return load_rules(path, registry)


@pytest.fixture
def h(tmp_path, registry):
    """The engine as the service builds it with ingest workers on (skip_stale)."""
    harness = Harness(tmp_path / "cw.db", registry, rules=_rules(tmp_path, registry))
    harness.metrics = CollectorRegistry()  # type: ignore[attr-defined]
    harness.engine = Engine(
        harness.conn,
        registry,
        harness.rules,
        harness.clock,
        [Spool(embedded=True), DeadLetterLog()],
        harness.metrics,  # type: ignore[attr-defined]
        skip_stale=True,
    )
    harness.engine.setup()
    return harness


def _hr(h: Harness, ts: int, bpm: float, seq: int | None = None) -> None:
    body: dict[str, object] = {"ts": ts, "heart_rate_bpm": bpm}
    if seq is not None:
        body["seq"] = seq
    h.send("w-101-1", "telemetry", orjson.dumps(body))


def test_a_reading_older_than_one_evaluated_is_stored_but_not_evaluated(h):
    now = h.clock.now_ms()
    stale = h.metrics.get_sample_value
    _hr(h, now - 1000, 80)
    _hr(h, now - 2000, 140)  # came late through the other worker: stored, not evaluated
    assert h.open("heart_rate_high") == []
    assert stale("carewatch_stale_readings_total") == 1
    _hr(h, now, 140)
    assert h.one("heart_rate_high").value == "heart_rate_bpm=140"
    _hr(h, now - 500, 80)  # older than the breach: does not clear it
    assert h.one("heart_rate_high").cleared_at is None
    _hr(h, now + 10, 115, seq=7)  # ties on ts are ordered by the device's seq
    _hr(h, now + 10, 80, seq=6)
    assert h.one("heart_rate_high").cleared_at is None
    _hr(h, now + 20, 80)
    assert h.one("heart_rate_high").cleared_at is not None
    actions = [c.action for c in h.changes if c.alert.rule == "heart_rate_high"]
    assert [a for a in actions if a != "escalate"] == ["raise", "clear"]
    assert stale("carewatch_stale_readings_total") == 3
    # every reading is stored all the same (the spool: InfluxDB or the embedded store)
    assert h.conn.execute("SELECT count(*) FROM points WHERE kind = 0").fetchone()[0] == 7


def test_without_workers_every_reading_is_evaluated(tmp_path, registry):
    h = Harness(tmp_path / "cw.db", registry, rules=_rules(tmp_path, registry))
    now = h.clock.now_ms()
    _hr(h, now, 80)
    _hr(h, now - 1000, 140)
    assert h.one("heart_rate_high")


# --- the service with two workers, real mosquitto and InfluxDB --------------------------------


def _service(tmp_path: Path, broker, influx) -> CarewatchProcess:
    return CarewatchProcess(
        tmp_path / "cw",
        broker.url,
        DEMO_SITE,
        influx.url,
        rules=RULES,
        settings={"ingest_workers": "2"},
    )


def _metric(service: CarewatchProcess, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} (\S+)$", service.get("/metrics").text, re.M)
    return float(m.group(1)) if m else 0.0


def _wearables() -> list[str]:
    return [d.id for d in load_site(DEMO_SITE).devices() if d.type == "wearable"]


def _readings(n_per_device: int, base: int) -> list[tuple[str, bytes]]:
    """Readings of every wearable, interleaved; (device, i) -> a distinct ts and value."""
    msgs = []
    for i in range(n_per_device):
        for dev in _wearables():
            if dev == "w-101-1":
                continue  # the alert's device
            body = {"ts": base + i * 10, "heart_rate_bpm": 60 + i % 40, "battery_pct": 90}
            msgs.append((f"{T}/{dev}/telemetry", orjson.dumps(body)))
    return msgs


def _stored(influx, since: int) -> int:
    rows = influx.query(
        "carewatch",
        f'SELECT count("heart_rate_bpm") FROM "wearable" WHERE time >= {since}ms',
    )
    return int(rows[0][1]) if rows else 0


def _worker_pids(pid: int) -> list[int]:
    kids: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(x) for x in f.read().split()]
    out = []
    for k in kids:
        try:
            with open(f"/proc/{k}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    out.append(k)
        except OSError:
            pass
    return out


@pytest.mark.integration
def test_two_workers_commit_every_reading_once_and_keep_threshold_alerts_right(
    tmp_path, broker, influx, publisher
):
    service = _service(tmp_path, broker, influx)
    for svc in running(service):
        assert svc.proc is not None
        assert len(_worker_pids(svc.proc.pid)) == 2
        assert _metric(svc, "carewatch_ingest_workers_connected") == 2
        assert _metric(svc, "carewatch_broker_connected") == 1
        base = int(time.time() * 1000) - 120_000
        msgs = _readings(40, base)  # 73 wearables x 40 = 2,920 readings
        publisher.publish_all(msgs, rate=5000)
        assert publisher.wait_acked(len(msgs), 20)
        accepted = 'carewatch_messages_total{outcome="accepted",reason=""}'
        assert wait_until(lambda: _metric(svc, accepted) >= len(msgs), 20)
        assert wait_until(lambda: _stored(influx, base) == len(msgs), 20), _stored(influx, base)
        time.sleep(0.5)
        assert _metric(svc, accepted) == len(msgs)  # exactly once: no redelivery
        assert _metric(svc, "carewatch_stale_readings_total") == 0  # one reading per device ts

        now = int(time.time() * 1000)
        hr = f"{T}/w-101-1/telemetry"
        publisher.publish_all([(hr, orjson.dumps({"ts": now, "heart_rate_bpm": 135}))], rate=100)
        [a] = wait_until(lambda: svc.get("/api/alerts", state="open").json(), 5)
        assert (a["rule"], a["device_id"], a["state"]) == (
            "heart_rate_high",
            "w-101-1",
            "active_unack",
        )
        # the clear, then late copies of older breaches: the older ones are not evaluated
        later = [(hr, orjson.dumps({"ts": now + 2000, "heart_rate_bpm": 90}))]
        later += [
            (hr, orjson.dumps({"ts": now + 1000 - i, "heart_rate_bpm": 140})) for i in range(6)
        ]
        publisher.publish_all(later, rate=2000)
        assert wait_until(
            lambda: svc.get(f"/api/alerts/{a['id']}").json()["state"] == "cleared_unack", 5
        )
        assert wait_until(lambda: _metric(svc, accepted) == len(msgs) + 8, 5)
        # a breach may have come first through the other worker; the clear is the newest
        time.sleep(0.5)
        assert svc.get(f"/api/alerts/{a['id']}").json()["state"] == "cleared_unack"
        assert [x["id"] for x in svc.get("/api/alerts", state="open").json()] == [a["id"]]
        assert _metric(svc, "carewatch_stale_readings_total") >= 1


@pytest.mark.integration
def test_a_worker_killed_mid_stream_is_restarted_and_loses_nothing(
    tmp_path, broker, influx, publisher
):
    service = _service(tmp_path, broker, influx)
    for svc in running(service):
        assert svc.proc is not None
        [victim, _] = _worker_pids(svc.proc.pid)
        base = int(time.time() * 1000) - 120_000
        msgs = _readings(60, base)  # 4,380 readings over ~3 s
        sender = threading.Thread(target=publisher.publish_all, args=(msgs, 1500))
        sender.start()
        time.sleep(1.0)
        os.kill(victim, signal.SIGKILL)
        sender.join(30)
        assert publisher.wait_acked(len(msgs), 20)
        assert wait_until(lambda: _metric(svc, "carewatch_ingest_worker_restarts_total") == 1, 10)
        assert wait_until(lambda: svc.get("/readyz").status_code == 200, 15)
        assert wait_until(lambda: _stored(influx, base) == len(msgs), 30), _stored(influx, base)
        pids = _worker_pids(svc.proc.pid)
        assert len(pids) == 2 and victim not in pids
        assert "ingest worker died; restarting it" in svc.log()


@pytest.mark.integration
def test_a_retired_session_hands_over_what_it_holds_and_then_takes_nothing(broker, publisher):
    """Workers switched on: the single process's telemetry session is emptied, not left for
    the broker to fill for a week; the same for workers of an earlier, larger setting."""
    from devices.decode import Decoder
    from devices.model import Decoded
    from devices.ports import SystemClock
    from ingest.mqtt import MqttSource
    from ingest.sessions import shared

    group = "old-service"

    decoder = Decoder(load_site(DEMO_SITE))
    got: list[Decoded] = []

    def deliver(d: Decoded, ack: object) -> None:
        got.append(d)
        if callable(ack):
            ack()

    def source(retire: bool) -> MqttSource:
        return MqttSource(
            broker.url,
            "old-w3",
            decoder,
            deliver,
            SystemClock(),
            lane="telemetry",
            share=group,
            stale=shared(decoder.subscriptions("telemetry"), group) if retire else (),
            retire=retire,
        )

    def reading(i: int) -> tuple[str, bytes]:
        return (f"{T}/w-101-2/telemetry", orjson.dumps({"heart_rate_bpm": 60 + i}))

    old = source(retire=False)
    old.start()
    assert wait_until(lambda: old.connected, 5)
    time.sleep(0.2)  # subscribed
    old.stop()
    publisher.publish_all([reading(i) for i in range(5)], rate=500)  # queued for it
    assert publisher.wait_acked(5, 5)
    new = source(retire=True)
    new.start()
    try:
        assert wait_until(lambda: len(got) == 5, 5), got
        time.sleep(0.2)  # unsubscribed
        publisher.publish_all([reading(i) for i in range(5, 10)], rate=500)
        assert publisher.wait_acked(10, 5)
        time.sleep(0.5)
        assert len(got) == 5
    finally:
        new.stop()


@pytest.mark.integration
def test_a_device_under_another_sites_topic_is_refused_by_a_worker_as_wrong_site(
    tmp_path, broker, publisher
):
    """A worker decodes with the service's registry (every site of its folder): a device of
    riverside under sunrise's topic is dead-lettered as `wrong_site`, counted, raises nothing."""
    sites = tmp_path / "sites"
    sites.mkdir()
    for f in (ROOT / "examples" / "sites").iterdir():
        (sites / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    service = CarewatchProcess(
        tmp_path / "cw",
        broker.url,
        DEMO_SITE,
        settings={"sites_dir": str(sites), "ingest_workers": "2"},
    )
    for svc in running(service):
        now = int(time.time() * 1000)
        body = orjson.dumps({"ts": now, "heart_rate_bpm": 190, "battery_pct": 80})
        publisher.publish_all(
            [
                ("carewatch/v1/sunrise/rv-w-101-1/telemetry", body),  # riverside's wearable
                ("carewatch/v1/riverside/rv-w-101-1/telemetry", body),  # under its own site
            ],
            rate=100,
        )
        assert publisher.wait_acked(2, 5)
        wrong = 'carewatch_messages_total{outcome="rejected",reason="wrong_site"}'
        assert wait_until(lambda: _metric(svc, wrong) == 1, 10), svc.log()[-2000:]
        accepted = 'carewatch_messages_total{outcome="accepted",reason=""}'
        assert wait_until(lambda: _metric(svc, accepted) == 1, 5)
        [dead] = svc.get("/api/dead-letters").json()
        assert (dead["reason"], dead["site"], dead["device_id"]) == (
            "wrong_site",
            "sunrise",
            "rv-w-101-1",
        )
        alerts = svc.get("/api/alerts").json()
        assert all(a["site"] != "sunrise" for a in alerts), alerts  # the spoof raised nothing
        assert svc.get("/readyz").status_code == 200
