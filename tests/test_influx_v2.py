"""The v2 write path (influxdb-client WriteApi, /api/v2/write) against a real server that speaks it."""

from __future__ import annotations

import httpx
import orjson
import pytest

from ingest.influx import InfluxV2Writer
from ingest.lineproto import to_lines
from ingest.spool import KIND_TELEMETRY
from tests.conftest import running, wait_until
from tests.servers import VictoriaMetricsProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def vm(tmp_path):
    yield from running(VictoriaMetricsProcess(tmp_path / "vm"))


def test_spool_rows_written_through_the_v2_api_arrive(vm):
    rows = [
        (
            i,
            1_795_316_645_000 + i * 1000,
            "sunrise",
            "p-1f-riser",
            "water_pressure",
            KIND_TELEMETRY,
            orjson.dumps({"pressure_mpa": 0.3 + i / 100}).decode(),
        )
        for i in range(5)
    ]
    lines = to_lines(rows, lambda s, d: ("1-utility", "1"))
    writer = InfluxV2Writer(vm.url, org="carewatch", bucket="carewatch", token="t0ken")
    writer.write(lines)
    writer.close()

    def exported() -> list[dict]:
        r = httpx.post(
            f"{vm.url}/api/v1/export",
            data={"match[]": 'water_pressure_pressure_mpa{device="p-1f-riser"}'},
        )
        return [orjson.loads(line) for line in r.text.splitlines() if line]

    series = wait_until(exported, 10)
    [s] = series
    assert s["metric"]["floor"] == "1" and s["metric"]["room"] == "1-utility"
    assert s["values"] == pytest.approx([0.3 + i / 100 for i in range(5)])
    assert s["timestamps"] == [1_795_316_645_000 + i * 1000 for i in range(5)]
