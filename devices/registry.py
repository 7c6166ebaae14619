"""The site registry: every site one service watches, each with its floors and rooms (a
nursing home) or its address (a home bed), residents, staff and devices.

A site is one YAML file; a service watches one file (`CAREWATCH_SITE_FILE`) or a folder of
them (`CAREWATCH_SITES_DIR`, docs/sites.md). Each file is validated alone, then the set:
site ids, device ids, staff ids and API tokens are unique across the service, and
Zigbee2MQTT friendly names unique per Zigbee2MQTT base topic; every error names file and
line."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, model_validator

from devices.profiles import DEVICE_TYPES, DeviceType
from devices.yamlconf import (
    ConfigError,
    Lines,
    StrictModel,
    load_yaml,
    located,
    validation_problems,
)
from devices.zigbee import profile_for, validate_profiles

SITE_PATTERN = r"^[a-z0-9-]{1,32}$"
DEVICE_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
# `alerts` carries the MQTT alert topic, `service` the watch's own status topic
RESERVED_DEVICE_IDS = frozenset({"alerts", "service"})
# the site of the watch's own (system) alerts: outside SITE_PATTERN, never a real site
SYSTEM_SITE = "_system"
HOME_BED_ROOM = "home"
# a Zigbee2MQTT friendly name becomes part of a topic we subscribe to: no wildcards, no
# empty levels, not the bridge's own topics nor a device's command/availability topics
_FRIENDLY = re.compile(r"^[^+#/\x00]+(/[^+#/\x00]+)*$")
_FRIENDLY_RESERVED_END = ("/availability", "/set", "/get")


class RoomConfig(StrictModel):
    """A room of the site file; devices name it by id, alerts and reports place by it."""

    id: str = Field(min_length=1, max_length=32, description="room number as on the door")
    name: str | None = Field(None, description="display name, e.g. 'pump room'")
    beds: list[str] = Field(default_factory=list, description="bed labels in this room")


class FloorConfig(StrictModel):
    """A floor of the site file with its rooms; `name` is shown, else the id."""

    id: str = Field(min_length=1, max_length=16, description="floor id, e.g. '1', 'B1'")
    name: str | None = Field(None, description="display name, e.g. '1F'")
    rooms: list[RoomConfig] = Field(description="rooms on this floor")


class ResidentConfig(StrictModel):
    """A resident of the site file; devices refer to the id. The display name is for the duty screen
    only: never in logs, reports or notifications."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="resident reference")
    display_name: str = Field(
        min_length=1, max_length=64, description="shown on the duty screen only"
    )


class StaffConfig(StrictModel):
    """A staff member who may act on the screen with a PIN; the id is recorded as `by` in the audit,
    the PIN only as its hash."""

    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="staff id, recorded as `by`")
    name: str = Field(min_length=1, max_length=32, description="shown on the screen")
    pin_hash: str = Field(
        pattern=r"^pbkdf2_sha256\$\d+\$[0-9a-f]+\$[0-9a-f]+$",
        description="from `carewatch hash-pin`; the PIN itself is never stored",
    )
    role: Literal["carer", "supervisor"] = Field(
        "carer", description="a supervisor may override a call's bedside reset, with a reason"
    )


