"""The printable report page (alerting/reports/render_html.py and its templates): every
text and value escaped on its way in, every text from the catalog, and long periods kept
readable. The figures themselves are checked in tests/test_report.py."""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from pathlib import Path

import pytest
from jinja2 import StrictUndefined, UndefinedError

from alerting.defaults import default_rules
from alerting.outcomes import OUTCOMES
from alerting.reports.render_html import environment, render_html
from alerting.reports.service import ReportService
from alerting.ruleset import Override, RuleSet
from devices.catalog import load_catalog
from tests.report_week import AS_OF, END, SHIFTS, START, week_rules

HOSTILE = '<script>alert("x")</script>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"
REPORTS = Path(__file__).resolve().parent.parent / "alerting" / "reports"


def test_hostile_text_is_escaped_wherever_it_appears(week_db, registry):
    """A rule title from a site's rules file, a room id, a maintenance note, a reason for a
    false alarm, the site's name, a warning and a URL token: all text, never markup."""
    rules = RuleSet(
        default_rules(),
        [
            Override(rule="device_offline", set={"supervision_s": 30 * 86400}),
            Override(rule="call", set={"title_zh": HOSTILE, "title_en": HOSTILE}),
        ],
    )
    svc = ReportService(lambda: sqlite3.connect(week_db), registry, rules, None, SHIFTS)
    week = svc.report(START, END, AS_OF)
    first, *rest = week.unanswered
    maintenance = [dataclasses.replace(week.devices.maintenance[0], note=HOSTILE)]
    fire = [dataclasses.replace(a, dismiss_note=HOSTILE) for a in week.fire.items]
    report = dataclasses.replace(
        week,
        site_name=HOSTILE,
        warnings=[HOSTILE],
        unanswered=[dataclasses.replace(first, room=HOSTILE), *rest],
        devices=dataclasses.replace(week.devices, maintenance=maintenance),
        fire=dataclasses.replace(week.fire, items=fire),
    )
    links = {"self": "/r", "token": '"><script>x</script>', "json": '/j?a=1&b="2"'}
    for lang in ("zh", "en"):
        page = render_html(report, registry, rules, lang, links)
        assert "<script" not in page.lower()
        assert f'<div class="site">{ESCAPED}</div>' in page
        assert f'<p class="warning">{ESCAPED}</p>' in page
        assert f"<td>{ESCAPED}</td>" in page  # the maintenance note
        assert f"{ESCAPED}: {ESCAPED}" not in page  # one escaped, no double escaping
        assert f": {ESCAPED}</td>" in page  # why a smoke alarm was false
        assert (
            f"<title>{{}} · {ESCAPED} · ".format(load_catalog().text(lang, "report.title")) in page
        )
        assert 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in page
        assert 'href="/j?a=1&amp;b=&#34;2&#34;"' in page
        assert "&amp;lt;" not in page  # nothing escaped twice
        # the rule title in the findings, the tables and the room of the unanswered call
        assert page.count(ESCAPED) >= 10
        room = "室" if lang == "zh" else "room "
        assert (f"{ESCAPED}{room}" if lang == "zh" else f"{room}{ESCAPED}") in page


def _literal_keys() -> set[str]:
    """Every `report.*` key the report's templates and code name literally: quoted dotted
    names whose first part is a part of the report namespace."""
    parts = set(load_catalog().table("zh")["report"])
    keys: set[str] = set()
    files = [*(REPORTS / "templates").rglob("*.html")]
    files += [REPORTS / n for n in ("words.py", "findings.py", "charts.py", "render_html.py")]
    for path in files:
        quoted = re.findall(r'"([a-z_]+(?:\.[a-z0-9_]+)+)"', path.read_text(encoding="utf-8"))
        keys |= {k for k in quoted if k.split(".")[0] in parts}
    return keys


def test_every_text_of_the_page_is_in_the_catalog(week_db, registry):
    cat = load_catalog()
    known = cat.keys()
    keys = _literal_keys()
    assert len(keys) > 150
    assert sorted(k for k in keys if f"report.{k}" not in known) == []
    # the keys made up at run time
    made = [f"toolbar.{k}" for k in ("prev_shift", "this_shift", "last_day", "last_7")]
    made += [f"defs.{k}{s}" for k in ("wait", "standard", "load") for s in ("", "_text")]
    made += [f"fire.why.{k}" for k in ("not_acked", "not_resolved", "by_staff", "confirmed")]
    made += [f"finding.{k}" for k in ("unanswered", "fell", "rose", "silent", "others")]
    made += [f"home.group.{k}" for k in ("all", "emergency")]  # a home bed's section
    made += [f"outcome.{k}" for k in OUTCOMES] + [f"contact.{k}" for k in ("reached", "ack")]
    assert [k for k in made if f"report.{k}" not in known] == []
    # and no key is left showing on a page (the catalog shows a missing key as itself)
    rules = week_rules()
    svc = ReportService(lambda: sqlite3.connect(week_db), registry, rules, None, SHIFTS)
    report = svc.report(START, END, AS_OF)
    links = {k: "/x" for k in ("self", "prev_shift", "last_7", "csv_devices", "other_lang")}
    for lang in cat.languages():
        page = render_html(report, registry, rules, lang, links)
        assert re.findall(r"\b(?:report|rule|priority|device_type)\.[a-z_]+", page) == []


def test_one_environment_autoescapes_and_refuses_unknown_names():
    env = environment()
    assert env is environment()
    assert env.undefined is StrictUndefined
    page = env.from_string("<p>{{ x }}</p>").render(x="<b>")
    assert page == "<p>&lt;b&gt;</p>"
    with pytest.raises(UndefinedError):
        env.from_string("{{ nobody_passed_this }}").render()
    assert env.get_template("report.html") is not None


def test_a_two_month_report_stays_readable(week_db, registry):
    """Sixty days: same week's figures, shift totals instead of 180 shift rows, and an
    alarm-rate chart of at most 1,200 points that still shows the flood's peak."""
    import re
    import sqlite3

    from alerting.reports.render_html import render_html

    rules = week_rules()
    svc = ReportService(lambda: sqlite3.connect(week_db), registry, rules, None, SHIFTS)
    r = svc.report(END - 60 * 86_400_000, END, AS_OF)
    assert r.responses_for("emergency").within_60s == 12 and len(r.shifts) == 180
    assert len(r.load.per_period) == 8640 and r.load.peak_10min == 12
    page = render_html(r, registry, rules, "zh")
    assert "共 180 个班次：逐班数据见 CSV（班次）。" in page
    [polygon] = re.findall(r'<polygon points="([^"]+)"', page)
    assert len(polygon.split()) <= 2 * 1200 + 2
    assert "（每点为该段最多的 10 分钟）" in page
