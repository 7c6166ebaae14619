"""The hazard register's desk (like alerting/visits.py's VisitDesk): opens hazards from the
screen or an alert, moves them through their steps (alerting/hazards.step), records
photos, reads them back, says which are overdue (`hazard_overdue`, an `observed` rule),
and opens one hazard for each alert left open too long (`from_alerts`).

Every change is one write in the engine's transaction (the one writer): the hazard's row
and its `hazard_log` row commit together, and a step is decided on the row as it is in
that transaction, so two people pressing at once cannot both close a hazard. A write
function never raises: a refusal is kept and answered after the commit."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from alerting.hazards import (
    CATEGORIES,
    COLUMNS,
    Hazard,
    HazardError,
    NewHazard,
    check_deadline,
    open_hazard,
    step,
)
from alerting.items import CommandResult, Observed
from devices.ports import Clock
from devices.registry import Registry

RULE = "hazard_overdue"
TEXT_MAX = 500
WRITE_TIMEOUT_S = 5.0
CLOSED_PHOTO = "hazard {id} is closed: its record is final, no more photos"
SYSTEM_BY = "carewatch"  # who opens a hazard from an alert left open (the watch itself)

Write = Callable[[Callable[[sqlite3.Connection], None]], "Future[CommandResult]"]


@dataclass(frozen=True, slots=True)
class LogRow:
    """A row of `hazard_log`: one step of a hazard."""

    at_ms: int
    action: str
    from_state: str | None
    to_state: str
    by: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Photo:
    """A row of `hazard_photos` (the file is PhotoStore's)."""

    sha256: str
    content_type: str
    bytes: int
    by: str | None
    at_ms: int


@dataclass(frozen=True, slots=True)
class AgedAlert:
    """An open alert old enough to become a hazard (from the alerts table)."""

    id: int
    site: str
    device_id: str
    rule: str
    value: str | None
    floor: str | None
    room: str | None


def subject(hazard_id: int) -> str:
    """The subject `hazard_overdue` is filed under for one hazard."""
    return f"hazard:{hazard_id}"


class HazardDesk:
    """The register over the store: `read` opens a read connection, `write` runs a change
    in the engine's transaction, `tz` gives a site's zone (for the texts of alerts)."""

    def __init__(
        self,
        registry: Registry,
        read: Callable[[], sqlite3.Connection],
        write: Write,
        clock: Clock,
        tz: Callable[[str], tzinfo] | None = None,
    ) -> None:
        self._registry = registry
        self._read = read
        self._write = write
        self._clock = clock
        self._tz = tz or (lambda _site: UTC)

    # --- places --------------------------------------------------------------------------

    def location_of(self, site: str, floor: str | None, room: str | None) -> str:
        """The words for a floor and room of `site` (their names where the site file has
        them), e.g. "1F 101"."""
        conf = self._registry.sites.get(site)
        words: list[str] = []
        for f in conf.floors if conf else []:
            if f.id == floor:
                words.append(f.name or f.id)
            for r in f.rooms:
                if r.id == room and (floor is None or f.id == floor):
                    words.append(r.name or r.id)
        return " ".join(words) or room or floor or site

    def check_new(self, h: NewHazard, now_ms: int) -> None:
        """HazardError 422 for a hazard that cannot be opened at `now_ms`, saying why."""
        conf = self._registry.sites.get(h.site)
        if conf is None:
            raise HazardError(422, f"unknown site {h.site!r}")
        if h.category not in CATEGORIES:
            raise HazardError(
                422, f"unknown category {h.category!r}: one of {', '.join(CATEGORIES)}"
            )
        if not h.description.strip() or len(h.description) > TEXT_MAX:
            raise HazardError(422, f"description: 1 to {TEXT_MAX} characters")
        if not h.location.strip() or len(h.location) > TEXT_MAX:
            raise HazardError(422, f"location: 1 to {TEXT_MAX} characters")
        floors = {f.id: {r.id for r in f.rooms} for f in conf.floors}
        if h.floor is not None and h.floor not in floors:
            raise HazardError(422, f"unknown floor {h.floor!r} at site {h.site!r}")
        rooms = floors[h.floor] if h.floor is not None else set().union(*floors.values())
        if h.room is not None and h.room not in rooms:
            raise HazardError(422, f"unknown room {h.room!r} at site {h.site!r}")
        check_deadline(h.deadline_ms, now_ms, now_ms)

    # --- writing -------------------------------------------------------------------------

    def _run(self, apply: Callable[[sqlite3.Connection], None]) -> None:
        try:
            done = self._write(apply).result(WRITE_TIMEOUT_S)
        except TimeoutError:
            raise HazardError(503, "the service is busy: try again") from None
        if not done.ok:
            raise HazardError(503, "the hazard could not be saved: try again")

    def open(self, h: NewHazard) -> tuple[Hazard, bool]:
        """Open a hazard after `check_new`: (it, True). One opened from an alert
        (`source_ref` the alert id) or from a form (`client_id`) is opened once: asking
        again answers (the hazard already opened for it, False); a `client_id` of
        another site's hazard is refused (409)."""
        now = self._clock.now_ms()
        self.check_new(h, now)
        got: list[tuple[int, bool]] = []
        refused: list[HazardError] = []

        def apply(conn: sqlite3.Connection) -> None:
            if h.client_id is not None:
                seen = conn.execute(
                    "SELECT id, site FROM hazards WHERE client_id = ?", (h.client_id,)
                ).fetchone()
                if seen is not None and seen[1] != h.site:
                    refused.append(HazardError(409, f"client_id {h.client_id!r} is used already"))
                    return
                if seen is not None:
                    got.append((int(seen[0]), False))
                    return
            if h.source == "alert" and h.source_ref is not None:
                row = _of_alert(conn, h.source_ref)
                if row is not None:
                    got.append((row, False))
                    return
            got.append((open_hazard(conn, h, now), True))

        self._run(apply)
        if refused:
            raise refused[0]
        found = self.get(got[0][0]) if got else None
        if found is None:
            raise HazardError(503, "the hazard could not be saved: try again")
        return found, got[0][1]

    def act(
        self,
        hazard_id: int,
        action: str,
        by: str,
        note: str | None = None,
        owner: str | None = None,
        deadline_ms: int | None = None,
    ) -> Hazard:
        """One step (start, fix, close, reopen, assign) by `by`, decided on the row inside
        the transaction; HazardError 404 unknown, 409 not allowed (alerting/hazards.step)."""
        if note is not None and len(note) > TEXT_MAX:
            raise HazardError(422, f"note: at most {TEXT_MAX} characters")
        now = self._clock.now_ms()
        refused: list[HazardError] = []

        def apply(conn: sqlite3.Connection) -> None:
            h = _one(conn, hazard_id)
            if h is None:
                refused.append(HazardError(404, "no such hazard"))
                return
            try:
                new = step(h, action, by, now, owner, deadline_ms)
            except HazardError as exc:
                refused.append(exc)
                return
            conn.execute(
                "UPDATE hazards SET state=?, owner=?, deadline_ms=?, started_ms=?, fixed_by=?,"
                " fixed_ms=?, closed_by=?, closed_ms=? WHERE id=?",
                (new.state, new.owner, new.deadline_ms, new.started_ms, new.fixed_by,
                 new.fixed_ms, new.closed_by, new.closed_ms, h.id),
            )  # fmt: skip
            _log(conn, h.id, now, action, h.state, new.state, by, note)

        self._run(apply)
        if refused:
            raise refused[0]
        found = self.get(hazard_id)
        if found is None:  # pragma: no cover - rows are never deleted
            raise HazardError(404, "no such hazard")
        return found

    def add_photo(self, hazard_id: int, sha256: str, content_type: str, size: int, by: str) -> bool:
        """Record a photo already stored (alerting/hazard_photos.py); False when the hazard
        has it already (the same photo twice is one photo). HazardError 404 unknown, 409
        closed (its record is final: checked in the transaction, so a close pressed
        during the upload wins)."""
        now = self._clock.now_ms()
        got: list[bool] = []
        refused: list[HazardError] = []

        def apply(conn: sqlite3.Connection) -> None:
            h = _one(conn, hazard_id)
            if h is None:
                return
            if h.state == "closed":
                refused.append(HazardError(409, CLOSED_PHOTO.format(id=h.id)))
                return
            cur = conn.execute(
                "INSERT OR IGNORE INTO hazard_photos(hazard_id, sha256, content_type, bytes, by,"
                " at_ms) VALUES (?, ?, ?, ?, ?, ?)",
                (hazard_id, sha256, content_type, size, by, now),
            )
            if cur.rowcount:
                _log(conn, hazard_id, now, "photo", h.state, h.state, by, sha256)
            got.append(bool(cur.rowcount))

        self._run(apply)
        if refused:
            raise refused[0]
        if not got:
            raise HazardError(404, "no such hazard")
        return got[0]

    # --- reading -------------------------------------------------------------------------

    def get(self, hazard_id: int) -> Hazard | None:
        """One hazard by id; None when there is none."""
        conn = self._read()
        try:
            return _one(conn, hazard_id)
        finally:
            conn.close()

    def find(
        self, sites: Iterable[str], states: Iterable[str] | None = None, limit: int = 1000
    ) -> list[Hazard]:
        """The hazards of `sites` (in `states` when given), newest first."""
        ids = list(sites)
        if not ids:
            return []
        sql = f"SELECT {COLUMNS} FROM hazards WHERE site IN ({','.join('?' * len(ids))})"
        args: list[object] = list(ids)
        wanted = list(states or [])
        if wanted:
            sql += f" AND state IN ({','.join('?' * len(wanted))})"
            args += wanted
        conn = self._read()
        try:
            rows = conn.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        finally:
            conn.close()
        return [Hazard(*r) for r in rows]

    def photo_counts(self, hazard_ids: Iterable[int]) -> dict[int, int]:
        """How many photos each of `hazard_ids` has (those with none left out)."""
        ids = list(hazard_ids)
        out: dict[int, int] = {}
        conn = self._read()
        try:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                out.update(
                    conn.execute(
                        "SELECT hazard_id, COUNT(*) FROM hazard_photos WHERE hazard_id IN"
                        f" ({','.join('?' * len(chunk))}) GROUP BY hazard_id",
                        chunk,
                    ).fetchall()
                )
        finally:
            conn.close()
        return out

    def log(self, hazard_id: int) -> list[LogRow]:
        """A hazard's steps, oldest first."""
        conn = self._read()
        try:
            rows = conn.execute(
                "SELECT at_ms, action, from_state, to_state, by, note FROM hazard_log"
                " WHERE hazard_id = ? ORDER BY id",
                (hazard_id,),
            ).fetchall()
        finally:
            conn.close()
        return [LogRow(*r) for r in rows]

    def photos(self, hazard_id: int) -> list[Photo]:
        """A hazard's photos, oldest first."""
        conn = self._read()
        try:
            rows = conn.execute(
                "SELECT sha256, content_type, bytes, by, at_ms FROM hazard_photos"
                " WHERE hazard_id = ? ORDER BY at_ms, sha256",
                (hazard_id,),
            ).fetchall()
        finally:
            conn.close()
        return [Photo(*r) for r in rows]

    # --- the checks ----------------------------------------------------------------------

    def observations(self, sites: Iterable[str] | None = None) -> list[Observed]:
        """`hazard_overdue` for each hazard not closed and for each whose alert is still
        open: holds while it is not fixed and past its deadline. Closed hazards with no
        open alert are left out (nothing to clear)."""
        now = self._clock.now_ms()
        wanted = list(self._registry.site_ids() if sites is None else sites)
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        conn = self._read()
        try:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM hazards WHERE site IN ({marks}) AND (state != 'closed'"
                " OR 'hazard:' || id IN (SELECT device_id FROM alerts WHERE rule = ?"
                " AND state != 'closed'))",
                (*wanted, RULE),
            ).fetchall()
        finally:
            conn.close()
        out = []
        for r in rows:
            h = Hazard(*r)
            late = h.overdue(now)
            out.append(Observed(h.site, RULE, subject(h.id), late, self._text(h) if late else ""))
        return out

    def _text(self, h: Hazard) -> str:
        """The alert's value: category, place and deadline. The place is the site file's
        (floor and room names) or the checkpoint id, never words a person typed: the value
        leaves the building in notifications, and a typed location may name a resident."""
        due = datetime.fromtimestamp(h.deadline_ms / 1000, self._tz(h.site))
        where = self.location_of(h.site, h.floor, h.room) if h.floor or h.room else h.checkpoint
        place = f" @ {where}" if where else ""
        return f"hazard {h.id} {h.category}{place}: due {due:%Y-%m-%d %H:%M}"

    def aged_alerts(self, minutes: Mapping[str, Mapping[str, int]]) -> list[AgedAlert]:
        """Open alerts of the rules in `minutes` (site -> rule -> minutes) open at least
        that long with no hazard yet."""
        now = self._clock.now_ms()
        out: list[AgedAlert] = []
        conn = self._read()
        try:
            for site, rules in minutes.items():
                for rule, mins in rules.items():
                    rows = conn.execute(
                        "SELECT id, site, device_id, rule, value, floor, room FROM alerts"
                        " WHERE site = ? AND rule = ? AND state != 'closed' AND raised_at <= ?"
                        " AND NOT EXISTS (SELECT 1 FROM hazards WHERE source = 'alert'"
                        " AND source_ref = CAST(alerts.id AS TEXT))",
                        (site, rule, now - mins * 60_000),
                    ).fetchall()
                    out += [AgedAlert(*r) for r in rows]
        finally:
            conn.close()
        return out


def _one(conn: sqlite3.Connection, hazard_id: int) -> Hazard | None:
    row = conn.execute(f"SELECT {COLUMNS} FROM hazards WHERE id = ?", (hazard_id,)).fetchone()
    return Hazard(*row) if row else None


def _of_alert(conn: sqlite3.Connection, alert_id: str) -> int | None:
    row = conn.execute(
        "SELECT id FROM hazards WHERE source = 'alert' AND source_ref = ? ORDER BY id LIMIT 1",
        (alert_id,),
    ).fetchone()
    return int(row[0]) if row else None


def _log(
    conn: sqlite3.Connection,
    hazard_id: int,
    at_ms: int,
    action: str,
    from_state: str | None,
    to_state: str,
    by: str | None,
    note: str | None,
) -> None:
    conn.execute(
        "INSERT INTO hazard_log(hazard_id, at_ms, action, from_state, to_state, by, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (hazard_id, at_ms, action, from_state, to_state, by, note),
    )
