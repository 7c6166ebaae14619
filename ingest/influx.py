"""InfluxDB over HTTP: line protocol to /write and InfluxQL over /query (InfluxDB 1.x, 2.x
through its v1 compatibility API, 3.x), or the v2 write API through influxdb-client."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol

import httpx

from devices.ports import Point, Series


class StoreError(Exception):
    """The store refused or could not be reached; `retry` tells whether trying again helps."""

    def __init__(self, message: str, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class LineWriter(Protocol):
    """Where the drainer sends line protocol: InfluxV1 or InfluxV2Writer."""

    def write(self, lines: list[str]) -> None:
        """Write the lines in one request; StoreError when not written (`retry` False: refused as
        invalid, and the drainer splits the batch)."""
        ...

    def close(self) -> None:
        """Close the HTTP client at shutdown."""
        ...


def influxd_config(data_dir: Path, port: int, rpc_port: int) -> str:
    """An influxd 1.x configuration for a private server on loopback, its data in
    `data_dir` (the tests' and the benchmarks' own InfluxDB, never the system service)."""
    return f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{data_dir}/meta"
[data]
  dir = "{data_dir}/data"
  wal-dir = "{data_dir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{port}"
  log-enabled = false
[logging]
  level = "error"
"""


_IDENT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _quote_ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not a safe identifier: {name!r}")
    return '"' + name + '"'


