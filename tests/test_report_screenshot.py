"""The printable report of the known week in a real browser (Debian's Chromium via
playwright): rendered to PNG for docs/screenshots/report-zh.png and report-en.png, laid
out without overflow on screen, and printed to A4 PDF in a handful of pages."""

from __future__ import annotations

import sqlite3

import pytest

from alerting.reports.render_html import render_html
from alerting.reports.service import ReportService
from alerting.reports.source import PointStats
from ingest.spool import EmbeddedReadings
from tests.conftest import ROOT
from tests.report_week import AS_OF, END, SHIFTS, START, simulate_week, week_rules

SHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def pages(tmp_path_factory, registry) -> dict[str, str]:
    db = tmp_path_factory.mktemp("shot") / "carewatch.db"
    simulate_week(db, registry).conn.close()
    rules = week_rules()
    svc = ReportService(
        lambda: sqlite3.connect(db),
        registry,
        rules,
        PointStats(EmbeddedReadings(str(db))),
        SHIFTS,
    )
    report = svc.report(START, END, AS_OF)
    return {lang: render_html(report, registry, rules, lang) for lang in ("zh", "en")}


def test_report_renders_readably_is_saved_as_png_and_prints(open_page, pages):
    p = open_page(1120, 900, "zh-CN")
    page, errors = p.page, p.errors
    for lang in ("zh", "en"):
        page.set_content(pages[lang], wait_until="load")
        title = page.locator("h1").inner_text()
        assert title == ("24小时安全值守报告" if lang == "zh" else "24-hour watch report")
        # the key figure an inspector looks for first, with its verdict in words
        first_tile = page.locator(".tile").first.inner_text()
        assert "75.0%" in first_tile
        assert ("未达标" if lang == "zh" else "below standard") in first_tile
        assert page.locator("svg.chart").count() == 3  # per day, ack times, per 10 minutes
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        heights = page.evaluate(
            "[...document.querySelectorAll('svg.chart')].map(s => s.getBoundingClientRect().height)"
        )
        assert all(h > 120 for h in heights)  # no chart collapsed by the layout
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"report-{lang}.png"), full_page=True)
    # printed on A4 (zh): a handful of pages, not one page per table row
    pdf = page.pdf(format="A4", print_background=True)
    printed = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    assert 3 <= printed <= 12
    assert errors == []
