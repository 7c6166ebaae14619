"""The site registry: every site one service watches, each with its floors and rooms (a
nursing home) or its address (a home bed), residents, staff and devices.

A site is one YAML file; a service watches one file (`CAREWATCH_SITE_FILE`) or a folder of
them (`CAREWATCH_SITES_DIR`, docs/sites.md). Each file is validated alone, then the set:
site ids, device ids, staff ids and API tokens are unique across the service, and
Zigbee2MQTT friendly names unique per Zigbee2MQTT base topic; every error names file and
line."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from devices.points import SEP, device_of
from devices.profiles import DEVICE_TYPES, DeviceType
from devices.siteconfig import (  # the site file's model, re-exported for readers
    ResidentConfig,
    SiteConfig,
)
from devices.yamlconf import (
    ConfigError,
    Lines,
    load_yaml,
    located,
    validation_problems,
)
from devices.zigbee import profile_for, validate_profiles


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
        device are rejected. A point's alert subject (`<panel>/<point>`, devices/points.py)
        finds its device, so every reader of an alert's device sees the panel."""
        found = self._devices.get((site, device_id))
        if found is None and SEP in device_id:
            return self._devices.get((site, device_of(device_id)))
        return found

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

    def resident(self, site: str, resident: str | None) -> ResidentConfig | None:
        """The resident's entry (name, care notes, contacts): personal data for the screen, the
        call-centre console and the gateway that dials a contact, never for logs. None when
        unknown."""
        conf = self.sites.get(site)
        if conf is None or resident is None:
            return None
        return next((r for r in conf.residents if r.id == resident), None)

    def resident_subject(self, site: str, resident: str) -> Device | None:
        """The device an alert about a resident rather than a device (no activity, no
        check-in, a missed visit) is filed under, so the screen and the console place it: the
        resident's one-touch terminal, else a device of theirs, else the home's terminal.
        None when the site has no device to file it under."""
        mine = [d for d in self.devices(site) if d.resident == resident]
        terminals = [d for d in self.devices(site) if d.type.name == "home_terminal"]
        for pick in (
            [d for d in mine if d.type.name == "home_terminal"],
            mine,
            terminals,
            self.devices(site),
        ):
            if pick:
                return pick[0]
        return None

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
        site = SiteConfig.model_validate(data, context={"rounds_later": True})
    except ValidationError as exc:
        raise ConfigError(validation_problems(path, exc, lines)) from exc
    rounds = site.rounds_problems()
    if rounds:
        raise ConfigError([located(path, lines, loc, msg) for loc, msg in rounds])
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
    problems += _tags_across(loaded)
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


def _tags_across(loaded: Sequence[_Loaded]) -> list[str]:
    """A round's tag belongs to one site: a reader's or phone's check-in names the site,
    and a tag stuck in two homes would be a copy that counts a round walked elsewhere."""
    problems: list[str] = []
    seen: dict[str, tuple[str, Path]] = {}
    for x in loaded:
        for i, cp in enumerate(x.site.rounds.checkpoints if x.site.rounds else []):
            other, where = seen.setdefault(cp.tag, (x.site.id, x.path))
            if other != x.site.id:
                msg = f"tag {cp.tag!r} is also a checkpoint's of site {other} ({where})"
                problems.append(located(x.path, x.lines, ("rounds", "checkpoints", i, "tag"), msg))
    return problems


def load_site(path: Path) -> Registry:
    """Load and validate a site file (or a folder of them): `load_sites`."""
    return load_sites(path)