def _quote_str(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class InfluxV1:
    """/write + /query; a token (2.x/3.x) goes in `Authorization: Token ...`."""

    def __init__(self, url: str, db: str, token: str | None = None, timeout_s: float = 10) -> None:
        headers = {"Authorization": f"Token {token}"} if token else {}
        self._db = db
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    def close(self) -> None:
        """Close the HTTP client at shutdown."""
        self._http.close()

    def ping(self) -> bool:
        """True if InfluxDB answers /ping; never raises."""
        try:
            return self._http.get("/ping").status_code in (200, 204)
        except httpx.HTTPError:
            return False

    def create_database(self) -> None:
        """InfluxDB 1.x needs the database created; 2.x/3.x map it themselves (errors ignored)."""
        self._http.post("/query", data={"q": f"CREATE DATABASE {_quote_ident(self._db)}"})

    def set_retention(self, days: int) -> None:
        """Keep the database's points `days` days (0: for ever): the default retention policy
        (`autogen`, made with the database) gets that duration, so writes and queries need
        no policy name. InfluxDB 1.x; StoreError when refused (2.x: set the bucket's)."""
        duration = "INF" if days == 0 else f"{days}d"
        q = f"ALTER RETENTION POLICY autogen ON {_quote_ident(self._db)} DURATION {duration}"
        try:
            resp = self._http.post("/query", data={"q": q})
        except httpx.HTTPError as exc:
            raise StoreError(f"influx unreachable: {type(exc).__name__}", retry=True) from exc
        error = resp.json().get("results", [{}])[0].get("error") if resp.is_success else None
        if not resp.is_success or error:
            raise StoreError(f"retention refused: {error or resp.status_code}", retry=False)

    def retention_days(self) -> int | None:
        """The default retention policy's duration in whole days (0: for ever), None if
        there is none to read."""
        rows = self.query(f"SHOW RETENTION POLICIES ON {_quote_ident(self._db)}")
        for series in rows[0].get("series", []) if rows else []:
            cols = series["columns"]
            for v in series["values"]:
                row = dict(zip(cols, v, strict=False))
                if row.get("default"):
                    text = str(row["duration"])  # "8760h0m0s", or "0s" for ever
                    return int(text.split("h")[0]) // 24 if "h" in text else 0
        return None

    def write(self, lines: list[str]) -> None:
        """Write line protocol (ns precision). StoreError: `retry` False for 400 (some points
        refused, the rest written), True otherwise; a missing database is created for the retry."""
        try:
            resp = self._http.post(
                "/write",
                params={"db": self._db, "precision": "ns"},
                content="\n".join(lines).encode(),
            )
        except httpx.HTTPError as exc:
            raise StoreError(f"influx unreachable: {type(exc).__name__}", retry=True) from exc
        if resp.status_code in (200, 204):
            return
        if resp.status_code == 404 and "database not found" in resp.text:
            self.create_database()
        body = resp.text[:300]
        # 400 = some points refused (field type conflict...): the rest were written.
        raise StoreError(f"influx {resp.status_code}: {body}", retry=resp.status_code != 400)

    def query(self, influxql: str) -> list[dict[str, Any]]:
        """Run one InfluxQL query (times in epoch ms) and return its results; StoreError when
        unreachable (retry) or refused (no retry)."""
        try:
            resp = self._http.get("/query", params={"db": self._db, "q": influxql, "epoch": "ms"})
        except httpx.HTTPError as exc:
            raise StoreError(f"influx unreachable: {type(exc).__name__}", retry=True) from exc
        if resp.status_code != 200:
            raise StoreError(f"influx {resp.status_code}: {resp.text[:300]}", retry=False)
        results: list[dict[str, Any]] = resp.json().get("results", [])
        for r in results:
            if "error" in r:
                raise StoreError(f"influxql error: {r['error']}", retry=False)
        return results

    # ReadingsQuery
    def readings(self, q: Series) -> list[Point]:
        """ReadingsQuery over InfluxQL: the field's values of one device, oldest first, at most
        `q.limit`; StoreError when the store cannot answer."""
        influxql = (
            f"SELECT {_quote_ident(q.field)} FROM {_quote_ident(q.device_type)}"
            f' WHERE "site" = {_quote_str(q.site)} AND "device" = {_quote_str(q.device_id)}'
            f" AND time >= {int(q.since_ms)}ms AND time <= {int(q.until_ms)}ms"
            f" ORDER BY time ASC LIMIT {int(q.limit)}"
        )
        out: list[Point] = []
        for result in self.query(influxql):
            for series in result.get("series", []):
                for ts, value in series["values"]:
                    if value is not None:
                        out.append(Point(int(ts), value))
        return out

    def healthy(self) -> bool:
        """ReadingsQuery: True if InfluxDB answers /ping."""
        return self.ping()


class InfluxV2Writer:
    """Writes through influxdb-client's WriteApi (/api/v2/write: InfluxDB 2.x, 3.x, Cloud)."""

    def __init__(self, url: str, org: str, bucket: str, token: str | None) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS
        from influxdb_client.domain.write_precision import WritePrecision

        self._client = InfluxDBClient(url=url, token=token or "", org=org, timeout=10_000)
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self._bucket = bucket
        self._org = org
        self._precision = WritePrecision.NS

    def write(self, lines: list[str]) -> None:
        """Write line protocol through the v2 API. StoreError: `retry` False for 400 (refused as
        invalid), True otherwise."""
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            self._api.write(
                bucket=self._bucket,
                org=self._org,
                record=lines,
                write_precision=self._precision,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            status = exc.status or 0
            raise StoreError(
                f"influx v2 {status}: {str(exc.body)[:300]}", retry=status != 400
            ) from exc
        except (HTTPError, OSError) as exc:
            raise StoreError(f"influx v2 unreachable: {type(exc).__name__}", retry=True) from exc

    def close(self) -> None:
        """Close influxdb-client at shutdown."""
        self._client.close()  # type: ignore[no-untyped-call]


def set_bucket_retention(
    url: str,
    org: str,
    bucket: str,
    token: str | None,
    days: int,
    client: httpx.Client | None = None,
) -> None:
    """Keep a 2.x bucket's points `days` days (0: for ever) through /api/v2/buckets: find the
    bucket by name and org, set its expire rule. StoreError when it cannot."""
    http = client or httpx.Client(base_url=url.rstrip("/"), timeout=10)
    headers = {"Authorization": f"Token {token}"} if token else {}
    try:
        found = http.get("/api/v2/buckets", params={"name": bucket, "org": org}, headers=headers)
        if not found.is_success:
            raise StoreError(f"bucket lookup refused: {found.status_code}", retry=False)
        buckets = found.json().get("buckets", [])
        if not buckets:
            raise StoreError(f"no bucket {bucket!r} in org {org!r}", retry=False)
        rules = [] if days == 0 else [{"type": "expire", "everySeconds": days * 86_400}]
        done = http.patch(
            f"/api/v2/buckets/{buckets[0]['id']}", json={"retentionRules": rules}, headers=headers
        )
        if not done.is_success:
            raise StoreError(f"bucket retention refused: {done.status_code}", retry=False)
    except httpx.HTTPError as exc:
        raise StoreError(f"influx unreachable: {type(exc).__name__}", retry=True) from exc
    finally:
        if client is None:
            http.close()
