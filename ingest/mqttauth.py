"""Broker accounts for one service's sites: a password per device, one per Zigbee2MQTT
gateway, the service's own account, and an ACL that lets each device publish only its own
topics under its own site and read nothing.

`carewatch mqtt-credentials --site FILE|FOLDER --out DIR [--service-id ID]` writes, for
mosquitto:
- `passwd`: the password file, hashed by `mosquitto_passwd -U` (PBKDF2-SHA512);
- `acl`: the access-control list;
- `mosquitto-auth.conf`: the lines to include in mosquitto.conf;
- `credentials.csv` (mode 600): device id, username, password, site, for the installers.

A device's username is its device id (unique across the service's sites); its rules name
its site, so a device of one site cannot publish under another's topic (a pattern with
`%u` would hold under every site). The service's account (`carewatch-<service id>`, or
`carewatch-engine` without one) reads only its sites' device topics and its gateways'
base topics. Every rule follows a `user` line, so the files of several services on one
broker can be concatenated (docs/scaling.md).
"""

from __future__ import annotations

import csv
import os
import re
import secrets
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from devices.registry import Registry
from ingest.alerttopic import system_topic_site

SERVICE_USER = "carewatch-engine"  # the service's account when no service id is given
ZIGBEE_USER = "zigbee2mqtt"  # the gateway's account under the default base topic
KINDS = ("telemetry", "event", "status")


# the service id of a service whose settings name none: its default client id
DEFAULT_SERVICE_ID = "carewatch-engine"


def service_user(service_id: str | None) -> str:
    """The service's broker account: `carewatch-<service id>`."""
    return SERVICE_USER if service_id is None else f"carewatch-{service_id}"


def zigbee_user(base: str) -> str:
    """A Zigbee2MQTT gateway's account: its base topic (`zigbee2mqtt`,
    `zigbee2mqtt-riverside`), characters a password file cannot hold as `-`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", base.strip("/")).strip("-") or ZIGBEE_USER


@dataclass(frozen=True, slots=True)
class Grants:
    """What one service's accounts may do on the broker."""

    service_user: str
    sites: tuple[str, ...]
    devices: tuple[tuple[str, str], ...]  # (site, device id) of devices publishing themselves
    zigbee: tuple[tuple[str, str], ...] = ()  # (account, base topic) per Zigbee2MQTT gateway
    prefix: str = "carewatch/v1"
    # the service's own alerts' topic level (ingest/alerttopic.py system_topic_site)
    system_site: str = system_topic_site(DEFAULT_SERVICE_ID)


def grants_for(
    registry: Registry,
    service_id: str | None = None,
    prefix: str = "carewatch/v1",
    zigbee_prefix: str = "zigbee2mqtt",
) -> Grants:
    """The grants of the service watching `registry`'s sites: one account per device that
    publishes CareWatch topics, one per Zigbee2MQTT base topic its sites' devices use (a
    site's own gateway, or the service's default)."""
    bases: dict[str, str] = {}
    for d in registry.zigbee_devices():
        base = (registry.sites[d.site].zigbee_prefix or zigbee_prefix).rstrip("/")
        bases.setdefault(base, zigbee_user(base))
    devices = tuple((d.site, d.id) for d in registry.devices() if d.source == "carewatch")
    return Grants(
        service_user(service_id),
        tuple(registry.site_ids()),
        devices,
        tuple((user, base) for base, user in bases.items()),
        prefix,
        system_topic_site(service_id or DEFAULT_SERVICE_ID),
    )


@dataclass(frozen=True, slots=True)
class Account:
    """One broker account: username, password in clear (for the installers' CSV and the hasher
    only), and the device it belongs to."""

    username: str
    password: str
    device_id: str | None  # None for the service and the Zigbee2MQTT gateways
    site: str | None = None


def accounts(grants: Grants) -> list[Account]:
    """Fresh random passwords for the service, each Zigbee2MQTT gateway and every device
    (username = device id). ValueError if two accounts would share a name."""
    out = [Account(grants.service_user, secrets.token_urlsafe(24), None)]
    out += [Account(user, secrets.token_urlsafe(24), None) for user, _ in grants.zigbee]
    out += [Account(d, secrets.token_urlsafe(18), d, site) for site, d in grants.devices]
    twice = [name for name, n in Counter(a.username for a in out).items() if n > 1]
    if twice:
        raise ValueError(f"broker account names used twice: {', '.join(sorted(twice))}")
    return out


def acl_text(grants: Grants) -> str:
    """The mosquitto ACL: the service reads its sites' device topics and its gateways' base
    topics and writes its sites' alert states and its status; each gateway reads and writes
    its base topic; each device writes only its own three topics under its own site and
    reads nothing."""
    p = grants.prefix.rstrip("/")
    lines = [
        f"# written by `carewatch mqtt-credentials` for {grants.service_user}"
        f" (sites: {', '.join(grants.sites)})",
        "# the service: reads its sites' device topics, publishes their alert states, the",
        "# watch's own alerts and its status",
        f"user {grants.service_user}",
    ]
    for site in grants.sites:
        lines += [f"topic read {p}/{site}/+/{kind}" for kind in KINDS]
        lines += [f"topic write {p}/{site}/alerts/#", f"topic write {p}/{site}/service/status"]
    lines.append(f"topic write {p}/{grants.system_site}/alerts/#")
    lines += [f"topic read {base}/#" for _, base in grants.zigbee]
    for user, base in grants.zigbee:
        lines += ["", f"# the Zigbee2MQTT gateway under {base}/", f"user {user}"]
        lines.append(f"topic readwrite {base}/#")
    if grants.devices:
        lines += [
            "",
            "# every device (username = device id): its own telemetry, event and status under",
            "# its own site only; it reads nothing, so it cannot learn other residents' alerts",
        ]
    for site, device in grants.devices:
        lines.append(f"user {device}")
        lines += [f"topic write {p}/{site}/{device}/{kind}" for kind in KINDS]
    return "\n".join(lines) + "\n"


def write_credentials(out: Path, grants: Grants, hasher: str = "mosquitto_passwd") -> list[Account]:
    """Write passwd, acl, mosquitto-auth.conf and credentials.csv into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    accts = accounts(grants)
    passwd = out / "passwd"
    passwd.touch(mode=0o600)
    passwd.write_text("".join(f"{a.username}:{a.password}\n" for a in accts), encoding="utf-8")
    tool = shutil.which(hasher)
    if tool is None:
        passwd.unlink()
        raise FileNotFoundError("mosquitto_passwd not found: install the mosquitto package")
    subprocess.run([tool, "-U", str(passwd)], check=True, capture_output=True)  # hash in place
    (out / "acl").write_text(acl_text(grants), encoding="utf-8")
    (out / "mosquitto-auth.conf").write_text(
        "# include from mosquitto.conf (or paste into the listener's section)\n"
        "allow_anonymous false\n"
        f"password_file {(out / 'passwd').resolve()}\n"
        f"acl_file {(out / 'acl').resolve()}\n",
        encoding="utf-8",
    )
    secret = out / "credentials.csv"
    secret.touch(mode=0o600)
    with secret.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["device_id", "username", "password", "site"])
        for a in accts:
            w.writerow([a.device_id or "", a.username, a.password, a.site or ""])
    os.chmod(secret, 0o600)
    return accts