class ApiTokenConfig(StrictModel):
    """A bearer token of the API, kept as its SHA-256 only; the role bounds what its holder may
    do."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="who holds it, e.g. fire-panel")
    role: Literal["viewer", "duty", "admin"] = Field(description="what it may do")
    token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="from `carewatch token`; the token is never stored"
    )


class DeviceConfig(StrictModel):
    """A device of the site file: its type, where it is, and which MQTT contract it speaks;
    SiteConfig checks every reference."""

    id: str = Field(pattern=DEVICE_PATTERN, description="device id as in its MQTT topic")
    type: str = Field(description="device type from the device table")
    room: str = Field(description="room id where it is installed")
    bed: str | None = Field(None, description="bed label, for call buttons and wearables")
    resident: str | None = Field(None, description="resident reference (id), never a name")
    label: str | None = Field(None, description="installer's note, e.g. 'bathroom cord'")
    source: Literal["carewatch", "zigbee2mqtt"] = Field(
        "carewatch", description="which MQTT contract the device speaks"
    )
    friendly_name: str | None = Field(None, max_length=128, description="Zigbee2MQTT friendly name")
    model: str | None = Field(
        None,
        max_length=64,
        description="Zigbee2MQTT model id (e.g. SJCGQ11LM): picks its entry in devices/zigbee.py",
    )


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class ShiftConfig(StrictModel):
    """A duty shift of the site file: from its start (local time) to the next shift's start; the
    reports count per shift."""

    name: str = Field(min_length=1, max_length=16, description="e.g. 早班")
    name_en: str | None = Field(None, max_length=16, description="e.g. Day, for English")
    start: str = Field(pattern=HHMM, description="HH:MM local time (the rules file's timezone)")


class DailyReportConfig(StrictModel):
    """The watch report written every day to <data_dir>/reports/ (docs/reports.md)."""

    enabled: bool = True
    at: str | None = Field(
        None, pattern=HHMM, description="HH:MM local time; default: the first shift's start"
    )
    notify: str | None = Field(
        None, description="a webhook target of the rules file that gets the daily report"
    )


class ExportConfig(StrictModel):
    """The site's safety figures sent each day to the regulator's platform (docs/export.md)."""

    notify: str | None = Field(
        None, description="a webhook target of the site's rules that gets the daily export"
    )


class SiteConfig(StrictModel):
    """The site file (YAML): a nursing home with floors and rooms, or a home bed (an address,
    one or two residents); residents, staff, API tokens, devices and shifts, every reference
    checked on load (`load_sites`)."""

    id: str = Field(pattern=SITE_PATTERN, description="site id as in MQTT topics")
    kind: Literal["home", "home_bed"] = Field(
        "home", description="home: a nursing home; home_bed: a home care bed (家庭养老床位)"
    )
    name: str = Field(min_length=1, description="the home's name")
    address: str = Field("", description="street address, for the fire brigade")
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    timezone: str | None = Field(
        None, description="IANA zone of the site (default: its rules file's timezone)"
    )
    rules_file: Path | None = Field(
        None,
        description="the site's own rules file, relative to this file (default: the"
        " service's rules)",
    )
    zigbee_prefix: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[^+#\x00]+$",
        description="this site's Zigbee2MQTT base topic (default: the service's)",
    )
    floors: list[FloorConfig] = Field(
        default_factory=list,
        description="floors and rooms; a home bed without them has one room, `home`",
    )
    residents: list[ResidentConfig] = Field(default_factory=list)
    staff: list[StaffConfig] = Field(
        default_factory=list, description="who can acknowledge on the screen (PIN login)"
    )
    api_tokens: list[ApiTokenConfig] = Field(
        default_factory=list, description="bearer tokens for the API, stored hashed"
    )
    devices: list[DeviceConfig] = Field(default_factory=list)
    shifts: list[ShiftConfig] = Field(
        default_factory=list, description="duty shifts by start time; reports per shift"
    )
    daily_report: DailyReportConfig = Field(default_factory=DailyReportConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

    @model_validator(mode="before")
    @classmethod
    def _home_bed_room(cls, data: object) -> object:
        """A home bed may leave out floors: it is one home, room `home` on floor 1."""
        if isinstance(data, dict) and data.get("kind") == "home_bed" and not data.get("floors"):
            return {**data, "floors": [{"id": "1", "rooms": [{"id": HOME_BED_ROOM, "name": "家"}]}]}
        return data

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        if not self.floors:
            raise ValueError("floors: a home needs at least one floor with its rooms")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"timezone: unknown zone {self.timezone!r}") from None
        if self.kind == "home_bed":
            if not self.address.strip():
                raise ValueError("a home bed needs its address (where help is sent)")
            if not 1 <= len(self.residents) <= 2:
                raise ValueError("a home bed has one or two residents")
        starts = [s.start for s in self.shifts]
        if len(set(starts)) != len(starts) or len({s.name for s in self.shifts}) != len(starts):
            raise ValueError("shifts: names and start times must be unique")
        rooms = [r.id for f in self.floors for r in f.rooms]
        dup_rooms = {r for r, n in Counter(rooms).items() if n > 1}
        if dup_rooms:
            raise ValueError(f"room ids used twice: {sorted(dup_rooms)}")
        room_set = set(rooms)
        staff = [s.id for s in self.staff]
        if len(set(staff)) != len(staff):
            raise ValueError("staff ids used twice")
        residents = {r.id for r in self.residents}
        seen: set[str] = set()
        for d in self.devices:
            if d.id in seen:
                raise ValueError(f"device id {d.id!r} used twice")
            seen.add(d.id)
            if d.id in RESERVED_DEVICE_IDS:
                raise ValueError(f"device id {d.id!r} is reserved")
            if d.type not in DEVICE_TYPES:
                raise ValueError(
                    f"device {d.id}: unknown type {d.type!r}; known: {sorted(DEVICE_TYPES)}"
                )
            if d.room not in room_set:
                raise ValueError(f"device {d.id}: unknown room {d.room!r}")
            if d.resident is not None and d.resident not in residents:
                raise ValueError(f"device {d.id}: unknown resident {d.resident!r}")
            if d.source == "zigbee2mqtt" and not d.friendly_name:
                raise ValueError(f"device {d.id}: zigbee2mqtt devices need a friendly_name")
            if d.source == "zigbee2mqtt":
                _check_zigbee(d)
            elif d.model is not None:
                raise ValueError(f"device {d.id}: model is for zigbee2mqtt devices")
        names = [d.friendly_name for d in self.devices if d.source == "zigbee2mqtt"]
        twice = sorted(n for n, k in Counter(names).items() if n is not None and k > 1)
        if twice:
            raise ValueError(f"friendly names used twice: {twice}")
        return self


def _check_zigbee(d: DeviceConfig) -> None:
    name = d.friendly_name or ""
    if (
        not _FRIENDLY.match(name)
        or name == "bridge"
        or name.startswith("bridge/")
        or name.endswith(_FRIENDLY_RESERVED_END)
    ):
        raise ValueError(
            f"device {d.id}: friendly_name {name!r} cannot be a Zigbee2MQTT device topic"
            " (no +, #, empty levels, 'bridge', or a trailing /availability, /set, /get)"
        )
    if profile_for(d.type, d.model) is None:
        if d.model is not None:
            raise ValueError(
                f"device {d.id}: no Zigbee2MQTT entry for model {d.model!r} as a {d.type}"
                " (devices/zigbee.py lists the models)"
            )
        raise ValueError(f"device {d.id}: no Zigbee2MQTT entry for type {d.type!r}")


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device as the rest of the service sees it: its type (a Zigbee model's check-in
    interval applied), its place, and its resident's id, never the name."""

    id: str
    site: str
    type: DeviceType
    room: str
    floor: str
    bed: str | None
    resident: str | None
    label: str | None
    source: str
    friendly_name: str | None
    model: str | None = None


