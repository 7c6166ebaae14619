"""Device supervision and out-of-service: when each device is next due to be heard from,
and which devices are in maintenance. Deadlines live in `device_state.due_ms` (indexed),
so finding the silent devices costs O(devices due), never a scan of all of them.

A device's row is written when it is first heard (or heard again after going offline),
then at most once per slack (a tenth of its interval, at most a minute): rewriting a
random row and its index entry for every reading was about 10-16 us of CPU per message
(SQLite on this machine), the largest single cost of a reading. The newest time each
device was heard is kept in memory: `due` checks it before calling a device silent (a
stored deadline may be up to a slack early) and the screen reads it (`heard_times`).
After a crash the stored times are at most a slack old: a device that stays silent then
is called offline up to a slack early, never late.

Runs inside the engine's transaction, like everything that changes state.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from alerting.deadlines import OOS, Deadline, Deadlines
from alerting.rulebook import Rulebook
from alerting.rules import AbsenceRule
from alerting.ruleset import RuleSet
from devices.registry import Device, Registry
from devices.sqlrows import inserting

DevKey = tuple[str, str]  # (site, device id)
# the batch's rows in one statement (devices/sqlrows.py says why)
_HEARD = inserting(
    "INSERT INTO device_state(site, device_id, last_seen_ms, online, due_ms)",
    5,
    " ON CONFLICT(site, device_id) DO UPDATE SET"
    " last_seen_ms = excluded.last_seen_ms, online = 1, due_ms = excluded.due_ms",
)
_NEW = inserting("INSERT OR IGNORE INTO device_state(site, device_id, due_ms)", 3)
_NEVER = 2**62  # no supervision deadline at all
SLACK_MAX_MS = 60_000  # a stored last-seen time is at most this old (or a tenth of the interval)


@dataclass(frozen=True, slots=True)
class Silent:
    """A device past its supervision deadline."""

    device: Device
    rule: AbsenceRule
    silent_s: int


class Supervision:
    """When each device must next be heard from and which devices are in maintenance; deadlines in
    `device_state`, maintenance in `maintenance`. Runs in the engine's transaction."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        registry: Registry,
        rules: RuleSet | Rulebook,
        deadlines: Deadlines,
    ) -> None:
        self._conn = conn
        self._registry = registry
        self._rules = Rulebook.of_one(rules)
        self._deadlines = deadlines
        self._seen: dict[DevKey, int] = {}  # heard in this batch
        self._heard: dict[DevKey, int] = {}  # heard last (this process, committed or not)
        self._stored: dict[DevKey, int] = {}  # last_seen_ms of the devices stored online
        self._slack: dict[DevKey, int] = {}
        self._oos: dict[DevKey, int] = {}
        # no device is due before this (epoch ms; _NEVER: none is): a lower bound kept as
        # rows are written, so a batch with nothing due spends no statement asking
        self._floor: int | None = None  # None: unknown, ask the table

    def setup(self, now: int) -> None:
        """Every registered device is supervised from the start, silent ones included."""
        known = set(self._conn.execute("SELECT site, device_id FROM device_state"))
        rows = []
        for d in self._registry.devices():
            if (d.site, d.id) in known:  # a restart: its row and deadline stand
                continue
            sup = self.interval_ms(d)
            rows.append((d.site, d.id, None if sup is None else now + sup))
            if sup is not None:
                self._lower(now + sup)
        _NEW.run(self._conn, rows)  # never heard: last seen and online stay NULL

    def load(self) -> None:
        """Read the maintenance table into memory: at startup and after a rollback."""
        self._oos = {
            (s, d): until
            for s, d, until in self._conn.execute(
                "SELECT site, device_id, until_ms FROM maintenance"
            )
        }
        self._stored = {
            (s, d): seen
            for s, d, seen in self._conn.execute(
                "SELECT site, device_id, last_seen_ms FROM device_state"
                " WHERE online = 1 AND last_seen_ms IS NOT NULL"
            )
        }
        self._slack = {}
        self._seen = {}
        self._floor = None

    def _lower(self, due: int) -> None:
        if self._floor is not None and due < self._floor:
            self._floor = due

    def interval_ms(self, dev: Device) -> int | None:
        """How long the device may stay silent, in ms: the absence rule's interval, else its type's;
        None if no absence rule watches it."""
        rule = self._rules.for_device(dev).absence
        if rule is None:
            return None
        return (rule.supervision_s or dev.type.supervision_s) * 1000

    def next_due(self) -> int | None:
        """The earliest supervision deadline (epoch ms) over all devices, or None: the engine's
        queue wait ends then. Possibly earlier than the true one (a bound), never later."""
        if self._floor is None:
            row = self._conn.execute("SELECT min(due_ms) FROM device_state").fetchone()
            self._floor = _NEVER if row[0] is None else int(row[0])
        return None if self._floor == _NEVER else self._floor

    # --- messages ----------------------------------------------------------------------

    def heard(self, key: DevKey, now: int) -> None:
        """Note a message from the device; `flush` writes its new deadline with the batch."""
        self._seen[key] = now

    def heard_times(self) -> dict[DevKey, int]:
        """(site, device) -> when it was heard last in this process (epoch ms): newer than
        `device_state.last_seen_ms` by up to a slack. A copy, safe from any thread."""
        return self._heard.copy()

    def shift(self, step_ms: int) -> None:
        """The wall clock stepped: move the deadlines (in the caller's transaction)."""
        self._conn.execute(
            "UPDATE device_state SET due_ms = due_ms + ? WHERE due_ms IS NOT NULL", (step_ms,)
        )
        self._floor = None

    def shifted(self, step_ms: int) -> None:
        """After `shift` committed: the remembered times move with the deadlines."""
        self._heard = {k: v + step_ms for k, v in self._heard.items()}

    def went_offline(self, key: DevKey) -> None:
        """Its last will: offline now, nothing to wait for until it speaks again."""
        self._seen.pop(key, None)
        self._stored.pop(key, None)  # its next message is written at once (online again)
        self._conn.execute(
            "UPDATE device_state SET online = 0, due_ms = NULL WHERE site=? AND device_id=?",
            key,
        )

    def flush(self) -> None:
        """Write the last-seen times and next deadlines of the batch's devices that were
        offline or unknown, or whose stored time is a slack old or more; one row each."""
        seen = self._seen
        if not seen:
            return
        self._heard.update(seen)
        stored, slack = self._stored, self._slack
        rows = []
        for key, at in seen.items():
            before = stored.get(key)
            if before is not None and at - before < slack.get(key, 0):
                continue
            dev = self._registry.get(*key)
            if dev is None:
                continue
            sup = self.interval_ms(dev)
            slack[key] = SLACK_MAX_MS if sup is None else min(SLACK_MAX_MS, sup // 10)
            stored[key] = at
            rows.append((key[0], key[1], at, 1, None if sup is None else at + sup))
            if sup is not None:
                self._lower(at + sup)
        _HEARD.run(self._conn, rows)
        self._seen = {}

    def due(self, now: int) -> list[Silent]:
        """The devices past their deadline (at most 5,000 a batch); each taken once. One
        heard since its row was written gets its true deadline instead."""
        floor = self.next_due()
        if floor is None or now < floor:
            return []
        self._floor = None  # asked again after this
        rows = self._conn.execute(
            "SELECT site, device_id FROM device_state WHERE due_ms <= ? LIMIT 5000", (now,)
        ).fetchall()
        out = []
        for site, device_id in rows:
            key = (site, device_id)
            dev = self._registry.get(site, device_id)
            heard = self._heard.get(key)
            sup = self.interval_ms(dev) if dev is not None else None
            if heard is not None and sup is not None and heard + sup > now:
                self._conn.execute(
                    "UPDATE device_state SET last_seen_ms = ?, online = 1, due_ms = ?"
                    " WHERE site=? AND device_id=?",
                    (heard, heard + sup, site, device_id),
                )
                self._lower(heard + sup)
                self._stored[key] = heard
                continue
            self._conn.execute(
                "UPDATE device_state SET due_ms = NULL WHERE site=? AND device_id=?",
                (site, device_id),
            )
            rule = self._rules.for_device(dev).absence if dev else None
            if dev is None or rule is None or key in self._oos:
                continue
            out.append(Silent(dev, rule, rule.supervision_s or dev.type.supervision_s))
        return out

    def rearm(self, dev: Device, now: int) -> None:
        """A fresh interval from `now` for a device with no deadline pending."""
        sup = self.interval_ms(dev)
        if sup is not None:
            self._conn.execute(
                "UPDATE device_state SET due_ms = ? WHERE site = ? AND device_id = ?"
                " AND due_ms IS NULL",
                (now + sup, dev.site, dev.id),
            )
            self._lower(now + sup)

    # --- out of service ------------------------------------------------------------------

    def in_maintenance(self, key: DevKey) -> bool:
        """True while the device is out of service: its messages are stored but raise nothing, and
        its silence is not an alert."""
        return key in self._oos

    def maintenance(self) -> dict[DevKey, int]:
        """(site, device) -> end of maintenance in epoch ms; a copy."""
        return dict(self._oos)

    def start_maintenance(
        self, dev: Device, now: int, until: int, by: str, note: str | None
    ) -> None:
        """Take the device out of service until `until` (epoch ms), or move its end; logged in
        `device_log`, ended by a deadline or `end_maintenance`."""
        self._oos[(dev.site, dev.id)] = until
        self._conn.execute(
            "INSERT OR REPLACE INTO maintenance(site, device_id, since_ms, until_ms, by, note)"
            " VALUES (?,?,?,?,?,?)",
            (dev.site, dev.id, now, until, by, note),
        )
        self._deadlines.set(Deadline(OOS, "", dev.site, dev.id, until, now))
        self._log(now, dev.site, dev.id, "maintenance_start", by, note)

    def end_maintenance(
        self,
        site: str,
        device_id: str,
        now: int,
        by: str,
        note: str | None,
        ended: int | None = None,
    ) -> None:
        """`ended`: when it expired, if that is earlier than now (served late, e.g. after
        a restart); supervision counts from then."""
        if self._oos.pop((site, device_id), None) is None:
            return
        self._conn.execute(
            "DELETE FROM maintenance WHERE site=? AND device_id=?", (site, device_id)
        )
        self._deadlines.cancel((OOS, "", site, device_id))
        self._log(now, site, device_id, "maintenance_end", by, note)
        dev = self._registry.get(site, device_id)
        if dev is not None:
            # silent during maintenance: a fresh interval from its end
            self.rearm(dev, now if ended is None else min(ended, now))

    def _log(self, at: int, site: str, device: str, action: str, by: str, note: str | None) -> None:
        self._conn.execute(
            "INSERT INTO device_log(at, site, device_id, action, by, note) VALUES (?,?,?,?,?,?)",
            (at, site, device, action, by, note),
        )
