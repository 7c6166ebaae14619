"""From the press of a home's one-touch terminal to the call on the call-centre console,
with background telemetry beside it.

    python -m bench.console [--beds 100] [--calls 60] [--load 1000] [--runs 3]

A real stack (mosquitto, InfluxDB 1.x, `carewatch serve` over a district of generated home
beds, bench/district.py) and the console page (`/console`) open in Debian's Chromium
(playwright). Background telemetry goes to every device of every home bed at `--load`
msg/s (bench/loadgen.py --sites). Each call is a press of another home bed's terminal; the
page stamps (Date.now(), the clock the harness's time.time() reads) when the alert stream's
event arrives (`sse`) and when the call's row appears in the waiting queue (`console`: what
the operator sees). The call is then closed (outcome `false_alarm` through the API), so the
queue stays as short as a night's. Writes bench/results/console-<time>.json; quote the
medians of the runs' p50 and p99 with their ranges.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from playwright.sync_api import sync_playwright

from bench.district import write_district
from bench.loads import Load
from bench.servers import TOKEN
from bench.throughput.stack import Stack, fresh
from simulators.publisher import Publisher

RESULTS = Path(__file__).parent / "results"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

# before the page's own scripts: stamp every message of every EventSource, and the first
# time each call's row shows in the waiting queue
STAMPS = """
window.__sse = [];
const Real = window.EventSource;
window.EventSource = function (url, opts) {
  const es = new Real(url, opts);
  es.addEventListener('change', () => window.__sse.push(Date.now()));
  return es;
};
window.EventSource.prototype = Real.prototype;
window.__rows = {};
new MutationObserver(() => {
  for (const b of document.querySelectorAll('#queue-waiting button.call[data-alert]')) {
    if (!(b.dataset.alert in window.__rows)) window.__rows[b.dataset.alert] = Date.now();
  }
}).observe(document, {subtree: true, childList: true, attributes: true});
"""


def percentile(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def press(site: str, n: int) -> tuple[str, bytes]:
    """A press of the home bed's one-touch terminal, as the device publishes it."""
    body = {"event": "press", "id": f"bench-press-{n}"}
    return f"carewatch/v1/{site}/{site}-call/event", orjson.dumps(body)


def run(beds: int, calls: int, load: int, tmp: Path) -> dict[str, Any]:
    folder = tmp / "district"
    counts = write_district(folder, 0, 0, beds)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with Stack(tmp, 0, sites=folder) as stack, sync_playwright() as pw:
        svc = stack.service
        svc.start()
        svc.wait_ready()
        api = httpx.Client(base_url=svc.url, headers=auth, timeout=10)
        background = (
            Load(stack.broker.port, load, counts["devices"], duration_s=3600, sites=folder)
            if load
            else None
        )
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pub = Publisher("127.0.0.1", stack.broker.port, "bench-console")
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1600, "height": 1000})
            page.add_init_script(STAMPS)
            page.goto(f"{svc.url}/console?token={TOKEN}")
            page.wait_for_function("window.carewatchConsole?.conn() === 'open'", timeout=30000)
            time.sleep(3)  # the background load runs steadily
            to_console: list[float] = []
            to_sse: list[float] = []
            for n in range(calls):
                site = f"hb-{1 + n % beds:03d}"
                sse_before = page.evaluate("window.__sse.length")
                t0 = time.time() * 1000
                pub.publish_all([press(site, n)], rate=1000)
                handle = page.wait_for_function(
                    "(n) => { const r = Object.keys(window.__rows);"
                    " return r.length > n ? r : null; }",
                    arg=len(to_console),
                    timeout=10000,
                )
                rows: list[str] = handle.json_value()
                alert_id = max(rows, key=int)
                shown = page.evaluate(f"window.__rows[{json.dumps(alert_id)}]")
                sse = page.evaluate(f"window.__sse.slice({sse_before})")
                a = api.get(f"/api/alerts/{alert_id}").json()
                if a["site"] != site:
                    raise RuntimeError(f"call {n}: row {alert_id} is of {a['site']}, not {site}")
                to_console.append(shown - t0)
                to_sse.append(min(sse) - t0 if sse else shown - t0)
                r = api.post(
                    f"/api/alerts/{alert_id}/outcome", json={"code": "false_alarm", "by": "bench"}
                )
                r.raise_for_status()
                time.sleep(0.3)  # the page has settled before the next press
            committed = svc.committed()
        finally:
            pub.close()
            browser.close()
            if background is not None:
                background.stop()
            api.close()

    def stats(xs: list[float]) -> dict[str, float]:
        return {
            "p50_ms": statistics.median(xs),
            "p99_ms": percentile(xs, 99),
            "min_ms": min(xs),
            "max_ms": max(xs),
        }

    return {
        "beds": beds,
        "devices": counts["devices"],
        "calls": calls,
        "load_msg_per_s": load,
        "committed": committed,
        "console": stats(to_console),
        "sse": stats(to_sse),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--beds", type=int, default=100)
    ap.add_argument("--calls", type=int, default=60)
    ap.add_argument("--load", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "console", "runs": []}
    for r in range(args.runs):
        with fresh() as tmp:
            res = run(args.beds, args.calls, args.load, tmp)
        out["runs"].append(res)
        c, s = res["console"], res["sse"]
        print(
            f"run {r + 1}: press -> console p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms"
            f" (stream event p50 {s['p50_ms']:.1f}, p99 {s['p99_ms']:.1f}); n={args.calls},"
            f" {args.load} msg/s over {res['devices']} devices",
            flush=True,
        )
    runs = out["runs"]
    out["summary"] = {
        path: {
            q: {
                "median": statistics.median(x[path][q] for x in runs),
                "min": min(x[path][q] for x in runs),
                "max": max(x[path][q] for x in runs),
            }
            for q in ("p50_ms", "p99_ms")
        }
        for path in ("console", "sse")
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"console-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
