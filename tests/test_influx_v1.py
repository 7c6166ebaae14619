"""The /write + /query path and the drainer against real InfluxDB 1.x."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import CollectorRegistry

from devices.ports import FakeClock, Series
from ingest.drain import SpoolDrainer
from ingest.influx import InfluxV1
from ingest.spool import KIND_TELEMETRY, Spool
from ingest.sqlite import connect

pytestmark = pytest.mark.integration


def _spool(tmp_path, payloads: list[dict]):
    conn = connect(tmp_path / "s.db", synchronous="OFF")
    Spool(embedded=False).create_schema(conn)
    conn.executemany(
        "INSERT INTO points(ts_ms, site, device_id, device_type, kind, data) VALUES (?,?,?,?,?,?)",
        [
            (
                1_795_316_645_000 + i,
                "sunrise",
                "w-1",
                "wearable",
                KIND_TELEMETRY,
                orjson.dumps(p).decode(),
            )
            for i, p in enumerate(payloads)
        ],
    )
    return conn


def test_odd_field_names_are_stored_and_a_refused_point_costs_only_itself(tmp_path, influx):
    payloads = [
        {"heart_rate_bpm": 70 + i, "odd key,=x": i, "_field": 1, "w\\": 2} for i in range(9)
    ]
    payloads.insert(4, {"heart_rate_bpm": "not-a-number-type"})  # conflicts with the float field
    conn = _spool(tmp_path, payloads)
    client = InfluxV1(influx.url, "cw")
    client.create_database()
    metrics = CollectorRegistry()
    drainer = SpoolDrainer(
        tmp_path / "s.db", client, lambda s, d: ("R 1", "1"), FakeClock(), metrics
    )
    assert drainer.drain_once(conn) == 10
    assert conn.execute("SELECT count(*) FROM points").fetchone()[0] == 0
    rows = influx.query(
        "cw", 'SELECT "heart_rate_bpm", "odd key,=x", "x_field", "w/" FROM "wearable"'
    )
    assert [r[1] for r in rows] == [70 + i for i in range(9)]
    assert [r[2] for r in rows] == list(range(9))
    assert metrics.get_sample_value("carewatch_store_points_refused_total") == 1
    readings = client.readings(
        Series(
            "sunrise",
            "w-1",
            "wearable",
            "heart_rate_bpm",
            1_795_316_645_000,
            1_795_316_646_000,
            100,
        )
    )
    assert [p.value for p in readings] == [70 + i for i in range(9)]
    client.close()
