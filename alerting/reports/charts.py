"""The report's three charts, as inline SVG for the templates: emergency answer times,
alerts over time, alarms per 10 minutes.

svg.py builds the SVG in Python and escapes every text it writes (titles, labels,
legends) with html.escape; the numbers and CSS classes are ours. So its output is marked
safe here, and only here, for the templates (Markup): nothing from outside the code
reaches it unescaped.
"""

from __future__ import annotations

from markupsafe import Markup

from alerting.reports import svg
from alerting.reports.compute.answers import ANSWER_WITHIN_S
from alerting.reports.compute.load import FLOOD_COUNT
from alerting.reports.model import WatchReport
from alerting.reports.words import Words

MAX_POINTS = 1200  # the alarm-rate chart: longer periods show the busiest 10 min per point
TEN_MIN_MS = 600_000


def ack_chart(w: Words, r: WatchReport) -> Markup:
    """Emergency waits by time to answer, on time / late / never, with the 60 s line."""
    hist = r.ack_histogram
    labels = [w.t("never") if b.label == "unanswered" else b.label for b in hist]
    within = [b.count if b.hi_s is not None and b.hi_s <= ANSWER_WITHIN_S else 0 for b in hist]
    late = [
        b.count if b.lo_s is not None and b.lo_s >= ANSWER_WITHIN_S and b.label != "unanswered"
        else 0
        for b in hist
    ]  # fmt: skip
    never = [b.count if b.label == "unanswered" else 0 for b in hist]
    return Markup(  # noqa: S704 - svg.py escapes every text it writes
        svg.bars(
            labels,
            [
                (w.t("responses.within"), "ontime", within),
                (w.t("responses.after"), "late", late),
                (w.t("never"), "never", never),
            ],
            title=w.t("responses.chart"),
            y_title=w.t("responses.calls"),
            marker=(3, w.t("responses.marker")),
            height=230,
        )
    )


def timeline_chart(w: Words, r: WatchReport) -> Markup:
    """Alerts per hour (short periods) or per watch day, stacked by priority."""
    if r.timeline_step == "day":
        labels = [w.time(b.start_ms)[:5] for b in r.timeline]
        title = w.t("distribution.per_day")
    else:
        labels = [w.local(b.start_ms, "%H") for b in r.timeline]
        title = w.t("distribution.per_hour")
    return Markup(  # noqa: S704 - svg.py escapes every text it writes
        svg.bars(
            labels,
            [
                (w.prio("emergency"), "emergency", [b.emergency for b in r.timeline]),
                (w.prio("routine"), "routine", [b.routine for b in r.timeline]),
                (w.prio("trouble"), "trouble", [b.trouble for b in r.timeline]),
            ],
            title=title,
            y_title=w.t("distribution.y"),
            label_every=max(1, len(labels) // 24),
        )
    )


def load_chart(w: Words, r: WatchReport) -> Markup:
    """Alarms per 10 minutes with the flood line; a long period keeps one point per k
    periods, the busiest one, so floods still show."""
    per = r.load.per_period
    k = max(1, -(-len(per) // MAX_POINTS))
    points = [max(per[i : i + k]) for i in range(0, len(per), k)]
    ticks = [(i // k, label) for i, label in _ticks(w, r.start_ms, len(per))]
    title = w.t("load.chart") + (w.t("load.chart_busiest") if k > 1 else "")
    return Markup(  # noqa: S704 - svg.py escapes every text it writes
        svg.steps(
            points,
            ticks,
            title=title,
            y_title=w.t("load.chart_y"),
            limit=(FLOOD_COUNT, w.t("load.chart_limit")),
        )
    )


def _ticks(w: Words, start_ms: int, periods: int) -> list[tuple[int, str]]:
    """x-axis labels for 10-minute periods: every day (long) or every 3 hours (short)."""
    per_h = 6
    every = 24 * per_h if periods > 3 * 24 * per_h else 3 * per_h
    fmt = "%m-%d" if every >= 24 * per_h else "%H:%M"
    return [(i, w.local(start_ms + i * TEN_MIN_MS, fmt)) for i in range(0, periods + 1, every)]