class Registry:
    """Registered devices by (site, device id) over every watched site; the only place
    residents' names live."""

    def __init__(self, sites: SiteConfig | Sequence[SiteConfig]) -> None:
        problems = validate_profiles()
        if problems:  # the table is code: a broken entry must stop the service at load
            raise ConfigError(problems)
        listed = [sites] if isinstance(sites, SiteConfig) else list(sites)
        if not listed:
            raise ConfigError(["no site to watch: give a site file or a folder of them"])
        self.sites: dict[str, SiteConfig] = {}
        self._devices: dict[tuple[str, str], Device] = {}
        self._resident_names: dict[tuple[str, str], str] = {}
        for site in listed:
            if site.id in self.sites:
                raise ConfigError([f"site id {site.id!r} given twice"])
            self.sites[site.id] = site
            self._add(site)
        self._by_id = {d.id: d for d in self._devices.values()}
        if len(self._by_id) != len(self._devices):
            raise ConfigError(["a device id is registered in two sites"])

    def _add(self, site: SiteConfig) -> None:
        floor_of = {r.id: f.id for f in site.floors for r in f.rooms}
        for d in site.devices:
            dtype = DEVICE_TYPES[d.type]
            profile = profile_for(d.type, d.model) if d.source == "zigbee2mqtt" else None
            if profile is not None:  # the model's own check-in interval
                dtype = replace(dtype, supervision_s=profile.supervision_s)
            self._devices[(site.id, d.id)] = Device(
                id=d.id,
                site=site.id,
                type=dtype,
                room=d.room,
                floor=floor_of[d.room],
                bed=d.bed,
                resident=d.resident,
                label=d.label,
                source=d.source,
                friendly_name=d.friendly_name,
                model=d.model,
            )
        for r in site.residents:
            self._resident_names[(site.id, r.id)] = r.display_name

    def only(self, site: str) -> Registry:
        """A registry of one of these sites (its reports, its screen), sharing the devices."""
        one = object.__new__(Registry)
        one.sites = {site: self.sites[site]}
        one._devices = {(site, d.id): self._devices[(site, d.id)] for d in self.sites[site].devices}
        one._resident_names = {k: n for k, n in self._resident_names.items() if k[0] == site}
        one._by_id = {d.id: d for d in one._devices.values()}
        return one

    @property
    def site(self) -> SiteConfig:
        """The one site of a single-site service; with several, ask `sites` by id (an
        error here means code that forgot which site it serves)."""
        if len(self.sites) != 1:
            raise ValueError(f"this service watches {len(self.sites)} sites: name one")
        return next(iter(self.sites.values()))

    def site_ids(self) -> list[str]:
        """The watched sites' ids, in the order they were given."""
        return list(self.sites)

    def get(self, site: str, device_id: str) -> Device | None:
        """The device registered under (site, device id), or None: messages of an unregistered
        device are rejected."""
        return self._devices.get((site, device_id))

    def by_id(self, device_id: str) -> Device | None:
        """The device by id alone (unique across the service's sites), or None."""
        return self._by_id.get(device_id)

    def zigbee_devices(self) -> list[Device]:
        """Devices read from Zigbee2MQTT topics (by friendly name)."""
        return [d for d in self._devices.values() if d.source == "zigbee2mqtt"]

    def devices(self, site: str | None = None) -> list[Device]:
        """Every registered device (of one site, when given) in file order, as a new list."""
        if site is None:
            return list(self._devices.values())
        return [d for (s, _), d in self._devices.items() if s == site]

    def resident_name(self, site: str, resident: str | None) -> str | None:
        """The resident's display name, for the duty screen only: never log it or send it out. None
        without a resident."""
        return self._resident_names.get((site, resident)) if resident else None

    def __len__(self) -> int:
        return len(self._devices)


