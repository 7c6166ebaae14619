"""Welfare visits (巡访) of home beds: the desk that records a community worker's visit
(table `visits`) and knows, from each home bed's plan (SiteConfig.visits), which visits
are due, which overdue and which missed. A missed visit is the `observed` rule
`visit_missed`: `observations` says for each resident's subject whether it holds now, and
the service submits those to the engine (carewatch/visiting.py), which raises and clears
the alert like any other.

The clock of a plan restarts at a visit where the worker saw the resident (`visited`,
`refused`); `not_home` is recorded but restarts nothing: nobody knows how she is, so the
visit is still owed. Before a home bed's first visit the clock runs from the day the
service first checked its plan (`visits_since:<site>` in table meta), so a new install
does not raise every home bed at once. Residents' names are never in a value or a log:
their ids only."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from alerting.items import CommandResult, Observed
from devices.ports import Clock
from devices.registry import Registry

RULE = "visit_missed"
OUTCOMES = ("visited", "not_home", "refused")
SEEN = frozenset({"visited", "refused"})  # outcomes that restart a plan's clock
DAY_MS = 86_400_000
# `visit_missed` is raised a day after a visit fell due: a worker who visits on the last
# day and records it in the evening raises nothing
GRACE_MS = DAY_MS
DUE_AHEAD_MS = DAY_MS  # shown as due a day before: tomorrow's round is on today's list
FUTURE_SKEW_MS = 5 * 60_000  # a phone's clock a few minutes fast is no visit "in the future"
MAX_BACKDATE_MS = 31 * DAY_MS  # a visit recorded later (from paper) is at most a month old
NOTE_MAX = 500
WRITE_TIMEOUT_S = 5.0

Write = Callable[[Callable[[sqlite3.Connection], None]], "Future[CommandResult]"]


class VisitError(Exception):
    """A visit refused, with the HTTP status the API answers it with and why."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Visit:
    """A recorded visit (a row of table `visits`)."""

    id: int
    site: str
    resident: str
    worker: str
    at_ms: int
    recorded_ms: int
    outcome: str
    note: str | None


@dataclass(frozen=True, slots=True)
class Due:
    """One resident's planned visit now: `status` ok | due | overdue, and whether the
    visit counts as missed (`visit_missed` holds)."""

    site: str
    resident: str
    worker: str
    every_days: int
    last_ms: int | None  # the last visit that saw her; None: none yet
    due_ms: int
    status: str
    missed: bool


def _since_key(site: str) -> str:
    return f"visits_since:{site}"


