"""Points of a device: one registered device that reports for many places (a fire alarm
control panel's loops and addresses, docs/protocol.md "Fire panel gateway").

Each point is its own alert subject, `<device id>/<point>`: a second detector's fire, a
disabled point beside a faulty one, and one point's fault clearing while another stays,
each stand on their own row. Device ids never contain `/` (devices/siteconfig.py), so the
device is always the part before the first one.
"""

from __future__ import annotations

SEP = "/"


def point_subject(device_id: str, point: str) -> str:
    """The alert subject of one point of a device."""
    return f"{device_id}{SEP}{point}"


def device_of(subject: str) -> str:
    """The device an alert subject belongs to: itself, or the device of a point."""
    return subject.split(SEP, 1)[0]


def point_of(subject: str) -> str | None:
    """The point of a point subject; None for a device (or any other subject)."""
    parts = subject.split(SEP, 1)
    return parts[1] if len(parts) == 2 else None
