"""Small inline SVG charts for the printable report: stacked bars and a step line. No
script, no external files; text is escaped; sizes in user units scale with the page."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

FONT = "font-family:inherit"


def nice_max(value: float) -> float:
    """The smallest 1/2/5 x 10^k at or above `value` (at least 1)."""
    if value <= 1:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for m in (1, 2, 5, 10):
        if m * exp >= value:
            return float(m * exp)
    return float(10 * exp)


def _num(v: float) -> str:
    return f"{v:g}"


def _ticks(top: float) -> int:
    """How many grid steps so that each step is a round number (1, 2, 5, 10, 20, 25...)."""
    lead = top / 10 ** math.floor(math.log10(top))
    if round(lead) == 1:
        return 5 if top >= 10 else 1
    if round(lead) == 2:
        return 4 if top >= 20 else 2
    return 5


def _axis(x0: float, y0: float, w: float, h: float, top: float, y_title: str) -> list[str]:
    out = []
    ticks = _ticks(top)
    for i in range(ticks + 1):
        v = top * i / ticks
        y = y0 + h - h * i / ticks
        out.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{_num(round(v, 2))}</text>"
        )
    if y_title:
        out.append(
            f'<text x="{x0 - 40}" y="{y0 + h / 2:.1f}" class="axis-title" text-anchor="middle"'
            f' transform="rotate(-90 {x0 - 40} {y0 + h / 2:.1f})">{escape(y_title)}</text>'
        )
    return out


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float]]],
    *,
    title: str,
    y_title: str = "",
    width: int = 760,
    height: int = 240,
    marker: tuple[float, str] | None = None,
    label_every: int = 1,
) -> str:
    """Stacked bars: `series` = (name, css class, values per label). `marker`: a dashed
    vertical line at a bar position (e.g. 2.5 = between the 3rd and 4th bar) with text."""
    n = max(len(labels), 1)
    x0, y0, right, bottom = 60.0, 16.0, 12.0, 44.0
    w, h = width - x0 - right, height - y0 - bottom
    totals = [sum(s[2][i] for s in series) for i in range(len(labels))]
    top = nice_max(max(totals, default=0))
    slot = w / n
    bw = max(slot * 0.7, 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}" style="{FONT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        *_axis(x0, y0, w, h, top, y_title),
    ]
    for i, label in enumerate(labels):
        x = x0 + slot * i + (slot - bw) / 2
        base = y0 + h
        for name, css, values in series:
            v = values[i]
            if v <= 0:
                continue
            bh = h * v / top
            base -= bh
            parts.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bw:.1f}" height="{bh:.1f}"'
                f' class="{css}"><title>{escape(label)} {escape(name)}: {_num(v)}</title></rect>'
            )
        if totals[i] > 0 and n <= 40:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{base - 4:.1f}" text-anchor="middle"'
                f' class="value">{_num(totals[i])}</text>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bw / 2:.1f}" y="{y0 + h + 18:.1f}" text-anchor="middle"'
                f' class="tick">{escape(label)}</text>'
            )
    if marker is not None:
        pos, text = marker
        mx = x0 + slot * pos
        parts.append(
            f'<line x1="{mx:.1f}" y1="{y0 - 4}" x2="{mx:.1f}" y2="{y0 + h}" class="marker"/>'
            f'<text x="{mx + 4:.1f}" y="{y0 + 8}" class="marker-text">{escape(text)}</text>'
        )
    parts.append(_legend(series, x0, height - 8))
    parts.append("</svg>")
    return "".join(parts)


def _legend(series: Sequence[tuple[str, str, Sequence[float]]], x: float, y: float) -> str:
    if len(series) < 2:
        return ""
    out = []
    for name, css, _ in series:
        out.append(
            f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" class="{css}"/>'
            f'<text x="{x + 16:.1f}" y="{y:.1f}" class="tick">{escape(name)}</text>'
        )
        x += 22 + 13 * len(name)
    return "".join(out)


def steps(
    values: Sequence[int],
    ticks: Sequence[tuple[int, str]],
    *,
    title: str,
    y_title: str = "",
    limit: tuple[float, str] | None = None,
    width: int = 760,
    height: int = 200,
) -> str:
    """A step line of counts per equal period (alarms per 10 minutes); `ticks` = (index,
    label) on the x axis; `limit` a dashed horizontal line (the flood threshold)."""
    n = max(len(values), 1)
    x0, y0, right, bottom = 60.0, 16.0, 12.0, 30.0
    w, h = width - x0 - right, height - y0 - bottom
    top = nice_max(max([*values, (limit[0] + 1) if limit else 0], default=0))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img"'
        f' aria-label="{escape(title)}" style="{FONT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        *_axis(x0, y0, w, h, top, y_title),
    ]
    pts = [f"{x0:.1f},{y0 + h:.1f}"]
    for i, v in enumerate(values):
        y = y0 + h - h * v / top
        pts.append(f"{x0 + w * i / n:.1f},{y:.1f}")
        pts.append(f"{x0 + w * (i + 1) / n:.1f},{y:.1f}")
    pts.append(f"{x0 + w:.1f},{y0 + h:.1f}")
    parts.append(f'<polygon points="{" ".join(pts)}" class="area"/>')
    for i, label in ticks:
        x = x0 + w * i / n
        anchor = "end" if i >= n else "start" if i == 0 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" y1="{y0 + h}" x2="{x:.1f}" y2="{y0 + h + 5}" class="axis"/>'
            f'<text x="{x:.1f}" y="{y0 + h + 18:.1f}" text-anchor="{anchor}" class="tick">'
            f"{escape(label)}</text>"
        )
    if limit is not None:
        ly = y0 + h - h * limit[0] / top
        parts.append(
            f'<line x1="{x0}" y1="{ly:.1f}" x2="{x0 + w}" y2="{ly:.1f}" class="marker"/>'
            f'<text x="{x0 + w - 4}" y="{ly - 5:.1f}" text-anchor="end" class="marker-text">'
            f"{escape(limit[1])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
