"""The printable watch report: one self-contained HTML page (inline CSS and SVG charts, no
script except the print button), in any language of the catalog, A4 print layout.

Written for the people who read it: the home's manager, the fire-safety manager, an
inspector, a family. It opens with the key figures and a plain list of what needs
attention, then the details. Residents are never named: floor, room, bed and device id.

The page is Jinja2 templates (alerting/reports/templates/: base.html, report.html and one
partial per section) with autoescape on, so every text and value is escaped on its way
into the page; the words come from the catalog (words.py), the charts from svg.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined

from alerting.reports import charts
from alerting.reports.compute.answers import CARELINE_TARGET
from alerting.reports.compute.fire import FIRE_ACK_S
from alerting.reports.compute.load import FLOOD_COUNT
from alerting.reports.findings import findings
from alerting.reports.model import WatchReport
from alerting.reports.words import Words
from alerting.ruleset import RuleSet
from devices.catalog import Catalog, load_catalog
from devices.registry import Registry

MAX_SHIFT_ROWS = 93  # a month of three shifts; longer periods list shift totals only
MAX_HOME_CALLS = 200  # a home bed's calls listed one by one; all of them in the CSV


@cache
def environment() -> Environment:
    """The one template environment, built on first use: templates from the package (an
    installed wheel carries them as package data), autoescape on, and a name
    the template does not know is an error, not an empty string."""
    return Environment(
        loader=PackageLoader("alerting.reports", "templates"),
        autoescape=True,  # every template is HTML (report.css has no expressions)
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    report: WatchReport,
    registry: Registry,
    rules: RuleSet,
    lang: str = "zh",
    links: Mapping[str, str] | None = None,
    catalog: Catalog | None = None,
) -> str:
    """The whole page. `links` (the API adds them): a toolbar with a period form, other
    periods, CSV/JSON exports and the other language; files written to disk have none."""
    cat = catalog or load_catalog()
    shift_en = {s.name: s.name_en for s in report.shifts}
    w = Words(cat, lang, registry, rules, ZoneInfo(report.timezone), shift_en)
    template = environment().get_template("report.html")
    return template.render(context(w, report, links or {}))


def context(w: Words, report: WatchReport, links: Mapping[str, str]) -> dict[str, Any]:
    """What the templates see: the report `r`, the reader's words `w` and `t`, the
    findings and charts worked out in Python, and the thresholds the verdicts use."""
    span_h = (report.end_ms - report.start_ms) / 3_600_000
    length = w.t("days", n=f"{span_h / 24:g}") if span_h >= 48 else w.t("hours", n=f"{span_h:g}")
    return {
        "r": report,
        "w": w,
        "t": w.t,
        "html_lang": w.catalog.text(w.lang, "_meta.lang"),
        "links": links,
        "length": length,
        "findings": findings(w, report),
        "charts": {
            "ack": charts.ack_chart(w, report),
            "timeline": charts.timeline_chart(w, report),
            "load": charts.load_chart(w, report),
        },
        "careline_target": CARELINE_TARGET,
        "fire_ack_s": FIRE_ACK_S,
        "flood_count": FLOOD_COUNT,
        "max_shift_rows": MAX_SHIFT_ROWS,
        "max_home_calls": MAX_HOME_CALLS,
    }
