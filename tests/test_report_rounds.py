"""The watch report's rounds section (alerting/reports/compute/rounds.py): over a night of
the demo home, rounds due, done on time, late and missed, checkpoints late and missed;
a round still under way when the report is made is left out; and the figures in the
report's JSON summary, its CSV table `rounds` and its HTML section, zh and en."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from alerting.reports.compute.rounds import rounds_figures
from alerting.reports.jsonout import summary
from alerting.reports.render_csv import table_csv
from alerting.reports.render_html import render_html
from alerting.reports.service import ReportService
from alerting.ruleset import RuleSet
from alerting.store import create_schema
from devices.registry import Registry

SH = ZoneInfo("Asia/Shanghai")


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=SH).timestamp() * 1000)


def night(registry: Registry) -> list[tuple[str, int, str, str]]:
    """22:00 walked on time; 00:00 all but one, the last late (01:05); 02:00 two missed;
    04:00 not walked at all."""
    route = registry.site.rounds.routes[0]  # type: ignore[union-attr]
    cps = route.checkpoints
    rows = [(c, ms(f"2026-12-05T22:{10 + i}"), "nurse-wang", "ok") for i, c in enumerate(cps)]
    rows += [(c, ms(f"2026-12-06T00:{10 + i}"), "nurse-li", "ok") for i, c in enumerate(cps[:7])]
    rows.append((cps[7], ms("2026-12-06T01:05"), "nurse-li", "problem"))
    rows += [(c, ms(f"2026-12-06T02:{10 + i}"), "nurse-li", "ok") for i, c in enumerate(cps[:6])]
    return rows


def test_rounds_due_done_late_and_missed_over_a_night(registry: Registry) -> None:
    routes = registry.site.rounds.routes  # type: ignore[union-attr]
    start, end = ms("2026-12-05T20:00"), ms("2026-12-06T08:00")
    f = rounds_figures(routes, SH, night(registry), start, end, as_of_ms=end)
    assert [(r.status, r.on_time, r.late, r.missed) for r in f.rounds] == [
        ("done", 8, 0, 0),
        ("late", 7, 1, 0),
        ("missed", 6, 0, 2),
        ("missed", 0, 0, 8),
    ]
    assert (f.due, f.done, f.late, f.missed) == (4, 1, 1, 2)
    assert (f.checkpoints_due, f.checkpoints_late, f.checkpoints_missed) == (32, 1, 10)
    assert f.on_time_share == 0.25 and f.checkins == 22 and f.problems == 1
    assert f.rounds[2].missed_ids == ("cp-3f-corridor", "cp-3f-utility")
    # at 04:30 the 04:00 round is under way: not counted yet
    early = rounds_figures(routes, SH, night(registry), start, end, as_of_ms=ms("2026-12-06T04:30"))
    assert early.due == 3 and early.missed == 1


def test_the_rounds_section_in_json_csv_and_html(tmp_path: Path, registry: Registry) -> None:
    db = tmp_path / "cw.db"
    conn = sqlite3.connect(db)
    create_schema(conn)
    conn.executemany(
        "INSERT INTO round_checkins(site, checkpoint, tag, by, via, at_ms, recorded_ms, result,"
        " answers) VALUES ('sunrise', ?, 'x', ?, 'reader', ?, ?, ?, '{}')",
        [(c, by, at, at, res) for c, at, by, res in night(registry)],
    )
    conn.commit()
    conn.close()
    rules = RuleSet.defaults()
    svc = ReportService(lambda: sqlite3.connect(db), registry, rules, None, site="sunrise")
    end = ms("2026-12-06T08:00")
    report = svc.report(ms("2026-12-05T20:00"), end, end)
    assert summary(report)["rounds"] == {
        "due": 4, "done": 1, "late": 1, "missed": 2, "on_time_share": 0.25,
        "checkpoints_late": 1, "checkpoints_missed": 10, "problems": 1,
    }  # fmt: skip
    csv = table_csv(report, rules, "rounds").splitlines()
    assert csv[0].startswith("route,route_name,start_local,due_local,status")
    assert csv[3] == (
        "night,夜间防火巡查,2026-12-06 02:00,2026-12-06 03:00,missed,8,6,0,2,"
        "cp-3f-corridor;cp-3f-utility"
    )
    zh = render_html(report, registry, rules, "zh")
    assert "防火巡查" in zh and "应巡 4 轮：按时完成 1，迟完成 1，漏巡 2" in zh
    assert "cp-3f-corridor, cp-3f-utility" in zh
    assert "漏巡 2 轮" in zh and "漏检点位共 10 个" in zh  # under "needs attention" too
    en = render_html(report, registry, rules, "en")
    assert "Fire patrol rounds" in en and "4 round(s) due: 1 done on time" in en
    assert "Night fire patrol" in en
