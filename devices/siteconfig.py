"""The site file as a model: a nursing home with floors and rooms, or a home bed (an
address, one or two residents); residents, staff, API tokens, devices, shifts, the daily
report and the export, every reference inside one file checked on load. What holds
across files (ids unique across a service) is checked by devices/registry.py."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from devices.profiles import DEVICE_TYPES
from devices.rounds import RoundsConfig, rounds_problems
from devices.yamlconf import StrictModel
from devices.zigbee import profile_for

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


HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class QuietHours(StrictModel):
    """Hours (local time, may span midnight) in which a contact gets no routine notices; an
    emergency still reaches them (docs/home-beds.md)."""

    start: str = Field(pattern=HHMM, description="HH:MM local time")
    end: str = Field(pattern=HHMM, description="HH:MM local time")


Channel = Literal["sms", "voice"]


def _both_channels() -> list[Channel]:
    return ["voice", "sms"]


class ContactConfig(StrictModel):
    """Someone the call centre and the escalation reach for a resident: family in the order
    listed, a community worker, a family doctor. Name and phone are personal data: shown on
    the call-centre console, given to the SMS/voice gateway, never logged."""

    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="contact reference, e.g. daughter")
    role: Literal["family", "community", "doctor"] = Field(description="who they are")
    name: str = Field(min_length=1, max_length=32, description="shown on the console only")
    relation: str | None = Field(None, max_length=16, description="e.g. 女儿 (daughter)")
    phone: str = Field(description="mobile or landline: +86 13812345678, 0571-88886666, E.164")
    channels: list[Channel] = Field(
        default_factory=_both_channels, min_length=1, description="how to reach them"
    )
    quiet_hours: QuietHours | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        if e164(v) is None:  # the number itself is not repeated: the line locates it
            raise ValueError(
                "not a phone number (a Chinese mobile 1xxxxxxxxxx, a landline"
                " 0571-88886666, or +<country><number>)"
            )
        return v

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: list[Channel]) -> list[Channel]:
        if len(set(v)) != len(v):
            raise ValueError("channels: a channel listed twice")
        return v

    @property
    def e164(self) -> str:
        """The number as +<country><digits>, what a gateway dials."""
        number = e164(self.phone)
        assert number is not None  # checked on load
        return number


_MOBILE_CN = re.compile(r"^1[3-9][0-9]{9}$")
_LANDLINE_CN = re.compile(r"^0[1-9][0-9]{1,2}[0-9]{7,8}$")
_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")


def e164(phone: str) -> str | None:
    """A phone number as written in a site file as E.164 (`+8613812345678`), or None when it
    is not one: spaces, dashes and brackets are ignored; a Chinese mobile or landline may
    omit +86."""
    raw = re.sub(r"[\s()\-]", "", phone)
    if raw.startswith("0086"):
        raw = "+86" + raw[4:]
    if raw.startswith("+86"):
        rest = raw[3:]
        if _MOBILE_CN.match(rest) or _LANDLINE_CN.match("0" + rest.lstrip("0")):
            return "+86" + rest.lstrip("0")
        return None
    if _MOBILE_CN.match(raw) or _LANDLINE_CN.match(raw):
        return "+86" + raw.lstrip("0")
    return raw if _E164.match(raw) else None


class ResidentConfig(StrictModel):
    """A resident of the site file; devices refer to the id. The display name, care notes
    and contacts are for the duty screen and the call-centre console only: never in logs,
    reports or notifications' bodies."""

    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="resident reference")
    display_name: str = Field(
        min_length=1, max_length=64, description="shown on the duty screen only"
    )
    care_notes: str = Field(
        "", max_length=500, description="for the call-centre operator, e.g. 'hard of hearing'"
    )
    contacts: list[ContactConfig] = Field(
        default_factory=list, description="family in order, community worker, family doctor"
    )
    no_activity_h: float | None = Field(
        None, ge=1, le=48, description="daytime hours without activity before a welfare check"
    )
    checkin_by: str | None = Field(
        None, pattern=HHMM, description="HH:MM local: no check-in by then raises a welfare alert"
    )

    @model_validator(mode="after")
    def _contact_ids(self) -> ResidentConfig:
        ids = [c.id for c in self.contacts]
        if len(set(ids)) != len(ids):
            raise ValueError("contacts: an id used twice")
        return self

    def family(self) -> list[ContactConfig]:
        """The family contacts in the order they are called."""
        return [c for c in self.contacts if c.role == "family"]


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


class VisitPlan(StrictModel):
    """Scheduled welfare visits (巡访) of a home bed by a community worker (a `workers` entry of
    the access file): one at least every `every_days`; a visit not recorded by then is an
    alert."""

    worker: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="the community worker's id")
    every_days: int = Field(7, ge=1, le=31, description="days between visits")


class HazardsConfig(StrictModel):
    """The hazard register's site settings (docs/fire-duty.md, ## Hazards)."""

    from_alerts: dict[str, int] = Field(
        default_factory=dict,
        description="rule name -> minutes: an alert of that rule open this long opens one"
        " hazard (0: never); over the defaults (fire_door_open 30, equipment faults 1440)."
        " Rule names are checked against the site's rules by check-config",
    )

    @field_validator("from_alerts")
    @classmethod
    def _minutes(cls, v: dict[str, int]) -> dict[str, int]:
        for rule, minutes in v.items():
            if not re.match(r"^[a-z0-9_]{1,64}$", rule):
                raise ValueError(f"{rule!r} is not a rule name")
            if not 0 <= minutes <= 60 * 24 * 31:
                raise ValueError(f"{rule}: minutes from 0 (never) to 44640 (31 days)")
        return v


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
    visits: VisitPlan | None = Field(None, description="a home bed's scheduled welfare visits")
    hazards: HazardsConfig = Field(
        default_factory=HazardsConfig, description="the hazard register (火灾隐患整改)"
    )
    rounds: RoundsConfig | None = Field(
        None, description="fire patrols: checkpoints, routes (docs/fire-duty.md)"
    )

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
        elif self.visits is not None:
            raise ValueError("visits: scheduled welfare visits are for home beds (kind: home_bed)")
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

    @model_validator(mode="after")
    def _rounds(self, info: ValidationInfo) -> SiteConfig:
        """The rounds section as a whole; a loader that names lines (devices/registry.py)
        asks for it afterwards (`rounds_later` in the context) and locates each problem."""
        if info.context and info.context.get("rounds_later"):
            return self
        problems = self.rounds_problems()
        if problems:
            raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {m}" for loc, m in problems))
        return self

    def rounds_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """The rounds section's problems with the path of each (devices/rounds.py)."""
        if self.rounds is None:
            return []
        rooms = {r.id: f.id for f in self.floors for r in f.rooms}
        return rounds_problems(self.rounds, rooms, frozenset(f.id for f in self.floors))


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
