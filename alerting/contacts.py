"""Who an escalation step naming a person reaches: the resident's contacts (the site file,
devices/siteconfig.py) as the escalation sees them.

A home call's policy names people by role, not by name: `family_1`, `family_2`, ... (the
resident's family in the order listed), `community` (the community service centre or
worker), `doctor` (the family doctor). The ContactBook turns such a step, for one alert,
into a `Reach`: which resident and contact, and by which channels through which gateway
targets (`notify.contacts` of the rules file) - or why nobody is reached (`skipped`). The
lifecycle records a skipped step as such and climbs on at once; the outbox writes one row
per channel of a reached one. Both ask with the same alert and instant, so they agree.

Quiet hours (a contact's `quiet_hours`, site local time): an emergency still reaches the
contact, by voice only when they have it (a call wakes, an SMS at 3 a.m. is read at 7);
anything else (a call-back request, a welfare check, a device's trouble) skips them for
that step ("quiet_hours"), recorded like a missing contact.

Contacts are personal data: a Reach carries ids only; the phone number is read at sending
time by the gateway notifier (`contact`), never stored in the database or logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time

from alerting.model import Alert
from alerting.rulebook import Rulebook
from devices.registry import Registry
from devices.siteconfig import ContactConfig, QuietHours, ResidentConfig

PERSON_STEP = re.compile(r"^(family_([1-9])|community|doctor)$")
OPERATOR = "operator"  # the call-centre console: shown there at once, like duty_screen
# why a step reached nobody (the audit note says `<step>: skipped: <reason>`)
NO_RESIDENT = "no_resident"
NO_CONTACT = "no_contact"
QUIET_HOURS = "quiet_hours"
NO_CHANNEL = "no_channel"


def is_person_step(target: str) -> bool:
    """True for a step naming a person through the resident's contacts."""
    return PERSON_STEP.match(target) is not None


@dataclass(frozen=True, slots=True)
class Reach:
    """A person step for one alert: the resident's and the contact's ids and, per channel,
    the gateway target that carries it; `skipped` says why nobody is reached (then
    `channels` is empty)."""

    step: str
    resident: str | None = None
    contact: str | None = None
    channels: tuple[tuple[str, str], ...] = ()  # (channel, gateway target)
    skipped: str | None = None

    @property
    def recipient(self) -> str:
        """`<resident>/<contact>`: the outbox's recipient column and part of the key."""
        return f"{self.resident}/{self.contact}"


def in_quiet_hours(q: QuietHours, t: time) -> bool:
    """True if the local time `t` lies in [start, end), midnight spanned when end is before
    start."""
    hhmm = f"{t.hour:02d}:{t.minute:02d}"
    if q.start < q.end:
        return q.start <= hhmm < q.end
    return hhmm >= q.start or hhmm < q.end


def resident_of(registry: Registry, site: str, device_id: str) -> ResidentConfig | None:
    """The resident an alert is about: its device's resident, else (a kitchen's gas
    detector) a home bed's first resident; None in a nursing home without one. The
    escalation's contacts and the console's card both ask here, so they name one person."""
    dev = registry.get(site, device_id)
    if dev is not None and dev.resident is not None:
        return registry.resident(site, dev.resident)
    conf = registry.sites.get(site)
    if conf is not None and conf.kind == "home_bed" and conf.residents:
        return conf.residents[0]
    return None


class ContactBook:
    """The residents' contacts of every watched site, for the escalation and the gateway."""

    def __init__(self, registry: Registry, rules: Rulebook) -> None:
        self._registry = registry
        self._rules = rules

    def resident_of(self, site: str, device_id: str) -> ResidentConfig | None:
        """The resident an alert is about (`resident_of`)."""
        return resident_of(self._registry, site, device_id)

    def contact(self, site: str, recipient: str) -> ContactConfig | None:
        """The contact of an outbox row's recipient `<resident>/<contact>`, None when the site
        file no longer has them."""
        resident_id, _, contact_id = recipient.partition("/")
        resident = self._registry.resident(site, resident_id)
        if resident is None:
            return None
        return next((c for c in resident.contacts if c.id == contact_id), None)

    def reach(self, alert: Alert, step: str, now_ms: int) -> Reach | None:
        """Whom `step` reaches for `alert` at `now_ms`; None when the step names no person
        (a target, the operator's console)."""
        m = PERSON_STEP.match(step)
        if m is None:
            return None
        resident = self.resident_of(alert.site, alert.device_id)
        if resident is None:
            return Reach(step, skipped=NO_RESIDENT)
        if m.group(2) is not None:
            family = resident.family()
            n = int(m.group(2))
            found = family[n - 1] if n <= len(family) else None
        else:
            found = next((c for c in resident.contacts if c.role == step), None)
        if found is None:
            return Reach(step, resident.id, skipped=NO_CONTACT)
        channels = list(found.channels)
        if found.quiet_hours is not None:
            local = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(
                self._rules.tz(alert.site)
            )
            if in_quiet_hours(found.quiet_hours, local.time()):
                if alert.priority != "emergency":
                    return Reach(step, resident.id, found.id, skipped=QUIET_HOURS)
                if "voice" in channels:
                    channels = ["voice"]
        gateways = self._rules.of(alert.site).notify.contacts
        routed = tuple((c, gateways[c]) for c in channels if c in gateways)
        if not routed:
            return Reach(step, resident.id, found.id, skipped=NO_CHANNEL)
        return Reach(step, resident.id, found.id, routed)
