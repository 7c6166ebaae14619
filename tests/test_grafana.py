"""Every InfluxQL query of the Grafana dashboard runs against InfluxDB holding simulated data.

The data goes the real way: simulated devices publish over MQTT, `carewatch serve` stores
it and raises alerts, the drainer writes both to InfluxDB. Then each panel target, each
template variable query and each annotation query of dashboards/grafana/carewatch.json
is run with Grafana's macros and variables filled in, as Grafana would send it.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import yaml

from carewatch.settings import Settings
from devices.registry import load_site
from simulators.models import DeviceModel
from tests.conftest import DEMO_SITE, ROOT, running, wait_until
from tests.servers import CarewatchProcess, InfluxProcess

GRAFANA = ROOT / "dashboards" / "grafana"
DASHBOARD = GRAFANA / "carewatch.json"
DS_UID = "carewatch-influx"
DB = Settings.model_fields["influx_db"].default
T = "carewatch/v1/sunrise"

# Panels whose query may legitimately return nothing for the simulated data (none today:
# an empty answer usually means a misspelt measurement, field or tag, which InfluxQL does
# not call an error).
MAY_BE_EMPTY: set[str] = set()


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))  # rows may hold collapsed panels


def _queries(dash: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, raw InfluxQL) for every query the dashboard makes."""
    out = []
    for p in _panels(dash["panels"]):
        for t in p.get("targets", []):
            out.append((f"panel {p['title']!r} {t['refId']}", t["query"]))
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"] if isinstance(v["query"], str) else v["query"]["query"]
            out.append((f"variable ${v['name']}", q))
    for a in dash["annotations"]["list"]:
        if a.get("datasource", {}).get("uid") == DS_UID:
            out.append((f"annotation {a['name']!r}", a["query"]))
    return out


def _fill(q: str, variables: dict[str, str], time_filter: str) -> str:
    """Grafana's interpolation of a raw InfluxQL query."""
    q = q.replace("$timeFilter", time_filter)
    q = q.replace("$__interval_ms", "60000").replace("$__interval", "1m")
    for name, value in variables.items():
        q = q.replace(f"${{{name}}}", value).replace(f"[[{name}]]", value)
        q = re.sub(rf"\${name}\b", value, q)
    return q


def _strict_query(url: str, q: str) -> list[dict[str, Any]]:
    """GET /query; any error InfluxDB reports (HTTP status, statement error) raises."""
    r = httpx.get(f"{url}/query", params={"db": DB, "q": q, "epoch": "ms"}, timeout=10)
    if r.status_code != 200:
        raise AssertionError(f"HTTP {r.status_code}: {r.text[:500]}")
    body = r.json()
    if "error" in body:
        raise AssertionError(body["error"])
    for result in body["results"]:
        if "error" in result:
            raise AssertionError(result["error"])
    return [s for result in body["results"] for s in result.get("series", [])]


def _rows(series: list[dict[str, Any]]) -> int:
    return sum(len(s.get("values", [])) for s in series)


# --- static checks: no servers ------------------------------------------------------------


def test_every_panel_uses_the_provisioned_datasource_with_raw_influxql():
    dash = _dashboard()
    assert 38 <= dash["schemaVersion"] <= 41
    defined = {v["name"] for v in dash["templating"]["list"]}
    assert {"site", "floor"} <= defined
    titles = []
    for p in _panels(dash["panels"]):
        if p["type"] == "row":
            continue
        titles.append(p["title"])
        assert re.fullmatch(r"[^()]*[\u4e00-\u9fff][^()]* \(.+\)", p["title"]), p["title"]
        assert p["datasource"] == {"type": "influxdb", "uid": DS_UID}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["rawQuery"] is True and t["datasource"]["uid"] == DS_UID, p["title"]
            assert "$timeFilter" in t["query"], p["title"]
            used = set(re.findall(r"\$(\w+)", t["query"])) - {"timeFilter", "__interval"}
            used = {u for u in used if not u.startswith("tag_")}
            assert used <= defined, (p["title"], used - defined)
            assert '"site" =~ /^$site$/' in t["query"], p["title"]
    assert len(titles) == len(set(titles)), "panel titles are unique"
    ids = [p["id"] for p in _panels(dash["panels"])]
    assert len(ids) == len(set(ids))


