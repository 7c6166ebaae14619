"""Device availability: offline episodes (from the offline alerts), availability per
device and per type, low batteries, and maintenance windows (out of service)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from alerting.reports.compute.history import (
    Alert,
    Context,
    condition_spans,
)
from alerting.reports.model import (
    BatteryRow,
    DeviceAvailability,
    DeviceFigures,
    MaintenanceRow,
    OfflineEpisode,
    TypeAvailability,
)
from alerting.reports.rows import StoreRows
from alerting.rules import AbsenceRule, EventRule, ThresholdRule


def device_figures(
    ctx: Context, alerts: Mapping[int, Alert], rows: StoreRows, start_ms: int, end_ms: int
) -> DeviceFigures:
    """Offline episodes, availability per device and per type, low batteries and
    maintenance windows over the period."""
    rules = ctx.rules.rules
    absence = {n for n, r in rules.items() if isinstance(r, AbsenceRule)}
    battery = {
        n
        for n, r in rules.items()
        if (isinstance(r, ThresholdRule) and r.field == "battery_pct")
        or (isinstance(r, EventRule) and "low_battery" in r.events)
    }
    span = end_ms - start_ms
    episodes: list[OfflineEpisode] = []
    batteries: list[BatteryRow] = []
    for a in alerts.values():
        if a.row.rule in absence:
            episodes += _episodes(a, start_ms, end_ms)
        elif a.row.rule in battery:
            open_at_end = a.closed_ms is None or a.closed_ms > end_ms
            if start_ms <= a.row.raised_at < end_ms or (a.row.raised_at < start_ms and open_at_end):
                batteries.append(
                    BatteryRow(
                        alert_id=a.row.id,
                        device_id=a.row.device_id,
                        device_type=a.device.type.name if a.device else None,
                        floor=a.row.floor,
                        room=a.row.room,
                        raised_ms=a.row.raised_at,
                        open_at_end=open_at_end,
                        value=a.row.value,
                    )
                )
    episodes.sort(key=lambda e: (e.start_ms, e.device_id))
    batteries.sort(key=lambda b: (b.raised_ms, b.device_id))

    per_device: dict[str, list[OfflineEpisode]] = defaultdict(list)
    for e in episodes:
        per_device[e.device_id].append(e)
    devices = []
    for dev_id, eps in per_device.items():
        off = sum(e.seconds for e in eps)
        first = eps[0]
        devices.append(
            DeviceAvailability(
                device_id=dev_id,
                device_type=first.device_type,
                floor=first.floor,
                room=first.room,
                episodes=len(eps),
                offline_s=off,
                availability=1 - off * 1000 / span,
            )
        )
    devices.sort(key=lambda d: (d.availability, d.device_id))

    registered = ctx.registry.devices()
    by_type = []
    for t in sorted({d.type.name for d in registered}):
        of_type = [d for d in registered if d.type.name == t]
        ids = {d.id for d in of_type}
        eps = [e for e in episodes if e.device_id in ids]
        off = sum(e.seconds for e in eps)
        by_type.append(
            TypeAvailability(
                device_type=t,
                label_zh=of_type[0].type.label("zh"),
                label_en=of_type[0].type.label("en"),
                registered=len(of_type),
                offline_devices=len({e.device_id for e in eps}),
                episodes=len(eps),
                offline_s=off,
                availability=1 - off * 1000 / (span * len(of_type)),
            )
        )
    reg_ids = {d.id for d in registered}
    offline_s = sum(e.seconds for e in episodes if e.device_id in reg_ids)
    return DeviceFigures(
        registered=len(registered),
        availability=1 - offline_s * 1000 / (span * len(registered)) if registered else None,
        offline_s=offline_s,
        by_type=by_type,
        devices=devices,
        episodes=episodes,
        battery=batteries,
        maintenance=_maintenance(ctx, rows, start_ms, end_ms),
    )


def _episodes(a: Alert, start_ms: int, end_ms: int) -> list[OfflineEpisode]:
    """Offline from each raise or repeat of an offline alert until the device was heard
    again (its condition cleared) or the alert was closed (history.condition_spans)."""
    spans = condition_spans(a)
    out = []
    dev = a.device
    for lo, hi in spans:
        inside = min(end_ms if hi is None else hi, end_ms) - max(lo, start_ms)
        if inside <= 0 and not (start_ms <= lo < end_ms):
            continue
        out.append(
            OfflineEpisode(
                alert_id=a.row.id,
                device_id=a.row.device_id,
                device_type=dev.type.name if dev else None,
                floor=a.row.floor,
                room=a.row.room,
                start_ms=lo,
                end_ms=hi if hi is not None and hi <= end_ms else None,
                seconds=max(inside, 0) / 1000,
            )
        )
    return out


def _maintenance(ctx: Context, rows: StoreRows, start_ms: int, end_ms: int) -> list[MaintenanceRow]:
    """Maintenance windows (out of service) from the device log that overlap the period."""
    out = []
    open_: dict[str, tuple[int, str | None, str | None]] = {}

    def add(
        dev_id: str, lo: int, hi: int | None, by: str | None, note: str | None, ended_by: str | None
    ) -> None:
        if lo < end_ms and (hi is None or hi > start_ms):
            dev = ctx.registry.by_id(dev_id)
            out.append(
                MaintenanceRow(
                    device_id=dev_id,
                    device_type=dev.type.name if dev else None,
                    room=dev.room if dev else None,
                    start_ms=lo,
                    end_ms=hi if hi is not None and hi <= end_ms else None,
                    by=by,
                    note=note,
                    ended_by=ended_by if hi is not None and hi <= end_ms else None,
                )
            )

    for r in sorted(rows.device_log, key=lambda r: r.at):
        if r.action == "maintenance_start":
            open_[r.device_id] = (r.at, r.by, r.note)
        elif r.action == "maintenance_end" and r.device_id in open_:
            lo, by, note = open_.pop(r.device_id)
            add(r.device_id, lo, r.at, by, note, r.by)
    for dev_id, (lo, by, note) in open_.items():
        add(dev_id, lo, None, by, note, None)
    out.sort(key=lambda m: (m.start_ms, m.device_id))
    return out
