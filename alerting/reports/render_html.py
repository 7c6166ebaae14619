"""The printable watch report: one self-contained HTML page (inline CSS and SVG charts, no
script except the print button), in Chinese or English, A4 print layout.

Written for the people who read it: the home's manager, the fire-safety manager, an
inspector, a family. It opens with the key figures and a plain list of what needs
attention, then the details. Residents are never named: floor, room, bed and device id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from alerting.reports import svg
from alerting.reports.compute.answers import ANSWER_WITHIN_S, CARELINE_TARGET
from alerting.reports.compute.fire import FIRE_ACK_S
from alerting.reports.compute.history import PRIORITIES
from alerting.reports.compute.load import FLOOD_COUNT
from alerting.reports.model import (
    Durations,
    Responses,
    SeriesFigure,
    Wait,
    WatchReport,
)
from alerting.ruleset import RuleSet
from devices.profiles import DEVICE_TYPES
from devices.registry import Registry

Lang = str
_T: dict[str, tuple[str, str]] = {
    "title": ("24小时安全值守报告", "24-hour watch report"),
    "period": ("报告期间", "Period"),
    "generated": ("生成时间", "Generated"),
    "tz": ("时区", "Time zone"),
    "privacy": (
        "本报告不含住户姓名：告警以楼层、房间、床位和设备编号标识（姓名属个人信息，只在值班屏上显示）。",
        "No residents' names in this report: alerts are identified by floor, room, bed and "
        "device id (names are personal data and stay on the duty screen).",
    ),
    "days": ("{} 天", "{} days"),
    "hours": ("{} 小时", "{} hours"),
    "key": ("概要", "Key figures"),
    "attention": ("需要关注", "Needs attention"),
    "nothing": ("本期没有需要关注的事项。", "Nothing needs attention in this period."),
    "responses": ("应答与处置时间", "Time to acknowledge and to resolve"),
    "late_unanswered": ("超时与未应答", "Late and unanswered"),
    "per_shift": ("各班次", "Per shift"),
    "distribution": ("告警分布", "Alerts by type and place"),
    "load": ("告警负荷（ISA-18.2）", "Alarm load (ISA-18.2)"),
    "devices": ("设备可用性", "Device availability"),
    "fire": ("消防", "Fire safety"),
    "definitions": ("说明", "How the figures are counted"),
    "emergency": ("紧急", "Emergency"),
    "routine": ("一般", "Routine"),
    "trouble": ("故障", "Trouble"),
    "all": ("合计", "All"),
    "print": ("打印", "Print"),
    "show": ("显示", "Show"),
    "from": ("从", "From"),
    "to": ("到", "To"),
    "prev_shift": ("上一班", "Last shift"),
    "this_shift": ("本班", "This shift"),
    "last_day": ("昨日（整个值守日）", "Last watch day"),
    "last_7": ("最近7天", "Last 7 days"),
    "other_lang": ("English", "中文"),
    "csv_alerts": ("CSV：告警", "CSV: alerts"),
    "csv_shifts": ("CSV：班次", "CSV: shifts"),
    "csv_devices": ("CSV：设备离线", "CSV: offline devices"),
    "json": ("JSON", "JSON"),
}

ANSWERS = {
    "ack": ("确认", "acknowledged"),
    "resolve": ("解除", "resolved"),
    "reset": ("床边复位", "reset at the bedside"),
    "dismiss": ("误报关闭", "dismissed as false"),
    "shelve": ("搁置", "shelved"),
    "confirm": ("确认火警", "fire confirmed"),
}
TARGETS = {
    "duty_screen": ("值班屏", "duty screen"),
    "supervisor": ("主管", "supervisor"),
    "director": ("院长", "director"),
    "maintenance": ("维修", "maintenance"),
    "fire_brigade": ("消防（119）", "fire brigade (119)"),
}
STATES = {
    "active_unack": ("未确认", "unacknowledged"),
    "active_ack": ("已确认", "acknowledged"),
    "cleared_unack": ("已恢复·待确认", "cleared, unacknowledged"),
    "shelved": ("已搁置", "shelved"),
    "closed": ("已关闭", "closed"),
}
MAX_POINTS = 1200  # the alarm-rate chart
MAX_SHIFT_ROWS = 93  # a month of three shifts; longer periods list shift totals only
FIELDS = {
    "pressure_mpa": ("消防水压", "Fire-water pressure"),
    "residual_current_ma": ("剩余电流", "Residual current"),
    "cable_temp_c": ("线缆温度", "Cable temperature"),
    "current_a": ("负载电流", "Load current"),
}

CSS = """
*{box-sizing:border-box;-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;background:#fff;color:#1a1a1a;font:14px/1.5 "Noto Sans CJK SC","Noto Sans SC",
"Source Han Sans SC","Microsoft YaHei","PingFang SC",system-ui,sans-serif}
.page{max-width:1060px;margin:0 auto;padding:24px 28px 40px}
h1{font-size:27px;margin:0 0 2px}
h2{font-size:19px;margin:30px 0 10px;padding-bottom:4px;border-bottom:2px solid #263238;
break-after:avoid}
h3{font-size:15px;margin:16px 0 6px;break-after:avoid}
.site{font-size:17px;font-weight:600}
.meta{color:#37474f;margin:2px 0}
.privacy{border-left:4px solid #546e7a;background:#eceff1;padding:6px 10px;margin:10px 0 0}
.warning{border-left:4px solid #b71c1c;background:#ffebee;padding:6px 10px;margin:10px 0 0}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #cfd8dc;padding:4px 7px;text-align:left;vertical-align:top}
th{background:#eceff1;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr{break-inside:avoid}thead{display:table-header-group}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:10px}
.tile{border:1px solid #b0bec5;border-radius:6px;padding:9px 11px;break-inside:avoid}
.tile .label{font-size:13px;color:#37474f}
.tile .big{font-size:25px;font-weight:700;line-height:1.25}
.tile .sub{font-size:12.5px;color:#37474f}
.ok{color:#1b5e20}.bad{color:#b71c1c}.warn{color:#8a5300}
.badge{font-weight:700;white-space:nowrap}
.badge.ok::before{content:"✓ "}.badge.bad::before{content:"✗ "}.badge.warn::before{content:"! "}
.findings{margin:0;padding-left:22px}.findings li{margin:3px 0}
.findings li.bad::marker{content:"✗  "}.findings li.warn::marker{content:"!  "}
.findings li{color:#1a1a1a}
.muted{color:#607d8b}.nw{white-space:nowrap}
.two{display:grid;grid-template-columns:1fr 1fr;gap:18px}
.chart{width:100%;height:auto;display:block;margin:4px 0 8px}
.chart .grid{stroke:#e3e8eb}.chart .axis{stroke:#607d8b}
.chart .tick{font-size:11px;fill:#37474f}.chart .value{font-size:11px;fill:#263238}
.chart .axis-title{font-size:11px;fill:#37474f}
.chart .emergency{fill:#c62828}.chart .routine{fill:#ef8f00}.chart .trouble{fill:#78909c}
.chart .ontime{fill:#2e7d32}.chart .late{fill:#ef6c00}.chart .never{fill:#212121}
.chart .area{fill:#b0bec5;stroke:#455a64;stroke-width:1}
.chart .marker{stroke:#b71c1c;stroke-width:1.5;stroke-dasharray:5 4}
.chart .marker-text{font-size:11px;fill:#b71c1c}
dl.defs dt{font-weight:600;margin-top:6px}dl.defs dd{margin:0 0 0 18px}
.toolbar{display:flex;flex-wrap:wrap;gap:8px 14px;align-items:center;padding:8px 10px;
margin:-8px 0 16px;background:#eceff1;border-radius:6px;font-size:13px}
.toolbar a,.toolbar button{color:#0d47a1}
.toolbar form{display:flex;gap:6px;align-items:center}
@page{size:A4;margin:12mm 11mm}
@media print{.no-print{display:none!important}.page{max-width:none;padding:0}
body{font-size:11.5px}table{font-size:10.5px}.tile .big{font-size:20px}
h2{margin-top:18px}.tiles{grid-template-columns:repeat(4,1fr)}}
"""


class _Text:
    def __init__(self, lang: Lang, registry: Registry, rules: RuleSet, tz: ZoneInfo) -> None:
        self.zh = lang != "en"
        self.lang = "zh" if self.zh else "en"
        self.registry = registry
        self.rules = rules
        self.tz = tz
        site = registry.site
        self.floors = {f.id: f.name or f.id for f in site.floors}
        self.rooms = {r.id: r.name for f in site.floors for r in f.rooms}
        self.staff = {s.id: s.name for s in site.staff}
        self.shift_en: dict[str, str | None] = {}

    def shift(self, name: str | None) -> str:
        if name is None:
            return "—"
        en = self.shift_en.get(name)
        return name if self.zh or not en else en

    def __call__(self, key: str, *args: object) -> str:
        zh, en = _T[key]
        return (zh if self.zh else en).format(*args)

    def pick(self, table: Mapping[str, tuple[str, str]], key: str | None) -> str:
        if key is None:
            return "—"
        pair = table.get(key)
        return (pair[0] if self.zh else pair[1]) if pair else key

    def z(self, zh: str, en: str) -> str:
        return zh if self.zh else en

    # --- values ------------------------------------------------------------------------

    def time(self, ms: int | None, seconds: bool = False) -> str:
        if ms is None:
            return "—"
        fmt = "%m-%d %H:%M:%S" if seconds else "%m-%d %H:%M"
        return datetime.fromtimestamp(ms / 1000, self.tz).strftime(fmt)

    def full_time(self, ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, self.tz).strftime("%Y-%m-%d %H:%M")

    def dur(self, s: float | None) -> str:
        if s is None:
            return "—"
        if s < 120:
            v = f"{round(s, 1):g}"
            return f"{v} 秒" if self.zh else f"{v} s"
        if s < 3600:
            m, sec = divmod(round(s), 60)
            if self.zh:
                return f"{m} 分" + (f" {sec} 秒" if sec else "")
            return f"{m} min" + (f" {sec} s" if sec else "")
        h, m = divmod(round(s / 60), 60)
        if self.zh:
            return f"{h} 小时" + (f" {m} 分" if m else "")
        return f"{h} h" + (f" {m} min" if m else "")

    def pct(self, v: float | None, digits: int = 1) -> str:
        return "—" if v is None else f"{v * 100:.{digits}f}%"

    def num(self, v: float | None, unit: str = "") -> str:
        if v is None:
            return "—"
        text = f"{round(v, 3):g}"
        return f"{text} {unit}".strip()

    def rule(self, name: str) -> str:
        return self.rules.title(name, self.lang)

    def prio(self, p: str) -> str:
        return self(p) if p in (*PRIORITIES, "all") else p

    def dtype(self, t: str | None) -> str:
        dt = DEVICE_TYPES.get(t or "")
        if dt is None:
            return t or "—"
        label = dt.label(self.lang)
        return label[:1].upper() + label[1:]

    def room(self, room: str | None) -> str:
        if room is None:
            return "—"
        name = self.rooms.get(room)
        if name:
            return name
        return f"{room}室" if self.zh else f"room {room}"

    def place(self, floor: str | None, room: str | None, bed: str | None = None) -> str:
        parts = []
        room_text = self.room(room) if room is not None else None
        if floor is not None:
            floor_text = self.floors.get(floor, floor)
            if room_text is None or not room_text.startswith(floor_text):
                parts.append(floor_text)
        if room_text is not None:
            parts.append(room_text)
        if bed:
            parts.append(f"{bed}床" if self.zh else f"bed {bed}")
        return " · ".join(parts) or self.z("系统", "system")

    def who(self, by: str | None) -> str:
        if by is None:
            return "—"
        if by.startswith("device:"):
            return self.z("床边复位", "reset at the device")
        if by == "system:maintenance_expired":
            return self.z("到期自动结束", "expired")
        if by.startswith("system:"):
            return self.z("系统", "system")
        name = self.staff.get(by)
        if name is None:
            return by
        return name if self.zh else f"{name} ({by})"


def _e(v: object) -> str:
    return escape(str(v))


def _nw(v: object) -> str:
    """A cell that must not wrap (times, device ids)."""
    return f'<span class="nw">{_e(v)}</span>'


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], num: Sequence[int] = (), empty: str = ""
) -> str:
    """Cells are HTML already (escaped by the caller); `num`: right-aligned columns."""
    if not rows:
        return f'<p class="muted">{_e(empty)}</p>' if empty else ""
    cls = [' class="num"' if i in num else "" for i in range(len(head))]
    out = ["<table><thead><tr>"]
    out += [f"<th{cls[i]}>{h}</th>" for i, h in enumerate(head)]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td{cls[i]}>{c}</td>" for i, c in enumerate(r)) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _battery(value: str | None) -> str:
    """The alert's value `battery_pct=12` as `12%`; an event (low_battery) as it is."""
    if value and value.startswith("battery_pct="):
        return value.split("=", 1)[1] + "%"
    return value or "—"


def _p(text: str) -> str:
    return f'<p class="muted">{_e(text)}</p>'


def _h3(text: str) -> str:
    return f"<h3>{_e(text)}</h3>"


def _badge(ok: bool | None, yes: str, no: str, warn: bool = False) -> str:
    if ok is None:
        return '<span class="muted">—</span>'
    css = "ok" if ok else ("warn" if warn else "bad")
    return f'<span class="badge {css}">{_e(yes if ok else no)}</span>'


def render_html(
    report: WatchReport,
    registry: Registry,
    rules: RuleSet,
    lang: Lang = "zh",
    links: Mapping[str, str] | None = None,
) -> str:
    """The whole page. `links` (the API adds them): a toolbar with a period form, other
    periods, CSV/JSON exports and the other language; files written to disk have none."""
    tz = ZoneInfo(report.timezone)
    t = _Text(lang, registry, rules, tz)
    t.shift_en = {s.name: s.name_en for s in report.shifts}
    span_h = (report.end_ms - report.start_ms) / 3_600_000
    length = t("days", f"{span_h / 24:g}") if span_h >= 48 else t("hours", f"{span_h:g}")
    body = [
        _toolbar(t, report, links) if links else "",
        f"<header><h1>{_e(t('title'))}</h1>",
        f'<div class="site">{_e(report.site_name)}</div>',
        f'<p class="meta">{_e(t("period"))}: <b>{_e(t.full_time(report.start_ms))} – '
        f"{_e(t.full_time(report.end_ms))}</b> ({_e(length)}) · {_e(t('tz'))} "
        f"{_e(report.timezone)} · {_e(t('generated'))} {_e(t.full_time(report.as_of_ms))}</p>",
        f'<p class="privacy">{_e(t("privacy"))}</p>',
        *[f'<p class="warning">{_e(w)}</p>' for w in report.warnings],
        "</header>",
        _key_figures(t, report),
        _attention(t, report),
        _responses(t, report),
        _late(t, report),
        _shifts(t, report),
        _distribution(t, report),
        _load(t, report),
        _devices(t, report),
        _fire(t, report),
        _definitions(t),
    ]
    html_lang = "zh-CN" if t.zh else "en"
    title = f"{t('title')} · {report.site_name} · {t.full_time(report.start_ms)}"
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f'<body><div class="page">{"".join(body)}</div></body></html>'
    )


def _toolbar(t: _Text, report: WatchReport, links: Mapping[str, str]) -> str:
    def local_input(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, t.tz).strftime("%Y-%m-%dT%H:%M")

    quick = [
        (k, links[k]) for k in ("prev_shift", "this_shift", "last_day", "last_7") if k in links
    ]
    exports = [
        (k, links[k]) for k in ("csv_alerts", "csv_shifts", "csv_devices", "json") if k in links
    ]
    token = links.get("token")
    hidden = f'<input type="hidden" name="lang" value="{t.lang}">'
    if token:  # a viewer token that came in the URL stays with the form
        hidden += f'<input type="hidden" name="access_token" value="{_e(token)}">'
    form = (
        f'<form method="get" action="{_e(links.get("self", ""))}">{hidden}'
        f'<label>{_e(t("from"))} <input type="datetime-local" name="from" '
        f'value="{local_input(report.start_ms)}"></label>'
        f'<label>{_e(t("to"))} <input type="datetime-local" name="to" '
        f'value="{local_input(report.end_ms)}"></label>'
        f'<button type="submit">{_e(t("show"))}</button></form>'
    )
    anchors = "".join(f'<a href="{_e(u)}">{_e(t(k))}</a>' for k, u in [*quick, *exports])
    if "other_lang" in links:
        anchors += f'<a href="{_e(links["other_lang"])}">{_e(t("other_lang"))}</a>'
    button = f'<button type="button" onclick="window.print()">{_e(t("print"))}</button>'
    return f'<nav class="toolbar no-print">{form}{anchors}{button}</nav>'


# --- key figures and findings -----


def _load_verdict(t: _Text, per_10min: float, floods: int) -> str:
    if floods:
        text = t.z(f"出现泛滥 {floods} 次", f"{floods} flood(s)")
        return f'<span class="badge warn">{_e(text)}</span>'
    if per_10min > 2:
        return _badge(False, "", t.z("过载", "overloaded"))
    if per_10min > 1:
        return _badge(False, "", t.z("偏高", "high"), warn=True)
    return _badge(True, t.z("可控", "manageable"), "")


def _tile(label: str, big: str, sub: str, verdict: str = "") -> str:
    return (
        f'<div class="tile"><div class="label">{_e(label)}</div>'
        f'<div class="big">{big}</div><div class="sub">{sub}</div>'
        + (f"<div>{verdict}</div>" if verdict else "")
        + "</div>"
    )


def _key_figures(t: _Text, r: WatchReport) -> str:
    e = r.responses_for("emergency")
    a = r.responses_for("all")
    load = r.load
    fire = r.fire
    share = e.share_within_60s
    meets = None if share is None else share >= CARELINE_TARGET
    below = [s for s in fire.equipment if s.ok is False]
    no_data = [s for s in fire.equipment if s.count == 0 and s.rule is not None]
    by_p = {x.group: x.alerts for x in r.responses}
    tiles = [
        _tile(
            t.z("紧急呼叫 60 秒内应答", "Emergency calls answered within 60 s"),
            _e(t.pct(share)),
            _e(t.z(f"{e.within_60s} / {e.waits - e.pending} 次 · 标准 ≥ 98.5%",
                   f"{e.within_60s} of {e.waits - e.pending} · standard ≥ 98.5%")
               if e.waits - e.pending else t.z("本期无紧急呼叫", "no emergency calls")),
            _badge(meets, t.z("达标", "meets the standard"), t.z("未达标", "below standard")),
        ),
        _tile(
            t.z("紧急呼叫应答时间", "Emergency: time to acknowledge"),
            _e(t.z(f"中位 {t.dur(e.to_ack.median_s)}", f"median {t.dur(e.to_ack.median_s)}")),
            _e(t.z(f"P90 {t.dur(e.to_ack.p90_s)} · 最长 {t.dur(e.to_ack.max_s)}",
                   f"p90 {t.dur(e.to_ack.p90_s)} · longest {t.dur(e.to_ack.max_s)}")),
        ),
        _tile(
            t.z("未应答", "Not answered"),
            _e(str(len(r.unanswered))),
            _e(t.z(f"其中紧急 {e.unanswered} · 超时(>60秒) {e.late}",
                   f"emergency {e.unanswered} · late (> 60 s) {e.late}")),
            _badge(not r.unanswered, t.z("全部已应答", "all answered"),
                   t.z("有未应答", "some unanswered")),
        ),
        _tile(
            t.z("告警", "Alerts"),
            _e(str(a.alerts)),
            _e(t.z(f"紧急 {by_p['emergency']} · 一般 {by_p['routine']} · 故障 {by_p['trouble']}",
                   f"emergency {by_p['emergency']} · routine {by_p['routine']}"
                   f" · trouble {by_p['trouble']}")),
        ),
        _tile(
            t.z("告警负荷（每10分钟）", "Alarm load (per 10 min)"),
            _e(f"{load.per_10min:.2f}"),
            _e(t.z(f"最多 {load.peak_10min} 条/10分钟 · 泛滥 {len(load.floods)} 次",
                   f"peak {load.peak_10min} in 10 min · floods {len(load.floods)}")),
            _load_verdict(t, load.per_10min, len(load.floods)),
        ),
        _tile(
            t.z("设备在线率", "Device availability"),
            _e(t.pct(r.devices.availability, 2)),
            _e(t.z(f"{r.devices.registered} 台设备 · 离线 {len(r.devices.episodes)} 次",
                   f"{r.devices.registered} devices · {len(r.devices.episodes)} offline episodes")),
        ),
        _tile(
            t.z("火警", "Fire alarms"),
            _e(str(fire.alarms)),
            _e(t.z(f"15秒内确认 {fire.acked_within_15s} · 已通知消防 {fire.forwarded}"
                   f" · 误报 {fire.dismissed}",
                   f"acknowledged ≤ 15 s {fire.acked_within_15s} · to the fire brigade "
                   f"{fire.forwarded} · false {fire.dismissed}")),
        ),
        _tile(
            t.z("消防设施", "Fire equipment"),
            _e(t.z(f"{len(below)} 项超限", f"{len(below)} out of limits")),
            _e(t.z(f"共监测 {len(fire.equipment)} 项 · {len(no_data)} 项无数据",
                   f"{len(fire.equipment)} measures watched · {len(no_data)} without data")),
            _badge(not below and not no_data, t.z("正常", "normal"),
                   t.z("需检查", "check needed")),
        ),
    ]  # fmt: skip
    return f'<section><h2>{_e(t("key"))}</h2><div class="tiles">{"".join(tiles)}</div></section>'


def _attention(t: _Text, r: WatchReport) -> str:
    items: list[tuple[str, str]] = []  # (css, text)
    e = r.responses_for("emergency")
    for w in [w for w in r.unanswered if w.priority == "emergency"][:8]:
        items.append(
            (
                "bad",
                t.z(
                    f"紧急告警未应答：{t.rule(w.rule)}，{t.place(w.floor, w.room, w.bed)}"
                    f"（{w.device_id}），{t.time(w.started_ms)} 起",
                    f"Emergency alert never answered: {t.rule(w.rule)}, "
                    f"{t.place(w.floor, w.room, w.bed)} ({w.device_id}), "
                    f"since {t.time(w.started_ms)}",
                ),
            )
        )
    if e.share_within_60s is not None and e.share_within_60s < CARELINE_TARGET:
        items.append(
            (
                "bad",
                t.z(
                    f"紧急呼叫 60 秒内应答率 {t.pct(e.share_within_60s)}，低于 98.5% 的标准；"
                    f"{e.late} 次超过 60 秒才应答（见“超时与未应答”）。",
                    f"Only {t.pct(e.share_within_60s)} of emergency calls were answered "
                    f"within 60 s (standard 98.5 %); {e.late} answered later "
                    "(see Late and unanswered).",
                ),
            )
        )
    for s in r.fire.equipment:
        if s.ok is False:
            v, at = (s.min, s.min_at_ms) if s.watch == "min" else (s.max, s.max_at_ms)
            items.append(
                (
                    "bad",
                    t.z(
                        f"{t.pick(FIELDS, s.field)}：{s.device_id}（{t.place(s.floor, s.room)}）"
                        f"{'最低' if s.watch == 'min' else '最高'} {t.num(v, s.unit)}"
                        f"（{t.time(at)}），{'低于下限' if s.watch == 'min' else '超过上限'}"
                        f" {t.num(s.limit, s.unit)}。",
                        f"{t.pick(FIELDS, s.field)}: {s.device_id} ({t.place(s.floor, s.room)}) "
                        f"{'fell to' if s.watch == 'min' else 'rose to'} {t.num(v, s.unit)} at "
                        f"{t.time(at)}, {'below' if s.watch == 'min' else 'above'} the limit "
                        f"{t.num(s.limit, s.unit)}.",
                    ),
                )
            )
    silent = sorted({x.device_id for x in r.fire.equipment if x.count == 0 and x.rule})
    if silent:
        items.append(
            (
                "warn",
                t.z(
                    f"消防设施本期没有任何读数，无法确认状态：{'、'.join(silent)}。",
                    "No readings in this period from fire equipment, so its state is "
                    f"unknown: {', '.join(silent)}.",
                ),
            )
        )
    if r.fire.forwarded_auto:
        items.append(
            (
                "warn",
                t.z(
                    f"{r.fire.forwarded_auto} 次火警因 15 秒内无人确认，已由系统自动通知消防。",
                    f"{r.fire.forwarded_auto} fire alarm(s) went to the fire brigade "
                    "automatically: nobody acknowledged within 15 s.",
                ),
            )
        )
    for f in r.load.floods:
        items.append(
            (
                "warn",
                t.z(
                    f"告警泛滥：{t.time(f.start_ms)} 起 {t.dur(f.seconds)}，共 {f.alarms} 条，"
                    f"主要来自 {f.top_device}（{t.rule(f.top_rule)}）。",
                    f"Alarm flood from {t.time(f.start_ms)} for {t.dur(f.seconds)}: "
                    f"{f.alarms} alarms, mostly {f.top_device} ({t.rule(f.top_rule)}).",
                ),
            )
        )
    for c in r.load.chattering:
        items.append(
            (
                "warn",
                t.z(
                    f"频繁触发：{c.device_id}（{t.place(c.floor, c.room)}）{t.rule(c.rule)} "
                    f"{c.annunciations} 次，请检查设备或调整规则。",
                    f"Chattering: {c.device_id} ({t.place(c.floor, c.room)}) {t.rule(c.rule)} "
                    f"{c.annunciations} times; check the device or the rule.",
                ),
            )
        )
    if r.load.stale:
        items.append(
            (
                "warn",
                t.z(
                    f"{len(r.load.stale)} 个告警超过 24 小时仍未关闭（见“告警负荷”）。",
                    f"{len(r.load.stale)} alert(s) open for more than 24 hours (see Alarm load).",
                ),
            )
        )
    for d in r.devices.devices[:5]:
        items.append(
            (
                "warn",
                t.z(
                    f"设备离线：{d.device_id}（{t.dtype(d.device_type)}，"
                    f"{t.place(d.floor, d.room)}）共 {t.dur(d.offline_s)}，{d.episodes} 次。",
                    f"Device offline: {d.device_id} ({t.dtype(d.device_type)}, "
                    f"{t.place(d.floor, d.room)}) for {t.dur(d.offline_s)} "
                    f"in {d.episodes} episode(s).",
                ),
            )
        )
    others = [w for w in r.unanswered if w.priority != "emergency"]
    if others:
        items.append(
            (
                "warn",
                t.z(
                    f"{len(others)} 个非紧急告警未处理："
                    + "、".join(f"{t.rule(w.rule)} {w.device_id}" for w in others[:5]),
                    f"{len(others)} non-emergency alert(s) not handled: "
                    + ", ".join(f"{t.rule(w.rule)} {w.device_id}" for w in others[:5]),
                ),
            )
        )
    if not items:
        body = f'<p class="ok">{_e(t("nothing"))}</p>'
    else:
        body = (
            '<ul class="findings">'
            + "".join(f'<li class="{css}">{_e(text)}</li>' for css, text in items)
            + "</ul>"
        )
    return f"<section><h2>{_e(t('attention'))}</h2>{body}</section>"


# --- responses -----


def _d(t: _Text, d: Durations) -> list[str]:
    return [_e(t.dur(d.median_s)), _e(t.dur(d.p90_s)), _e(t.dur(d.max_s))]


def _responses(t: _Text, r: WatchReport) -> str:
    head = [
        t.z("优先级", "Priority"), t.z("告警", "Alerts"), t.z("需应答", "Waits"),
        t.z("60秒内", "≤ 60 s"), t.z("60秒内比例", "share ≤ 60 s"),
        t.z("应答 中位", "Ack median"), "P90", t.z("最长", "Longest"),
        t.z("未应答", "Unanswered"), t.z("处置 中位", "Resolve median"), t.z("处置 P90", "P90"),
        t.z("处置 最长", "Longest"), t.z("未关闭", "Still open"),
    ]  # fmt: skip
    rows = []
    for x in r.responses:
        rows.append(
            [
                f"<b>{_e(t.prio(x.group))}</b>", _e(x.alerts), _e(x.waits), _e(x.within_60s),
                _e(t.pct(x.share_within_60s)), *_d(t, x.to_ack), _e(x.unanswered),
                *_d(t, x.to_resolve), _e(x.still_open),
            ]
        )  # fmt: skip
    hist = r.ack_histogram
    labels = [t.z("未应答", "never") if b.label == "unanswered" else b.label for b in hist]
    within = [b.count if b.hi_s is not None and b.hi_s <= ANSWER_WITHIN_S else 0 for b in hist]
    late = [
        b.count if b.lo_s is not None and b.lo_s >= ANSWER_WITHIN_S and b.label != "unanswered"
        else 0
        for b in hist
    ]  # fmt: skip
    never = [b.count if b.label == "unanswered" else 0 for b in hist]
    chart = svg.bars(
        labels,
        [
            (t.z("60秒内", "within 60 s"), "ontime", within),
            (t.z("超过60秒", "after 60 s"), "late", late),
            (t.z("未应答", "never"), "never", never),
        ],
        title=t.z("紧急呼叫应答时间分布", "Emergency calls: time to acknowledge"),
        y_title=t.z("次数", "calls"),
        marker=(3, t.z("60 秒", "60 s")),
        height=230,
    )
    note = t.z(
        "“需应答”：每次告警出现、或确认后再次触发，都需要工作人员应答一次。应答 = 确认、解除、"
        "床边复位、误报关闭、确认火警或搁置中最早的一项。处置 = 从告警出现到关闭。",
        "A wait starts when an alert is raised, or when it comes back after an "
        "acknowledgement; it ends at the first staff response (acknowledge, resolve, reset at "
        "the bedside, dismiss, confirm a fire, shelve). Resolve = raise to closed.",
    )
    return (
        f"<section><h2>{_e(t('responses'))}</h2>"
        + _table(head, rows, num=range(1, 13))
        + f'<p class="muted">{_e(note)}</p>'
        + f"<h3>{_e(t.z('紧急呼叫应答时间分布', 'Emergency calls: time to acknowledge'))}</h3>"
        + chart
        + "</section>"
    )


def _wait_rows(t: _Text, waits: Sequence[Wait]) -> list[list[str]]:
    rows = []
    for w in waits:
        again = t.z(f"（第{w.number}次）", f" (#{w.number})") if w.number > 1 else ""
        rows.append(
            [
                _nw(t.time(w.started_ms, seconds=True)),
                _e(t.shift(w.shift)),
                _e(t.prio(w.priority)),
                _e(t.rule(w.rule) + again),
                _e(t.place(w.floor, w.room, w.bed)),
                _nw(w.device_id),
                f"<b>{_e(t.dur(w.seconds))}</b>" if w.seconds is not None
                else f'<b class="bad">{_e(t.z("未应答", "never"))}</b>',
                _e(_how(t, w.answer, w.answered_by)) if w.answer else "—",
                _e(t.pick(TARGETS, w.escalated_to)),
            ]
        )  # fmt: skip
    return rows


def _how(t: _Text, answer: str, by: str | None) -> str:
    if answer == "reset" or by is None or by.startswith("device:"):
        return t.pick(ANSWERS, answer)
    return f"{t.pick(ANSWERS, answer)} · {t.who(by)}"


def _late(t: _Text, r: WatchReport) -> str:
    head = [
        t.z("时间", "When"), t.z("班次", "Shift"), t.z("优先级", "Priority"),
        t.z("告警", "Alert"), t.z("位置", "Where"), t.z("设备", "Device"),
        t.z("应答用时", "Answered after"), t.z("应答方式 · 人员", "How · who"),
        t.z("已升级至", "Escalated to"),
    ]  # fmt: skip
    return (
        f'<section><h2>{_e(t("late_unanswered"))}</h2>'
        f"<h3>{_e(t.z('未应答（任何优先级）', 'Not answered (any priority)'))}</h3>"
        + _table(head, _wait_rows(t, r.unanswered), num=[6],
                 empty=t.z("没有未应答的告警。", "Every alert was answered."))
        + f"<h3>{_e(t.z('紧急呼叫超过 60 秒才应答', 'Emergency calls answered after 60 s'))}</h3>"
        + _table(head, _wait_rows(t, r.late), num=[6],
                 empty=t.z("没有超时的紧急呼叫。", "No emergency call waited longer than 60 s."))
        + "</section>"
    )  # fmt: skip


# --- shifts -----


def _shift_name(t: _Text, name: str, name_en: str | None) -> str:
    return name if t.zh or not name_en else f"{name_en} ({name})"


def _shift_cells(t: _Text, e: Responses) -> list[str]:
    return [
        _e(e.waits), _e(e.within_60s), _e(t.pct(e.share_within_60s)),
        _e(t.dur(e.to_ack.median_s)), _e(t.dur(e.to_ack.mean_s)), _e(t.dur(e.to_ack.max_s)),
    ]  # fmt: skip


def _shifts(t: _Text, r: WatchReport) -> str:
    head_total = [
        t.z("班次", "Shift"), t.z("班数", "Shifts"), t.z("告警", "Alerts"),
        t.z("紧急需应答", "Emergency waits"), t.z("60秒内", "≤ 60 s"),
        t.z("60秒内比例", "share ≤ 60 s"), t.z("应答 中位", "Ack median"),
        t.z("平均", "Mean"), t.z("最长", "Longest"), t.z("未应答", "Unanswered"),
    ]  # fmt: skip
    totals = [
        [f"<b>{_e(_shift_name(t, s.name, s.name_en))}</b>", _e(s.shifts), _e(s.alerts),
         *_shift_cells(t, s.emergency), _e(s.unanswered)]
        for s in r.shift_totals
    ]  # fmt: skip
    head = [t.z("日期", "Date"), *head_total[:1], *head_total[2:]]
    rows = []
    for s in r.shifts if len(r.shifts) <= MAX_SHIFT_ROWS else []:
        bad = s.unanswered or (
            s.emergency.share_within_60s is not None
            and s.emergency.share_within_60s < CARELINE_TARGET
        )
        mark = ' <span class="badge bad"></span>' if bad else ""
        rows.append(
            [_e(s.date[5:]), _e(_shift_name(t, s.name, s.name_en)) + mark, _e(s.alerts),
             *_shift_cells(t, s.emergency), _e(s.unanswered)]
        )  # fmt: skip
    note = t.z(
        "班次时间按现场文件设置（当地时间）；跨午夜的夜班记在开始的日期。"
        "✗ = 有未应答或60秒内应答率低于98.5%。",
        "Shift times from the site file (local time); a night shift counts on the date it "
        "started. ✗ = something unanswered, or under 98.5 % answered within 60 s.",
    )
    return (
        f"<section><h2>{_e(t('per_shift'))}</h2>"
        + _table(head_total, totals, num=range(1, 10))
        + (
            _table(head, rows, num=range(2, 10))
            if rows
            else _p(
                t.z(
                    f"共 {len(r.shifts)} 个班次：逐班数据见 CSV（班次）。",
                    f"{len(r.shifts)} shifts: every single shift is in the CSV (shifts).",
                )
            )
        )
        + f'<p class="muted">{_e(note)}</p></section>'
    )


# --- distribution -----


def _distribution(t: _Text, r: WatchReport) -> str:
    if r.timeline_step == "day":
        labels = [t.time(b.start_ms)[:5] for b in r.timeline]
        what = t.z("每个值守日的告警", "Alerts per watch day")
    else:
        labels = [
            datetime.fromtimestamp(b.start_ms / 1000, t.tz).strftime("%H") for b in r.timeline
        ]
        what = t.z("每小时的告警", "Alerts per hour")
    every = max(1, len(labels) // 24)
    chart = svg.bars(
        labels,
        [
            (t("emergency"), "emergency", [b.emergency for b in r.timeline]),
            (t("routine"), "routine", [b.routine for b in r.timeline]),
            (t("trouble"), "trouble", [b.trouble for b in r.timeline]),
        ],
        title=what,
        y_title=t.z("告警", "alerts"),
        label_every=every,
    )
    rule_rows = [
        [_e(t.rule(c.rule)), _e(t.prio(c.priority)), _e(c.alerts), _e(c.annunciations),
         _e(c.waits), _e(c.within_60s), _e(t.dur(c.median_ack_s)), _e(t.dur(c.max_ack_s))]
        for c in r.by_rule
    ]  # fmt: skip
    rule_head = [
        t.z("类型", "Type"), t.z("优先级", "Priority"), t.z("告警", "Alerts"),
        t.z("触发次数", "Annunciations"), t.z("需应答", "Waits"), t.z("60秒内", "≤ 60 s"),
        t.z("应答 中位", "Ack median"), t.z("最长", "Longest"),
    ]  # fmt: skip
    place_head = [t.z("位置", "Where"), t.z("告警", "Alerts"), t.z("紧急", "Emergency"),
                  t.z("触发次数", "Annunciations")]  # fmt: skip
    floors = [[_e(p.label if p.floor else t.z("系统", "system")), _e(p.alerts), _e(p.emergency),
               _e(p.annunciations)] for p in r.by_floor]  # fmt: skip
    rooms = [[_e(t.place(p.floor, p.room)), _e(p.alerts), _e(p.emergency), _e(p.annunciations)]
             for p in r.by_room[:15]]  # fmt: skip
    more = len(r.by_room) - 15
    rest = (
        f'<p class="muted">{_e(t.z(f"另有 {more} 个房间各有告警", f"{more} more rooms"))}</p>'
        if more > 0
        else ""
    )
    return (
        f"<section><h2>{_e(t('distribution'))}</h2><h3>{_e(what)}</h3>{chart}"
        f"<h3>{_e(t.z('按类型', 'By type'))}</h3>"
        + _table(rule_head, rule_rows, num=range(2, 8), empty=t.z("无告警", "No alerts"))
        + '<div class="two"><div>'
        + f"<h3>{_e(t.z('按楼层', 'By floor'))}</h3>"
        + _table(place_head, floors, num=range(1, 4))
        + "</div><div>"
        + f"<h3>{_e(t.z('按房间（最多的15间）', 'By room (top 15)'))}</h3>"
        + _table(place_head, rooms, num=range(1, 4))
        + rest
        + "</div></div></section>"
    )


# --- alarm load -----


def _load(t: _Text, r: WatchReport) -> str:
    load = r.load
    kpis = [
        [t.z("平均每 10 分钟告警数", "Average alarms per 10 minutes"), f"{load.per_10min:.2f}",
         t.z("≤ 1 可接受，≤ 2 尚可", "≤ 1 acceptable, ≤ 2 manageable"),
         _badge(load.per_10min <= 2, t.z("达标", "within"), t.z("过载", "overloaded"),
                warn=load.per_10min <= 2)
         if load.per_10min > 1 else _badge(True, t.z("达标", "within"), "")],
        [t.z("任意 10 分钟内最多", "Most alarms in any 10 minutes"), str(load.peak_10min)
         + (f" ({t.time(load.peak_at_ms)})" if load.peak_at_ms else ""), "≤ 10",
         _badge(load.peak_10min <= FLOOD_COUNT, t.z("达标", "within"), t.z("泛滥", "flood"))],
        [t.z("超过 10 条的 10 分钟时段占比", "10-minute periods with more than 10 alarms"),
         f"{load.periods_over_10} / {load.ten_minute_periods} "
         f"({t.pct(load.share_periods_over_10, 2)})", "< 1%",
         _badge(load.share_periods_over_10 < 0.01, t.z("达标", "within"), t.z("超标", "over"))],
        [t.z("泛滥时长", "Time in flood"), t.dur(load.flood_s), "—", ""],
        [t.z("频繁触发的告警", "Chattering alarms"), str(len(load.chattering)), "0",
         _badge(not load.chattering, t.z("无", "none"), t.z("需处理", "fix"))],
        [t.z("超过 24 小时未关闭", "Stale alarms (open > 24 h)"), str(len(load.stale)), "< 5",
         _badge(len(load.stale) < 5, t.z("达标", "within"), t.z("超标", "over"), warn=True)],
        [t.z("最吵的 10 台设备占比", "Share of the 10 noisiest devices"),
         t.pct(load.top10_devices_share), "—", ""],
    ]  # fmt: skip
    kpi_rows = [[_e(a), _e(b), _e(c), d] for a, b, c, d in kpis]
    head = [t.z("指标", "Figure"), t.z("本期", "This period"), t.z("参考值", "Target"),
            t.z("结论", "Verdict")]  # fmt: skip
    # a long period: one point per k 10-minute periods, the busiest one, so floods show
    k = max(1, -(-len(load.per_period) // MAX_POINTS))
    points = [max(load.per_period[i : i + k]) for i in range(0, len(load.per_period), k)]
    ticks = [(i // k, label) for i, label in _ticks(t, r.start_ms, len(load.per_period))]
    chart = svg.steps(
        points,
        ticks,
        title=t.z("每 10 分钟告警数", "Alarms per 10 minutes")
        + (
            t.z("（每点为该段最多的 10 分钟）", " (each point: the busiest 10 min)")
            if k > 1
            else ""
        ),
        y_title=t.z("条/10分钟", "per 10 min"),
        limit=(FLOOD_COUNT, t.z("泛滥线：10 条", "flood: more than 10")),
    )
    floods = [
        [
            _e(t.time(f.start_ms, True)),
            _e(t.time(f.end_ms, True)),
            _e(t.dur(f.seconds)),
            _e(f.alarms),
            _e(f.top_device),
            _e(t.rule(f.top_rule)),
        ]
        for f in load.floods
    ]
    chatter = [
        [
            _e(c.device_id),
            _e(t.place(c.floor, c.room)),
            _e(t.rule(c.rule)),
            _e(t.time(c.since_ms, True)),
            _e(c.annunciations),
        ]
        for c in load.chattering
    ]
    stale = [
        [
            _e(s.device_id),
            _e(t.place(s.floor, s.room)),
            _e(t.rule(s.rule)),
            _e(t.prio(s.priority)),
            _e(t.time(s.raised_ms)),
            _e(t.dur(s.age_h * 3600)),
            _e(t.pick(STATES, s.state)),
        ]
        for s in load.stale
    ]
    top_dev = [
        [_e(n.key), _e(t.room(n.label or None)), _e(n.annunciations), _e(t.pct(n.share))]
        for n in load.top_devices
    ]
    top_rule = [[_e(t.rule(n.key)), _e(n.annunciations), _e(t.pct(n.share))]
                for n in load.top_rules]  # fmt: skip
    return (
        f'<section><h2>{_e(t("load"))}</h2>'
        + _table(head, kpi_rows, num=[1])
        + chart
        + _h3(t.z("告警泛滥（10 分钟内超过 10 条）", "Floods (more than 10 in 10 minutes)"))
        + _table([t.z("开始", "From"), t.z("结束", "To"), t.z("时长", "Length"),
                  t.z("告警", "Alarms"), t.z("主要设备", "Top device"),
                  t.z("主要类型", "Top type")],
                 floods, num=[2, 3], empty=t.z("无", "None"))
        + _h3(t.z("频繁触发（1 分钟内 3 次以上）", "Chattering (3 or more in 1 minute)"))
        + _table([t.z("设备", "Device"), t.z("位置", "Where"), t.z("类型", "Type"),
                  t.z("开始", "Since"), t.z("触发次数", "Annunciations")], chatter, num=[4],
                 empty=t.z("无", "None"))
        + f"<h3>{_e(t.z('超过 24 小时未关闭', 'Stale: open for more than 24 hours'))}</h3>"
        + _table([t.z("设备", "Device"), t.z("位置", "Where"), t.z("类型", "Type"),
                  t.z("优先级", "Priority"), t.z("出现", "Raised"), t.z("已持续", "Open for"),
                  t.z("状态", "State")], stale, num=[5], empty=t.z("无", "None"))
        + '<div class="two"><div>'
        + f"<h3>{_e(t.z('触发最多的设备', 'Noisiest devices'))}</h3>"
        + _table([t.z("设备", "Device"), t.z("位置", "Where"), t.z("次数", "Count"),
                  t.z("占比", "Share")], top_dev, num=[2, 3], empty=t.z("无", "None"))
        + "</div><div>"
        + f"<h3>{_e(t.z('触发最多的类型', 'Noisiest alert types'))}</h3>"
        + _table([t.z("类型", "Type"), t.z("次数", "Count"), t.z("占比", "Share")], top_rule,
                 num=[1, 2], empty=t.z("无", "None"))
        + "</div></div></section>"
    )  # fmt: skip


def _ticks(t: _Text, start_ms: int, periods: int) -> list[tuple[int, str]]:
    """x-axis labels for 10-minute periods: every day (long) or every 3 hours (short)."""
    per_h = 6
    every = 24 * per_h if periods > 3 * 24 * per_h else 3 * per_h
    fmt = "%m-%d" if every >= 24 * per_h else "%H:%M"
    return [
        (i, datetime.fromtimestamp((start_ms + i * 600_000) / 1000, t.tz).strftime(fmt))
        for i in range(0, periods + 1, every)
    ]


# --- devices -----


def _devices(t: _Text, r: WatchReport) -> str:
    d = r.devices
    types = [[_e(t.dtype(x.device_type)), _e(x.registered), _e(x.offline_devices),
              _e(x.episodes), _e(t.dur(x.offline_s) if x.offline_s else "—"),
              _e(t.pct(x.availability, 3))] for x in d.by_type]  # fmt: skip
    eps = [[_e(e.device_id), _e(t.dtype(e.device_type)), _e(t.place(e.floor, e.room)),
            _e(t.time(e.start_ms)), _e(t.time(e.end_ms) if e.end_ms else t.z("仍离线", "still")),
            _e(t.dur(e.seconds))] for e in d.episodes]  # fmt: skip
    batt = [[_e(b.device_id), _e(t.dtype(b.device_type)), _e(t.place(b.floor, b.room)),
             _e(t.time(b.raised_ms)), _e(_battery(b.value)),
             _badge(not b.open_at_end, t.z("已处理", "handled"), t.z("未处理", "open"))]
            for b in d.battery]  # fmt: skip
    maint = [[_e(m.device_id), _e(t.dtype(m.device_type)), _e(t.room(m.room)),
              _e(t.time(m.start_ms)), _e(t.time(m.end_ms) if m.end_ms else "—"),
              _e(t.who(m.by)), _e(m.note or "—"), _e(t.who(m.ended_by))]
             for m in d.maintenance]  # fmt: skip
    note = t.z(
        "离线时间从系统发出“设备离线”告警（遗嘱消息立即发出；静默设备在监测周期后发出）"
        "到再次收到该设备消息为止；停用维护期间不计为离线。",
        "Offline time runs from the watch's 'device offline' alert (at once on the device's "
        "last will; after its supervision interval for a silent device) until the device is "
        "heard again; time out of service (maintenance) is not offline.",
    )
    return (
        f'<section><h2>{_e(t("devices"))}</h2>'
        + _table([t.z("设备类型", "Device type"), t.z("登记", "Registered"),
                  t.z("离线设备", "Went offline"), t.z("离线次数", "Episodes"),
                  t.z("离线时长", "Offline time"), t.z("在线率", "Availability")], types,
                 num=range(1, 6))
        + f'<p class="muted">{_e(note)}</p>'
        + f"<h3>{_e(t.z('离线记录', 'Offline episodes'))}</h3>"
        + _table([t.z("设备", "Device"), t.z("类型", "Type"), t.z("位置", "Where"),
                  t.z("离线", "Offline"), t.z("恢复", "Back"), t.z("时长", "Length")], eps,
                 num=[5], empty=t.z("无", "None"))
        + f"<h3>{_e(t.z('电量低', 'Low battery'))}</h3>"
        + _table([t.z("设备", "Device"), t.z("类型", "Type"), t.z("位置", "Where"),
                  t.z("出现", "Raised"), t.z("读数", "Reading"), t.z("期末", "At the end")],
                 batt, empty=t.z("无", "None"))
        + f"<h3>{_e(t.z('停用维护', 'Out of service (maintenance)'))}</h3>"
        + _table([t.z("设备", "Device"), t.z("类型", "Type"), t.z("房间", "Room"),
                  t.z("开始", "From"), t.z("结束", "To"), t.z("操作人", "By"),
                  t.z("原因", "Reason"), t.z("结束方式", "Ended by")], maint,
                 empty=t.z("无", "None"))
        + "</section>"
    )  # fmt: skip


# --- fire -----


def _equipment_row(t: _Text, s: SeriesFigure) -> list[str]:
    lo = f"{t.num(s.min, s.unit)} ({t.time(s.min_at_ms)})" if s.min is not None else "—"
    hi = f"{t.num(s.max, s.unit)} ({t.time(s.max_at_ms)})" if s.max is not None else "—"
    if s.limit is None:
        limit = "—"
    else:
        limit = ("≥ " if s.watch == "min" else "≤ ") + t.num(s.limit, s.unit)
    if s.count == 0:
        verdict = f'<span class="badge warn">{_e(t.z("无数据", "no readings"))}</span>'
    elif s.ok is None:
        verdict = '<span class="muted">—</span>'
    else:
        verdict = _badge(
            s.ok,
            t.z("正常", "normal"),
            t.z("低于下限", "below limit") if s.watch == "min" else t.z("超过上限", "above limit"),
        )
    return [
        _e(s.device_id), _e(t.place(s.floor, s.room)), _e(t.pick(FIELDS, s.field)),
        _e(s.count), _e(lo), _e(hi), _e(limit), verdict,
    ]  # fmt: skip


def _why(t: _Text, note: str) -> str:
    """The fire policy's reason for a forward (alerting/firepolicy.py), in the reader's words."""
    fixed = {
        "not acknowledged in time": ("15 秒内无人确认", "not acknowledged within 15 s"),
        "not resolved in time": ("180 秒内未核实", "not investigated within 180 s"),
        "confirmed by staff": ("工作人员确认", "confirmed by staff"),
    }
    if note in fixed:
        return t.pick(fixed, note)
    for prefix, zh, en in (
        ("confirmed: ", "确认：", "confirmed: "),
        ("confirmed by ", "由此确认：", "confirmed by "),
    ):
        if note.startswith(prefix):
            return t.z(zh, en) + t.rule(note[len(prefix) :])
    return note


def _fire(t: _Text, r: WatchReport) -> str:
    f = r.fire
    alarms = []
    for a in f.items:
        ack = t.dur(a.ack_s)
        fast = a.ack_s is not None and a.ack_s <= FIRE_ACK_S
        fwd = "—"
        if a.forwarded_ms is not None:
            how = t.who(a.forwarded_by) if a.forwarded_by else t.z("系统自动", "automatic")
            fwd = f"{t.time(a.forwarded_ms, True)} · {how}"
            if a.forward_note:
                fwd += f" · {_why(t, a.forward_note)}"
        dismissed = f"{t.who(a.dismissed_by)}: {a.dismiss_note}" if a.dismissed_by else "—"
        alarms.append(
            [_nw(t.time(a.raised_ms, True)), _e(t.rule(a.rule)), _e(t.place(a.floor, a.room)),
             _nw(a.device_id), f'<span class="badge {"ok" if fast else "bad"}">{_e(ack)}</span>',
             _e(fwd), _e(dismissed)]
        )  # fmt: skip
    eq = [_equipment_row(t, s) for s in f.equipment]
    note = t.z(
        "NFPA 72 预警程序：烟感报警需 15 秒内确认，否则自动通知消防；确认后 180 秒内核实。"
        "水压下限与电气上限取自各设备生效的告警规则（GB 50974、GB 50116）。",
        "NFPA 72 positive alarm sequence: a smoke alarm must be acknowledged within 15 s, or it "
        "goes to the fire brigade; then 180 s to investigate. Pressure minimums and electrical "
        "limits are the rules in force for each device (GB 50974, GB 50116).",
    )
    return (
        f'<section><h2>{_e(t("fire"))}</h2>'
        f"<h3>{_e(t.z('火警', 'Fire alarms'))}</h3>"
        + _table([t.z("时间", "When"), t.z("类型", "Type"), t.z("位置", "Where"),
                  t.z("设备", "Device"), t.z("确认用时", "Acknowledged after"),
                  t.z("通知消防", "To the fire brigade"), t.z("误报（原因）", "False (why)")],
                 alarms, num=[4], empty=t.z("本期无火警", "No fire alarm in this period"))
        + _h3(t.z("消防水压与电气火灾监控", "Fire-water pressure and electrical monitors"))
        + _table([t.z("设备", "Device"), t.z("位置", "Where"), t.z("测量", "Measure"),
                  t.z("读数", "Readings"), t.z("最低（时间）", "Lowest (when)"),
                  t.z("最高（时间）", "Highest (when)"), t.z("限值", "Limit"),
                  t.z("结论", "Verdict")], eq, num=[3],
                 empty=t.z("未登记消防设施", "No fire equipment registered"))
        + f'<p class="muted">{_e(note)}</p></section>'
    )  # fmt: skip


def _definitions(t: _Text) -> str:
    items = [
        (t.z("需应答 / 应答时间", "Wait / time to acknowledge"), t.z(
            "告警出现（或确认后再次触发）到工作人员第一次响应（确认、解除、床边复位、误报关闭、"
            "确认火警、搁置）的时间。报告生成时仍未应答、且不足 60 秒的不计入比例。",
            "From an alert's raise (or its return after an acknowledgement) to the first staff "
            "response (acknowledge, resolve, reset at the bedside, dismiss, confirm a fire, "
            "shelve). Waits younger than 60 s and still unanswered when the report was made are "
            "left out of the share.")),
        (t.z("60 秒标准", "The 60-second standard"), t.z(
            "参照英国紧急呼叫服务标准：98.5% 的紧急呼叫在 60 秒内应答。紧急 = 跌倒、呼叫、SOS、"
            "烟雾、火警确认、夜间离房等。",
            "The careline standard: 98.5 % of emergency calls answered within 60 s. Emergency = "
            "falls, calls, SOS, smoke, confirmed fire, night wandering and the like.")),
        (t.z("中位、P90", "Median, p90"), t.z(
            "中位：一半更快、一半更慢；P90：90% 的应答不超过此时间（最近秩法）。",
            "Median: half were faster; p90: 90 % were at or below it (nearest rank).")),
        (t.z("触发次数、告警负荷", "Annunciations, alarm load"), t.z(
            "每次告警出现或重复出现都算一次（搁置中的除外），按一个值班室计算。ISA-18.2："
            "平均每 10 分钟 ≤ 1 条可接受；10 分钟内超过 10 条为泛滥；1 分钟内 3 次以上为频繁触发；"
            "超过 24 小时未关闭为陈旧告警。",
            "Every raise or repeat the duty room saw (shelved ones excluded), for one duty room. "
            "ISA-18.2: about 1 per 10 minutes is acceptable; more than 10 in 10 minutes is a "
            "flood; 3 or more in a minute is chattering; open for more than 24 hours is stale.")),
        (t.z("在线率", "Availability"), t.z(
            "1 − 离线时间 ÷（登记设备数 × 报告时长）。",
            "1 − offline time ÷ (registered devices × length of the period).")),
    ]  # fmt: skip
    body = "".join(f"<dt>{_e(a)}</dt><dd>{_e(b)}</dd>" for a, b in items)
    return f'<section><h2>{_e(t("definitions"))}</h2><dl class="defs">{body}</dl></section>'
