"""Broker accounts for a site: a password per device, the service's own account, and an
ACL that lets each device publish only under its own topics and read nothing.

`carewatch mqtt-credentials --site FILE --out DIR` writes, for mosquitto:
- `passwd`: the password file, hashed by `mosquitto_passwd -U` (PBKDF2-SHA512);
- `acl`: the access-control list;
- `mosquitto-auth.conf`: the lines to include in mosquitto.conf;
- `credentials.csv` (mode 600): device id, username, password, for the installers.
A device's username is its device id, so one ACL pattern covers every device.
"""

from __future__ import annotations

import csv
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVICE_USER = "carewatch-engine"
ZIGBEE_USER = "zigbee2mqtt"


@dataclass(frozen=True, slots=True)
class Account:
    """One broker account: username, password in clear (for the installers' CSV and the hasher
    only), and the device it belongs to."""

    username: str
    password: str
    device_id: str | None  # None for the service and the Zigbee2MQTT bridge


def accounts(device_ids: list[str], zigbee: bool) -> list[Account]:
    """Fresh random passwords for the service, the Zigbee2MQTT bridge if any, and every device
    (username = device id)."""
    out = [Account(SERVICE_USER, secrets.token_urlsafe(24), None)]
    if zigbee:
        out.append(Account(ZIGBEE_USER, secrets.token_urlsafe(24), None))
    out += [Account(d, secrets.token_urlsafe(18), d) for d in device_ids]
    return out


def acl_text(site: str, prefix: str = "carewatch/v1", zigbee: bool = False) -> str:
    """The mosquitto ACL: the service reads every device topic and writes alert states; each device
    writes only its own three topics and reads nothing."""
    p = prefix.rstrip("/")
    lines = [
        "# written by `carewatch mqtt-credentials`",
        "# the service: reads every device topic, publishes alert states",
        f"user {SERVICE_USER}",
        f"topic read {p}/#",
        f"topic write {p}/{site}/alerts/#",
    ]
    if zigbee:
        lines += [
            "topic read zigbee2mqtt/#",
            "",
            "# the Zigbee2MQTT bridge",
            f"user {ZIGBEE_USER}",
            "topic readwrite zigbee2mqtt/#",
        ]
    lines += [
        "",
        "# every device (username = device id): its own telemetry, event and status only;",
        "# it reads nothing, so it cannot learn other residents' alerts",
        f"pattern write {p}/{site}/%u/telemetry",
        f"pattern write {p}/{site}/%u/event",
        f"pattern write {p}/{site}/%u/status",
    ]
    return "\n".join(lines) + "\n"


def write_credentials(
    out: Path,
    site: str,
    device_ids: list[str],
    zigbee: bool = False,
    prefix: str = "carewatch/v1",
    hasher: str = "mosquitto_passwd",
) -> list[Account]:
    """Write passwd, acl, mosquitto-auth.conf and credentials.csv into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    accts = accounts(device_ids, zigbee)
    passwd = out / "passwd"
    passwd.touch(mode=0o600)
    passwd.write_text("".join(f"{a.username}:{a.password}\n" for a in accts), encoding="utf-8")
    tool = shutil.which(hasher)
    if tool is None:
        passwd.unlink()
        raise FileNotFoundError("mosquitto_passwd not found: install the mosquitto package")
    subprocess.run([tool, "-U", str(passwd)], check=True, capture_output=True)  # hash in place
    (out / "acl").write_text(acl_text(site, prefix, zigbee), encoding="utf-8")
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
        w.writerow(["device_id", "username", "password"])
        for a in accts:
            w.writerow([a.device_id or "", a.username, a.password])
    os.chmod(secret, 0o600)
    return accts