@dataclass(frozen=True)
class _Loaded:
    site: SiteConfig
    path: Path
    lines: Lines


def _read(path: Path) -> _Loaded:
    data, lines = load_yaml(path)
    try:
        site = SiteConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(path, exc, lines)) from exc
    if site.rules_file is not None and not site.rules_file.is_absolute():
        site = site.model_copy(update={"rules_file": (path.parent / site.rules_file).resolve()})
    return _Loaded(site, path, lines)


def site_files(path: Path) -> list[Path]:
    """A site file, or every `*.yaml`/`*.yml` of a folder in name order (files whose name
    starts with `_` or `.` are left out: notes, drafts)."""
    if not path.is_dir():
        return [path]
    return sorted(
        p
        for p in path.iterdir()
        if p.suffix in (".yaml", ".yml") and not p.name.startswith(("_", ".")) and p.is_file()
    )


def load_sites(path: Path, default_zigbee_prefix: str = "zigbee2mqtt") -> Registry:
    """Load and validate one site file or a folder of them; ConfigError names file, line and
    field of every problem, including those across files (a site id or a device id used
    twice, a friendly name used twice under one Zigbee2MQTT base topic)."""
    files = site_files(path)
    if not files:
        raise ConfigError([f"{path}: no site files (*.yaml) in this folder"])
    problems: list[str] = []
    loaded: list[_Loaded] = []
    for f in files:
        try:
            loaded.append(_read(f))
        except ConfigError as exc:
            problems += exc.problems
    problems += _across(loaded, default_zigbee_prefix) + _people_across(loaded)
    if problems:
        raise ConfigError(problems)
    return Registry([x.site for x in loaded])


def _across(loaded: Sequence[_Loaded], default_zigbee_prefix: str) -> list[str]:
    problems: list[str] = []
    site_at: dict[str, Path] = {}
    device_at: dict[str, tuple[str, Path]] = {}
    names_at: dict[tuple[str, str], str] = {}
    for x in loaded:
        s = x.site
        if s.id in site_at:
            problems.append(
                located(x.path, x.lines, ("id",), f"site id {s.id!r} is also {site_at[s.id]}")
            )
            continue
        site_at[s.id] = x.path
        prefix = s.zigbee_prefix or default_zigbee_prefix
        for i, d in enumerate(s.devices):
            if d.id in device_at:
                other, where = device_at[d.id]
                problems.append(
                    located(
                        x.path,
                        x.lines,
                        ("devices", i, "id"),
                        f"device {d.id!r} is already registered in site {other} ({where})",
                    )
                )
            else:
                device_at[d.id] = (s.id, x.path)
            if d.source == "zigbee2mqtt" and d.friendly_name:
                key = (prefix, d.friendly_name)
                if key in names_at and names_at[key] != s.id:
                    problems.append(
                        located(
                            x.path,
                            x.lines,
                            ("devices", i, "friendly_name"),
                            f"friendly name {d.friendly_name!r} under {prefix}/ is also a"
                            f" device of site {names_at[key]}: give this site its own"
                            " zigbee_prefix",
                        )
                    )
                names_at.setdefault(key, s.id)
    return problems


def _people_across(loaded: Sequence[_Loaded]) -> list[str]:
    """Staff ids and API tokens belong to one site each: a PIN log-in names only the staff
    id and a token only itself, so one in two site files could not say which site it
    works for (docs/security.md)."""
    problems: list[str] = []
    for field, key, what in (
        ("staff", "id", "staff ids are unique across the service"),
        ("api_tokens", "token_sha256", "a site's token works there only (access file: more)"),
    ):
        seen: dict[str, tuple[str, Path]] = {}
        for x in loaded:
            for i, item in enumerate(getattr(x.site, field)):
                value = getattr(item, key)
                other, where = seen.setdefault(value, (x.site.id, x.path))
                if other != x.site.id:
                    msg = f"also in site {other} ({where}): {what}"
                    problems.append(located(x.path, x.lines, (field, i, key), msg))
    return problems


def load_site(path: Path) -> Registry:
    """Load and validate a site file (or a folder of them): `load_sites`."""
    return load_sites(path)
