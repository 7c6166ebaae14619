"""The access file (setting `access_file`): bearer tokens that work across sites, kept
outside any one site's file because they belong to none. A district office reads every
site (or those listed) and changes nothing; a call centre (`operator`) answers alerts of
the sites assigned to it; viewer, duty and admin may be granted on a list of sites.

    users:
      - {name: district-office, role: district, token_sha256: ...}   # every site
      - {name: call-centre, role: operator, sites: [sunrise, hb-wang], token_sha256: ...}
    workers:   # community workers who record welfare visits (docs/home-beds.md, ## Visits)
      - {id: cw-zhao, name: 赵志强, sites: [hb-wang], pin_hash: pbkdf2_sha256$...}

A worker logs in on the phone page (/visit) with a PIN, hashed like the staff's PINs
(`carewatch hash-pin`: PBKDF2, since a PIN of a few digits is short enough to guess from a
plain hash); a worker is no user: her session records visits and nothing else.

Checked like the site files (devices.yamlconf): unknown keys, a site this service does not
watch (for a worker: or no home bed), a name, token or worker id given twice, a token that
is also a site's are errors that name file and line; the service refuses to start with any
of them. A site's visit plan naming a worker not listed for it is a warning
(`unplanned_workers`: check-config prints it, the service logs it): the watch runs, its
visits fall due and are raised missed, but nobody can record one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from dashboards.auth import Grant
from devices.registry import Registry
from devices.siteconfig import SITE_PATTERN
from devices.yamlconf import ConfigError, StrictModel, load_yaml, located, validation_problems

SiteId = Annotated[str, Field(pattern=SITE_PATTERN)]


class AccessUser(StrictModel):
    """One token's grant: who holds it, its role and the sites it works for."""

    name: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="who holds it")
    role: Literal["viewer", "duty", "admin", "operator", "district"] = Field(
        description="district: reads, writes nothing; operator: duty on its sites"
    )
    sites: list[SiteId] | None = Field(
        None, min_length=1, description="the sites it works for; only district may omit (all)"
    )
    token_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="from `carewatch token`; the token is never stored"
    )

    @model_validator(mode="after")
    def _sites_named(self) -> AccessUser:
        if self.sites is None and self.role != "district":
            raise ValueError(
                f"sites: a {self.role} works on the sites listed here (only district may"
                " leave them out: every site)"
            )
        if self.sites is not None and len(set(self.sites)) != len(self.sites):
            raise ValueError("sites: a site listed twice")
        return self


class AccessWorker(StrictModel):
    """A community worker who visits home beds (巡访): her id (recorded with each visit),
    the name the phone page greets her with, the sites she visits and her PIN's hash."""

    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$", description="recorded as a visit's worker")
    name: str = Field(min_length=1, max_length=32, description="shown on the phone page")
    sites: list[SiteId] = Field(min_length=1, description="the home beds she visits")
    pin_hash: str = Field(
        pattern=r"^pbkdf2_sha256\$\d+\$[0-9a-f]+\$[0-9a-f]+$",
        description="from `carewatch hash-pin`; the PIN itself is never stored",
    )

    @model_validator(mode="after")
    def _sites_once(self) -> AccessWorker:
        if len(set(self.sites)) != len(self.sites):
            raise ValueError("sites: a site listed twice")
        return self


@dataclass(frozen=True, slots=True)
class Worker:
    """A community worker as the service keeps her: the PIN as its hash only."""

    id: str
    name: str
    sites: frozenset[str]
    pin_hash: str


@dataclass(frozen=True, slots=True)
class Access:
    """What an access file grants: bearer tokens across sites, and community workers."""

    grants: list[Grant]
    workers: list[Worker]


class AccessFile(StrictModel):
    """The access file: its users (tokens that work across sites) and community workers."""

    users: list[AccessUser] = Field(default_factory=list)
    workers: list[AccessWorker] = Field(default_factory=list)


def load_access(path: Path, registry: Registry) -> list[Grant]:
    """The grants of an access file checked against the sites `registry` watches;
    ConfigError names file, line and field of every problem."""
    return load_access_file(path, registry).grants


def unplanned_workers(registry: Registry, workers: Sequence[Worker]) -> list[str]:
    """The sites whose visit plan names a worker who is not listed for that site: nobody
    could record those visits, so every one of them would be raised as missed."""
    mine = {w.id: w.sites for w in workers}
    return [
        f"site {s.id}: visits.worker {s.visits.worker!r} is not a worker of the access file"
        + (f" for site {s.id}" if s.visits.worker in mine else "")
        for s in registry.sites.values()
        if s.visits is not None and s.id not in mine.get(s.visits.worker, frozenset())
    ]


def load_access_file(path: Path, registry: Registry) -> Access:
    """The grants and workers of an access file checked against the sites `registry`
    watches; ConfigError names file, line and field of every problem."""
    data, lines = load_yaml(path)
    try:
        access = AccessFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(validation_problems(path, exc, lines)) from exc
    known = registry.site_ids()
    site_token = {t.token_sha256: s.id for s in registry.sites.values() for t in s.api_tokens}
    problems: list[str] = []
    names: set[str] = set()
    hashes: set[str] = set()
    for i, u in enumerate(access.users):
        for j, sid in enumerate(u.sites or []):
            if sid not in known:
                msg = f"unknown site {sid!r}: this service watches {', '.join(known)}"
                problems.append(located(path, lines, ("users", i, "sites", j), msg))
        if u.name in names:
            problems.append(located(path, lines, ("users", i, "name"), f"{u.name!r} twice"))
        if u.token_sha256 in hashes:
            problems.append(located(path, lines, ("users", i, "token_sha256"), "token twice"))
        elif u.token_sha256 in site_token:
            msg = f"this token is an api_token of site {site_token[u.token_sha256]} too"
            problems.append(located(path, lines, ("users", i, "token_sha256"), msg))
        names.add(u.name)
        hashes.add(u.token_sha256)
    ids: set[str] = set()
    for i, w in enumerate(access.workers):
        for j, sid in enumerate(w.sites):
            if sid not in known:
                msg = f"unknown site {sid!r}: this service watches {', '.join(known)}"
                problems.append(located(path, lines, ("workers", i, "sites", j), msg))
            elif registry.sites[sid].kind != "home_bed":
                msg = f"site {sid!r} is no home bed: workers visit home beds (kind: home_bed)"
                problems.append(located(path, lines, ("workers", i, "sites", j), msg))
        if w.id in ids:
            problems.append(located(path, lines, ("workers", i, "id"), f"{w.id!r} twice"))
        ids.add(w.id)
    workers = [Worker(w.id, w.name, frozenset(w.sites), w.pin_hash) for w in access.workers]
    if problems:
        raise ConfigError(problems)
    grants = [
        Grant(u.name, u.role, None if u.sites is None else frozenset(u.sites), u.token_sha256)
        for u in access.users
    ]
    return Access(grants, workers)
