"""A resident's welfare at home: no activity in daytime (`no_activity`) and the day's
check-in not made (`daily_checkin`), both `observed` rules filed under
Registry.resident_subject.

Activity is what the device-type table says shows a resident up and about
(`activity_events`, `activity_fields`: a press of the terminal, a motion, the entrance door
opened or closed, getting into or out of bed); the devices counted for a resident are theirs
and the home's shared ones (no resident). Each check is a deadline row (kind `welfare`,
subject the resident id), so a restart resumes it:

- `no_activity`: due when the resident's `no_activity_h` hours of the rule's daytime
  (`start`-`end`, site local time) have passed since the last activity; night hours do
  not count, so sleeping is no alarm. The deadline's `since_ms` is that last activity.
- `daily_checkin`: due at the resident's `checkin_by` (site local time) each day; its
  `value` is the last activity (epoch ms). Any activity since that day's local midnight
  is the day's check-in; none raises the alert, the next activity clears it.

Runs inside the engine's transaction (the engine calls `setup`, `seen` and `due`); the
verdicts go through the engine's `observed` path, so the alerts are audited, escalated and
routed like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta, tzinfo

from alerting.deadlines import Deadline, Deadlines
from alerting.items import Observed
from alerting.rulebook import Rulebook
from alerting.rules import ObservedRule
from devices.model import DeviceEvent, Reading
from devices.registry import Device, Registry
from devices.siteconfig import ResidentConfig

WELFARE = "welfare"  # deadline kind
NO_ACTIVITY = "no_activity"
DAILY_CHECKIN = "daily_checkin"
# activity closer than this to the last one recorded rewrites no row (a moving resident
# makes a motion sensor report every few seconds); a day's first activity always does
REFRESH_MS = 60_000
_MAX_DAYS = 8  # no_activity_h <= 48: the daytime hours are found within a few days


def _at(day: datetime, hhmm: str, zone: tzinfo) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day.date(), time(h, m), tzinfo=zone)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _windows(after: datetime, start: str, end: str, zone: tzinfo) -> Iterator[tuple[int, int]]:
    """The daytime windows (epoch ms) from the day before `after`'s on, in order."""
    day = after - timedelta(days=1)
    for _ in range(_MAX_DAYS + 2):
        lo = _at(day, start, zone)
        hi = _at(day, end, zone)
        if hi <= lo:  # the hours span midnight
            hi = _at(day + timedelta(days=1), end, zone)
        yield _ms(lo), _ms(hi)
        day += timedelta(days=1)


def daytime_due(
    since_ms: int, hours: float, start: str | None, end: str | None, zone: tzinfo
) -> int | None:
    """When `hours` of daytime (start-end, local) will have passed since `since_ms`; with no
    window, plain hours. None if not within a week (a window too short)."""
    left = int(hours * 3_600_000)
    if start is None or end is None:
        return since_ms + left
    after = datetime.fromtimestamp(since_ms / 1000, zone)
    for lo, hi in _windows(after, start, end, zone):
        lo = max(lo, since_ms)
        if hi <= lo:
            continue
        if hi - lo >= left:
            return lo + left
        left -= hi - lo
    return None


def next_at(now_ms: int, hhmm: str, zone: tzinfo) -> int:
    """The first instant after `now_ms` whose local time is `hhmm`."""
    local = datetime.fromtimestamp(now_ms / 1000, zone)
    for days in range(3):
        t = _ms(_at(local + timedelta(days=days), hhmm, zone))
        if t > now_ms:
            return t
    raise AssertionError("unreachable: a day has every HH:MM")


def day_start(at_ms: int, zone: tzinfo) -> int:
    """Local midnight of the day `at_ms` falls in (epoch ms)."""
    local = datetime.fromtimestamp(at_ms / 1000, zone)
    return _ms(_at(local, "00:00", zone))


def local_hhmm(at_ms: int, zone: tzinfo) -> str:
    """`at_ms` as HH:MM in the site's zone, what an alert's value shows."""
    return datetime.fromtimestamp(at_ms / 1000, zone).strftime("%H:%M")