class VisitDesk:
    """Records visits and answers what is due. `assigned` maps each worker to the sites
    she visits (the access file); `write` runs a change in the engine's transaction (the
    one writer, alerting/runner.py), `read` opens a read connection."""

    def __init__(
        self,
        registry: Registry,
        assigned: Mapping[str, frozenset[str]],
        read: Callable[[], sqlite3.Connection],
        write: Write,
        clock: Clock,
        tz: Callable[[str], tzinfo] | None = None,
    ) -> None:
        self._registry = registry
        self._assigned = dict(assigned)
        self._read = read
        self._write = write
        self._clock = clock
        self._tz = tz or (lambda _site: UTC)

    # --- recording -----------------------------------------------------------------------

    def check(
        self, site: str, resident: str, worker: str, at_ms: int, outcome: str, note: str | None
    ) -> None:
        """Raise VisitError for a visit that cannot be recorded, saying why."""
        if site not in self._registry.sites:
            raise VisitError(422, f"unknown site {site!r}")
        if self._registry.resident(site, resident) is None:
            raise VisitError(422, f"unknown resident {resident!r} at site {site!r}")
        if site not in self._assigned.get(worker, frozenset()):
            raise VisitError(403, f"worker {worker!r} does not visit site {site!r}")
        if outcome not in OUTCOMES:
            raise VisitError(422, f"unknown outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
        now = self._clock.now_ms()
        if at_ms > now + FUTURE_SKEW_MS:
            raise VisitError(422, "a visit cannot be in the future")
        if at_ms < now - MAX_BACKDATE_MS:
            raise VisitError(422, "a visit more than 31 days ago cannot be recorded")
        if note is not None and len(note) > NOTE_MAX:
            raise VisitError(422, f"note: at most {NOTE_MAX} characters")

    def record(
        self,
        site: str,
        resident: str,
        worker: str,
        at_ms: int,
        outcome: str,
        note: str | None = None,
    ) -> tuple[Visit, bool]:
        """Record a visit after `check`; (the visit, True) when new. The same visit sent
        again (same site, resident, worker and time: a phone retrying after a lost answer)
        is the visit already recorded, (it, False): nothing twice, nothing lost."""
        note = (note or "").strip() or None
        self.check(site, resident, worker, at_ms, outcome, note)
        now = self._clock.now_ms()
        got: list[tuple[int, bool]] = []

        def apply(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT id FROM visits WHERE site = ? AND resident = ? AND worker = ?"
                " AND at_ms = ?",
                (site, resident, worker, at_ms),
            ).fetchone()
            if row is not None:
                got.append((int(row[0]), False))
                return
            cur = conn.execute(
                "INSERT INTO visits(site, resident, worker, at_ms, recorded_ms, outcome, note)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (site, resident, worker, at_ms, now, outcome, note),
            )
            got.append((int(cur.lastrowid or 0), True))

        try:
            done = self._write(apply).result(WRITE_TIMEOUT_S)
        except TimeoutError:
            raise VisitError(503, "the service is busy: try again") from None
        if not done.ok or not got:
            raise VisitError(503, "the visit could not be saved: try again")
        vid, new = got[0]
        return self.get(vid) or Visit(vid, site, resident, worker, at_ms, now, outcome, note), new

    # --- reading -------------------------------------------------------------------------

    def _rows(self, sql: str, args: Iterable[object]) -> list[Visit]:
        conn = self._read()
        try:
            rows = conn.execute(
                "SELECT id, site, resident, worker, at_ms, recorded_ms, outcome, note"
                " FROM visits " + sql,
                tuple(args),
            ).fetchall()
        finally:
            conn.close()
        return [Visit(*r) for r in rows]

    def get(self, visit_id: int) -> Visit | None:
        """One visit by id; None when there is none."""
        found = self._rows("WHERE id = ?", (visit_id,))
        return found[0] if found else None

    def visits(self, sites: Iterable[str], start_ms: int, end_ms: int) -> list[Visit]:
        """The visits of `sites` in [start_ms, end_ms), oldest first."""
        ids = list(sites)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self._rows(
            f"WHERE site IN ({marks}) AND at_ms >= ? AND at_ms < ? ORDER BY at_ms, id",
            [*ids, start_ms, end_ms],
        )

    def _last_seen(self, conn: sqlite3.Connection, site: str) -> dict[str, int]:
        seen = ",".join(f"'{o}'" for o in sorted(SEEN))
        rows = conn.execute(
            f"SELECT resident, MAX(at_ms) FROM visits WHERE site = ? AND outcome IN ({seen})"
            " GROUP BY resident",
            (site,),
        ).fetchall()
        return {r: int(at) for r, at in rows}

    def _since(self, conn: sqlite3.Connection, site: str) -> int | None:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_since_key(site),)).fetchone()
        return int(row[0]) if row else None

    def planned_sites(self) -> list[str]:
        """The home beds with a visit plan, in the registry's order."""
        return [s.id for s in self._registry.sites.values() if s.visits is not None]

    def due(self, sites: Iterable[str] | None = None, now_ms: int | None = None) -> list[Due]:
        """Every planned resident of `sites` (default: all) with her visit's status now,
        most overdue first."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        wanted = self.planned_sites() if sites is None else list(sites)
        out: list[Due] = []
        conn = self._read()
        try:
            for sid in wanted:
                conf = self._registry.sites.get(sid)
                if conf is None or conf.visits is None:
                    continue
                plan = conf.visits
                last = self._last_seen(conn, sid)
                since = self._since(conn, sid)
                period = plan.every_days * DAY_MS
                for r in conf.residents:
                    start = last.get(r.id, since if since is not None else now)
                    due_ms = start + period
                    status = (
                        "overdue" if now >= due_ms else "due" if now >= due_ms - DUE_AHEAD_MS
                        else "ok"
                    )  # fmt: skip
                    out.append(
                        Due(sid, r.id, plan.worker, plan.every_days, last.get(r.id), due_ms,
                            status, now >= due_ms + GRACE_MS)
                    )  # fmt: skip
        finally:
            conn.close()
        return sorted(out, key=lambda d: d.due_ms)

    # --- the check -----------------------------------------------------------------------

    def start_plans(self, now_ms: int | None = None) -> Callable[[sqlite3.Connection], None]:
        """A write that notes, once per planned site, since when its plan runs (the clock
        of a home bed not visited yet)."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        keys = [_since_key(s) for s in self.planned_sites()]

        def apply(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                [(k, str(now)) for k in keys],
            )

        return apply

    def observations(
        self, sites: Iterable[str] | None = None, now_ms: int | None = None
    ) -> list[Observed]:
        """`visit_missed` for each planned resident's subject (Registry.resident_subject):
        holds while a visit of hers is missed. Residents filed under one subject (two in
        a home, one terminal) share it: it holds while either's is."""
        holds: dict[tuple[str, str], list[str]] = {}
        for d in self.due(sites, now_ms):
            subject = self._registry.resident_subject(d.site, d.resident)
            if subject is None:
                continue
            texts = holds.setdefault((d.site, subject.id), [])
            if d.missed:
                texts.append(self._text(d))
        return [
            Observed(site, RULE, dev, bool(texts), "; ".join(texts))
            for (site, dev), texts in holds.items()
        ]

    def _text(self, d: Due) -> str:
        """What the screen shows: the resident's id (never her name) and the last visit."""
        if d.last_ms is None:
            return f"{d.resident}: no visit yet (every {d.every_days} days)"
        day = datetime.fromtimestamp(d.last_ms / 1000, self._tz(d.site)).date().isoformat()
        return f"{d.resident}: last visit {day} (every {d.every_days} days)"