def test_provisioning_files_parse_and_point_at_the_dashboard_datasource():
    prov = GRAFANA / "provisioning"
    ds_file = yaml.safe_load((prov / "datasources" / "carewatch.yaml").read_text("utf-8"))
    [ds] = ds_file["datasources"]
    assert ds_file["apiVersion"] == 1
    assert (ds["uid"], ds["type"], ds["url"]) == (DS_UID, "influxdb", "${CAREWATCH_INFLUX_URL}")
    assert ds["jsonData"]["dbName"] == DB and ds["jsonData"]["version"] == "InfluxQL"
    dash_file = yaml.safe_load((prov / "dashboards" / "carewatch.yaml").read_text("utf-8"))
    [provider] = dash_file["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    dash = _dashboard()
    used = {p["datasource"]["uid"] for p in _panels(dash["panels"]) if "datasource" in p}
    used |= {t["datasource"]["uid"] for p in _panels(dash["panels"]) for t in p.get("targets", [])}
    used |= {v["datasource"]["uid"] for v in dash["templating"]["list"]}
    assert used == {ds["uid"]}


def test_grafana_macros_are_filled_like_grafana_does():
    q = 'SELECT mean("x") FROM "m" WHERE "site" =~ /^$site$/ AND $timeFilter GROUP BY time($__interval)'
    assert _fill(q, {"site": "sunrise"}, "time >= now() - 6h") == (
        'SELECT mean("x") FROM "m" WHERE "site" =~ /^sunrise$/ AND time >= now() - 6h'
        " GROUP BY time(1m)"
    )


# --- against InfluxDB holding simulated data ----------------------------------------------


def _simulated(now_ms: int) -> list[tuple[str, bytes]]:
    """Ten minutes of every demo device's telemetry (one reading a minute), then the
    happenings that raise alerts and change status."""
    rng = random.Random(4)
    msgs = []
    for dev in load_site(DEMO_SITE).devices():
        model = DeviceModel(dev, rng)
        for minute in range(10, 0, -1):
            body = model.telemetry(now_ms - minute * 60_000)
            msgs.append((f"{T}/{dev.id}/telemetry", orjson.dumps(body)))
    msgs += [
        (f"{T}/w-101-1/event", b'{"event":"fall","id":"g-fall","confidence":0.9}'),
        (f"{T}/cb-301-1/event", b'{"event":"press","id":"g-call","button":"bathroom_cord"}'),
        (f"{T}/e-2f-panel/telemetry", b'{"residual_current_ma":420}'),
        (f"{T}/w-102-1/telemetry", b'{"worn":false}'),
        (f"{T}/sd-102/status", b'{"online":true}'),
        (f"{T}/sd-101/status", b'{"online":false}'),
    ]
    return msgs


@pytest.fixture
def filled(tmp_path, broker, influx: InfluxProcess, publisher) -> Iterator[InfluxProcess]:
    service = CarewatchProcess(tmp_path / "cw", broker.url, DEMO_SITE, influx.url)
    for s in running(service):
        publisher.publish_all(_simulated(int(time.time() * 1000)), rate=2000)
        fall = wait_until(
            lambda: [a for a in s.get("/api/alerts").json() if a["rule"] == "fall"], 10
        )
        assert fall, s.log()[-2000:]
        assert s.post(f"/api/alerts/{fall[0]['id']}/ack", {"by": "nurse-li"}).status_code == 200

        def stored() -> bool:
            try:
                raised = _strict_query(
                    influx.url,
                    'SELECT count("alert_id") FROM "alert_change" WHERE "action" = \'raise\'',
                )
                acked = _strict_query(
                    influx.url,
                    'SELECT count("alert_id") FROM "alert_change" WHERE "action" = \'ack\'',
                )
                status = _strict_query(influx.url, 'SELECT count("online") FROM "device_status"')
            except (AssertionError, httpx.HTTPError):
                return False  # the database may not exist yet
            return (
                bool(raised and raised[0]["values"][0][1] >= 4)
                and bool(acked)
                and bool(status and status[0]["values"][0][1] >= 2)
            )

        # the drainer writes in spool order: with the ack stored, all before it is too
        assert wait_until(stored, 20, 0.2), s.log()[-2000:]
        yield influx


VARIANTS = {
    # Grafana's "All" (allValue .*) and a relative range: `time >= now() - 6h`
    "all": ({"site": ".*", "floor": ".*"}, "relative"),
    # one site and one floor chosen, an absolute range (Grafana sends epoch ms)
    "floor 1": ({"site": "sunrise", "floor": "1"}, "absolute"),
    # two floors chosen: Grafana writes multi-values into a regex as (a|b)
    "floors 1+3": ({"site": "(sunrise)", "floor": "(1|3)"}, "relative"),
}


@pytest.mark.integration
def test_every_dashboard_query_runs_and_the_panels_have_data(filled: InfluxProcess):
    # an InfluxQL error comes with HTTP 200 and an empty answer otherwise: it must fail here
    with pytest.raises(AssertionError, match="unsupported mean"):
        _strict_query(filled.url, 'SELECT mean("worn") FROM "wearable" WHERE time > now() - 1h')
    dash = _dashboard()
    queries = _queries(dash)
    assert len(queries) >= 20
    now = int(time.time() * 1000)
    failures: list[str] = []
    answers: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for variant, (variables, when) in VARIANTS.items():
        tf = (
            "time >= now() - 6h"
            if when == "relative"
            else f"time >= {now - 6 * 3_600_000}ms and time <= {now + 60_000}ms"
        )
        for what, raw in queries:
            q = _fill(raw, variables, tf)
            if re.search(r"\$(\w|\{)|\[\[", q):  # a macro or variable left over
                failures.append(f"{variant} / {what}: not filled in: {q}")
                continue
            try:
                series = _strict_query(filled.url, q)
            except AssertionError as exc:
                failures.append(f"{variant} / {what}: {exc}\n    {q}")
                continue
            answers[(variant, what)] = series
            if what.startswith("panel") and what not in MAY_BE_EMPTY and not _rows(series):
                failures.append(f"{variant} / {what}: no rows\n    {q}")
    assert not failures, "\n".join(failures)

    def values(variant: str, what: str, column: int = 1) -> list[object]:
        return [v[column] for s in answers[(variant, what)] for v in s["values"]]

    def tag_values(variant: str, name: str) -> set[object]:
        return set(values(variant, f"variable ${name}"))

    assert tag_values("all", "site") == {"sunrise"}
    assert tag_values("all", "floor") == {"1", "2", "3"}
    # the main panels, by title
    titles = {p["title"]: p for p in _panels(dash["panels"])}
    pressure = next(t for t in titles if "Fire-water pressure, MPa" in t)
    assert {s["tags"]["device"] for s in answers[("all", f"panel {pressure!r} A")]} == {
        "p-1f-riser",
        "p-2f-riser",
        "p-3f-riser",
    }
    assert {s["tags"]["device"] for s in answers[("floor 1", f"panel {pressure!r} A")]} == {
        "p-1f-riser"
    }
    assert {s["tags"]["device"] for s in answers[("floors 1+3", f"panel {pressure!r} A")]} == {
        "p-1f-riser",
        "p-3f-riser",
    }
    residual = next(t for t in titles if "Residual current" in t)
    assert max(values("all", f"panel {residual!r} A")) == 420
    heart = next(t for t in titles if "Heart rate" in t)
    assert len(answers[("all", f"panel {heart!r} A")]) == sum(
        1 for d in load_site(DEMO_SITE).devices() if d.type.name == "wearable"
    )
    by_rule = next(t for t in titles if "Alerts raised, by rule" in t)
    raised = {
        s["tags"]["rule"]: sum(v[1] for v in s["values"])
        for s in answers[("all", f"panel {by_rule!r} A")]
    }
    assert {"fall", "call", "residual_current_high", "device_offline"} <= set(raised)
    assert {s["tags"]["rule"] for s in answers[("floor 1", f"panel {by_rule!r} A")]} == {
        "fall",
        "device_offline",
    }
    latest = next(t for t in titles if "Latest alert transitions" in t)
    [table] = answers[("all", f"panel {latest!r} A")]
    actions = [dict(zip(table["columns"], v, strict=True))["action"] for v in table["values"]]
    assert "ack" in actions and "raise" in actions and "escalate" not in actions
    offline = next(t for t in titles if "Devices offline" in t)
    [table] = answers[("all", f"panel {offline!r} A")]
    assert [dict(zip(table["columns"], v, strict=True))["device"] for v in table["values"]] == [
        "sd-101"
    ]