class Welfare:
    """The no-activity and check-in checks of every resident who has them set; fed each
    accepted message by the engine, served its due deadlines, verdicts to `observe`."""

    def __init__(
        self,
        registry: Registry,
        rules: Rulebook,
        deadlines: Deadlines,
        observe: Callable[[Observed, int], None],
        is_open: Callable[[tuple[str, str, str]], bool],
    ) -> None:
        self._registry = registry
        self._rules = rules
        self._deadlines = deadlines
        self._observe = observe
        self._is_open = is_open  # (rule, site, subject) -> an alert open that may clear
        self._last: dict[tuple[str, str, str], float | bool | str] = {}  # change / rise
        self._watched = {site for site, _ in self._residents()}
        self._subjects: dict[tuple[str, str], Device | None] = {}

    def _subject(self, site: str, resident: str) -> Device | None:
        """Registry.resident_subject, kept (the registry does not change while running)."""
        key = (site, resident)
        if key not in self._subjects:
            self._subjects[key] = self._registry.resident_subject(site, resident)
        return self._subjects[key]

    # --- who is watched ----------------------------------------------------------------

    def _residents(self) -> Iterator[tuple[str, ResidentConfig]]:
        for site in self._registry.sites.values():
            for r in site.residents:
                if r.no_activity_h is not None or r.checkin_by is not None:
                    yield site.id, r

    def _rule(self, site: str, name: str) -> ObservedRule | None:
        rule = self._rules.of(site).rules.get(name)
        return rule if isinstance(rule, ObservedRule) and rule.enabled else None

    def setup(self, now: int) -> None:
        """At start: arm each resident's checks that have no deadline yet (first start, a
        resident added), counted from now as if the start were the last activity (nothing
        is known before it, so nobody is alarmed for it); move those whose hours changed in
        the site file or the rules (`_arm`)."""
        for site, r in self._residents():
            self._arm(site, r, now, now, keep=True)

    # --- activity ------------------------------------------------------------------------

    def active(self, dev: Device, d: Reading | DeviceEvent) -> bool:
        """True if the message shows someone up and about (the type's activity table);
        `change` and `rise` compare with the device's previous value (in memory: after a
        restart the first reading is the baseline)."""
        t = dev.type
        if isinstance(d, DeviceEvent):
            return d.event in t.activity_events
        moved = False
        for name, how in t.activity_fields.items():
            v = d.fields.get(name)
            if v is None:
                continue
            key = (dev.site, dev.id, name)
            before = self._last.get(key)
            self._last[key] = v
            if how == "true":
                moved = moved or v is True
            elif how == "change":
                moved = moved or (before is not None and v != before)
            elif isinstance(v, float) and isinstance(before, float):
                moved = moved or v > before
        return moved

    def seen(self, dev: Device, d: Reading | DeviceEvent, now: int) -> None:
        """A message from a device: if it shows activity, each resident it counts for is
        checked in for the day and their no-activity count starts over."""
        if dev.site not in self._watched or not self.active(dev, d):
            return
        for r in self._registry.sites[dev.site].residents:
            if dev.resident is None or dev.resident == r.id:
                self._activity(dev.site, r, now)

    def _activity(self, site: str, r: ResidentConfig, now: int) -> None:
        subject = self._subject(site, r.id)
        for name in (NO_ACTIVITY, DAILY_CHECKIN):
            if subject is not None and self._is_open((name, site, subject.id)):
                self._observe(Observed(site, name, subject.id, False), now)
        self._arm(site, r, now, now, keep=False)

    def _fired(self, site: str, resident: str) -> bool:
        subject = self._subject(site, resident)
        return subject is not None and self._is_open((NO_ACTIVITY, site, subject.id))

    def _arm(self, site: str, r: ResidentConfig, last: int, now: int, keep: bool) -> None:
        """(Re)arm the resident's deadlines from `last` activity. `keep` (at start): a
        pending deadline keeps the last activity it knows and moves only if the site file's
        hours or the rule's daytime changed meanwhile; a fired no-activity check whose alert
        is still open waits for the next activity."""
        zone = self._rules.tz(site)
        rule = self._rule(site, NO_ACTIVITY)
        key = (WELFARE, NO_ACTIVITY, site, r.id)
        pending = self._deadlines.get(key)
        if r.no_activity_h is None or rule is None:
            self._deadlines.cancel(key)
        elif keep and pending is None and self._fired(site, r.id):
            pass  # at start: a fired check whose alert is open waits for the next activity
        elif keep or pending is None or self._stale(pending.since_ms, last, zone):
            since = pending.since_ms if keep and pending is not None else last
            due = daytime_due(since, r.no_activity_h, rule.start, rule.end, zone)
            if due is not None and (
                pending is None or (due, since) != (pending.due_ms, pending.since_ms)
            ):
                self._deadlines.set(Deadline(WELFARE, NO_ACTIVITY, site, r.id, due, since))
        key = (WELFARE, DAILY_CHECKIN, site, r.id)
        pending = self._deadlines.get(key)
        if r.checkin_by is None:
            self._deadlines.cancel(key)
        elif pending is None:
            due = next_at(now, r.checkin_by, zone)
            self._deadlines.set(Deadline(WELFARE, DAILY_CHECKIN, site, r.id, due, now, str(last)))
        elif keep:
            if local_hhmm(pending.due_ms, zone) != r.checkin_by:  # the hour was changed
                pending.due_ms = next_at(now, r.checkin_by, zone)
                self._deadlines.set(pending)
        elif self._stale(_int(pending.value), last, zone):
            pending.value = str(last)
            self._deadlines.set(pending)

    @staticmethod
    def _stale(recorded: int, last: int, zone: tzinfo) -> bool:
        return last - recorded >= REFRESH_MS or recorded < day_start(last, zone)

    # --- deadlines -------------------------------------------------------------------------

    def due(self, d: Deadline, now: int) -> None:
        """A welfare deadline fell due: say whether its rule holds, re-arm the daily one."""
        site = self._registry.sites.get(d.site)
        r = self._registry.resident(d.site, d.subject)
        subject = self._subject(d.site, d.subject) if r else None
        if site is None or r is None or subject is None:
            return  # the resident or the home left the registry
        zone = self._rules.tz(d.site)
        if d.rule == NO_ACTIVITY:
            if r.no_activity_h is not None and self._rule(d.site, NO_ACTIVITY) is not None:
                text = f"last activity {local_hhmm(d.since_ms, zone)}"
                self._observe(Observed(d.site, NO_ACTIVITY, subject.id, True, text), now)
            return  # the next activity re-arms it
        if d.rule != DAILY_CHECKIN or r.checkin_by is None:
            return
        last = _int(d.value)
        missed = last < day_start(d.due_ms, zone)
        if self._rule(d.site, DAILY_CHECKIN) is not None:
            text = f"no check-in by {r.checkin_by}" if missed else ""
            if missed or self._is_open((DAILY_CHECKIN, d.site, subject.id)):
                self._observe(Observed(d.site, DAILY_CHECKIN, subject.id, missed, text), now)
        due = next_at(max(now, d.due_ms), r.checkin_by, zone)
        again = Deadline(WELFARE, DAILY_CHECKIN, d.site, d.subject, due, now, str(last))
        self._deadlines.set(again)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0
