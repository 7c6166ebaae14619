"""Round check-ins (巡查打卡): the desk that records a check-in (table `round_checkins`) from
the phone page (`via` phone) or a tag reader's `scan` event (`via` reader,
alerting/checkin_reader.py), opens
a hazard for each "problem found" in the same transaction (alerting/hazards.open_hazard),
and tells, per route, the round in progress and whether `round_missed` holds
(alerting/rounds.py).

A check-in names a tag; the tag names the checkpoint (the site file). It counts for every
route whose round's slot holds its time and which includes the checkpoint. A replay is
refused (409): the same `client_id` again, or the checkpoint already checked in in the
current round of every route it counts for (off-schedule: within REPLAY_MS). A repeat that
reports a "problem" is never refused: the hazard a patrol found is not lost because
someone checked the place in before; it is recorded, counts for no further round
(`Recorded.repeat`) and opens its hazards like any other."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, tzinfo

from alerting.hazards import NewHazard, open_hazard
from alerting.items import CommandResult, Observed
from alerting.rounds import (
    CHECKLIST,
    RULE,
    RoundStatus,
    current_round,
    hits_of,
    missed_verdict,
    next_start,
    point_state,
    round_at,
    rounds_between,
    status,
    verdict_text,
    watch_key,
)
from devices.catalog import load_catalog
from devices.ports import Clock
from devices.registry import Registry
from devices.rounds import CheckpointConfig, Round, RouteConfig, normal_tag

log = logging.getLogger("carewatch.rounds")

VIA = ("phone", "reader")
ANSWERS = ("ok", "problem")
NOTE_MAX = 500
REPLAY_MS = 10 * 60_000
WRITE_TIMEOUT_S = 5.0
READER = "tag_reader"
LOOK_BACK_MS = 50 * 3_600_000

Write = Callable[[Callable[[sqlite3.Connection], None]], "Future[CommandResult]"]


class CheckinError(Exception):
    """A check-in refused, with the HTTP status the API answers it with, why, and for the
    refusals a phone acts on a machine `code`: `unknown_tag`, `already_recorded` (this
    check-in's `client_id` was saved before: a retry after a lost answer), `already_checked_in`
    (the checkpoint was checked in this round). With `already_recorded`, `saved` is the
    check-in saved before and `hazards` the ones it opened, so the phone tells what was kept
    (not what it sent now)."""

    def __init__(
        self,
        status: int,
        detail: str,
        code: str | None = None,
        saved: Checkin | None = None,
        hazards: tuple[int, ...] = (),
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.saved = saved
        self.hazards = hazards


@dataclass(frozen=True, slots=True)
class Checkin:
    """A row of table `round_checkins`."""

    id: int
    site: str
    checkpoint: str
    tag: str
    by: str
    via: str
    at_ms: int
    recorded_ms: int
    result: str
    answers: dict[str, str]
    note: str | None
    client_id: str | None


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a check-in did: the row, the routes it counts for, whether it was late for any
    of them (after the due time) or even missed (at or after due + grace: too late to
    count, the round's checkpoint stays missed), the hazards it opened, and whether it was
    a repeat in a round already checked in (kept for its "problem" answers, counted for no
    round)."""

    checkin: Checkin
    routes: tuple[str, ...]
    late: bool
    hazards: tuple[int, ...]
    repeat: bool = False
    missed: bool = False


_COLS = "id, site, checkpoint, tag, by, via, at_ms, recorded_ms, result, answers, note, client_id"


def _row(r: Sequence[object]) -> Checkin:
    answers = json.loads(str(r[9])) if r[9] else {}
    return Checkin(
        int(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), int(r[6]),  # type: ignore[call-overload]
        int(r[7]), str(r[8]), answers, None if r[10] is None else str(r[10]),  # type: ignore[call-overload]
        None if r[11] is None else str(r[11]),
    )  # fmt: skip


def checkins(conn: sqlite3.Connection, site: str, start_ms: int, end_ms: int) -> list[Checkin]:
    """The check-ins of `site` in [start_ms, end_ms), oldest first."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM round_checkins WHERE site = ? AND at_ms >= ? AND at_ms < ?"
        " ORDER BY at_ms, id",
        (site, start_ms, end_ms),
    ).fetchall()
    return [_row(r) for r in rows]


def _mine(route: RouteConfig, rows: Iterable[tuple[str, int, str]]) -> list[tuple[str, int, str]]:
    return [r for r in rows if r[0] in route.checkpoints]


def _since_key(site: str) -> str:
    """The per-site key of before (one watch for all routes); read once, at the upgrade."""
    return f"rounds_since:{site}"


class RoundDesk:
    """Records check-ins and answers what each route's round stands at. `write` runs a
    change in the engine's transaction (alerting/runner.py), `read` opens a read
    connection, `tz` gives a site's time zone."""

    def __init__(
        self,
        registry: Registry,
        read: Callable[[], sqlite3.Connection],
        write: Write | None,
        clock: Clock,
        tz: Callable[[str], tzinfo] | None = None,
    ) -> None:
        self._registry = registry
        self._read = read
        self._write = write
        self._clock = clock
        self._tz = tz or (lambda _site: UTC)

    # --- the site file -----------------------------------------------------------------

    def sites(self) -> list[str]:
        """The sites with at least one route."""
        return [s.id for s in self._registry.sites.values() if s.rounds and s.rounds.routes]

    def routes(self, site: str) -> list[RouteConfig]:
        """The site's routes in file order."""
        conf = self._registry.sites.get(site)
        return list(conf.rounds.routes) if conf and conf.rounds else []

    def checkpoints(self, site: str) -> dict[str, CheckpointConfig]:
        """The site's checkpoints by id."""
        conf = self._registry.sites.get(site)
        return {c.id: c for c in conf.rounds.checkpoints} if conf and conf.rounds else {}

    def by_tag(self, site: str, tag: str) -> CheckpointConfig | None:
        """The checkpoint whose tag this is (tags are unique per site; an NFC uid in any
        case), or None."""
        tag = normal_tag(tag)
        return next((c for c in self.checkpoints(site).values() if c.tag == tag), None)

    def tz(self, site: str) -> tzinfo:
        """The site's time zone: rounds run on the home's clocks."""
        return self._tz(site)

    # --- recording ---------------------------------------------------------------------

    def check(
        self, site: str, tag: str, answers: Mapping[str, str], note: str | None
    ) -> CheckpointConfig:
        """The checkpoint of a check-in that can be recorded; CheckinError says why not."""
        if site not in self._registry.sites:
            raise CheckinError(422, f"unknown site {site!r}")
        cp = self.by_tag(site, tag)
        if cp is None:
            raise CheckinError(
                404, f"no checkpoint of site {site!r} has tag {tag!r}", "unknown_tag"
            )
        for item, answer in answers.items():
            if answer not in ANSWERS:
                raise CheckinError(422, f"answers.{item}: {answer!r} is not ok or problem")
            # a problem seen off the checklist (a blocked exit by a hydrant) is still a
            # hazard a patrol reported, as from a tag reader; an "ok" there checks nothing
            if item not in cp.checklist and not (answer == "problem" and item in CHECKLIST):
                raise CheckinError(
                    422, f"answers: {item!r} is not on checkpoint {cp.id}'s checklist"
                    f" ({', '.join(cp.checklist) or 'none'}); a problem may name any item of"
                    f" {', '.join(CHECKLIST)}"
                )  # fmt: skip
        if note is not None and len(note) > NOTE_MAX:
            raise CheckinError(422, f"note: at most {NOTE_MAX} characters")
        return cp

    def counts_for(self, site: str, checkpoint: str, at_ms: int) -> list[tuple[RouteConfig, int]]:
        """The routes (with their round's start) a check-in of `checkpoint` at `at_ms` counts
        for."""
        out = []
        for route in self.routes(site):
            if checkpoint in route.checkpoints:
                rnd = round_at(route, self._tz(site), at_ms)
                if rnd is not None:
                    out.append((route, rnd.start_ms))
        return out

    def apply_checkin(
        self,
        conn: sqlite3.Connection,
        site: str,
        cp: CheckpointConfig,
        tag: str,
        by: str,
        via: str,
        at_ms: int,
        answers: Mapping[str, str],
        note: str | None,
        client_id: str | None,
        refuse_replay: bool,
    ) -> Recorded:
        """Insert the check-in and open a hazard for each "problem" on `conn`, inside the
        engine's transaction; CheckinError(409) for a replay when `refuse_replay`."""
        now = self._clock.now_ms()
        if client_id is not None:
            seen = conn.execute(
                f"SELECT {_COLS} FROM round_checkins WHERE client_id = ?", (client_id,)
            ).fetchone()
            if seen is not None:
                saved = _row(seen)
                opened = conn.execute(
                    "SELECT id FROM hazards WHERE source = 'round' AND source_ref = ? ORDER BY id",
                    (str(saved.id),),
                ).fetchall()
                raise CheckinError(
                    409, f"check-in {client_id!r} was recorded already (#{saved.id})",
                    "already_recorded", saved, tuple(int(h) for (h,) in opened),
                )  # fmt: skip
        counted = self.counts_for(site, cp.id, at_ms)
        repeat = False
        if refuse_replay and self._checked_in_already(conn, site, cp.id, at_ms, counted):
            if "problem" not in answers.values():
                raise CheckinError(
                    409, f"checkpoint {cp.id} is checked in already in this round",
                    "already_checked_in",
                )  # fmt: skip
            repeat, counted = True, []  # a problem found is kept; it counts for no round
        result = "problem" if "problem" in answers.values() else "ok"
        cur = conn.execute(
            "INSERT INTO round_checkins(site, checkpoint, tag, by, via, at_ms, recorded_ms,"
            " result, answers, note, client_id) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (site, cp.id, tag, by, via, at_ms, now, result,
             json.dumps(dict(answers), sort_keys=True), note, client_id),
        )  # fmt: skip
        cid = int(cur.lastrowid or 0)
        hazards = tuple(
            open_hazard(conn, self._hazard(site, cp, item, by, note, cid), now)
            for item, answer in answers.items()
            if answer == "problem"
        )
        states = {point_state(r, at_ms) for r in self._rounds_of(site, counted, at_ms)}
        late, missed = bool(states & {"late", "missed"}), "missed" in states
        row = Checkin(cid, site, cp.id, tag, by, via, at_ms, now, result, dict(answers),
                      note, client_id)  # fmt: skip
        return Recorded(row, tuple(r.id for r, _s in counted), late, hazards, repeat, missed)

    def _rounds_of(
        self, site: str, counted: Sequence[tuple[RouteConfig, int]], at_ms: int
    ) -> list[Round]:
        tz = self._tz(site)
        return [r for route, _s in counted if (r := round_at(route, tz, at_ms)) is not None]

    def _checked_in_already(
        self,
        conn: sqlite3.Connection,
        site: str,
        checkpoint: str,
        at_ms: int,
        counted: Sequence[tuple[RouteConfig, int]],
    ) -> bool:
        """Whether a check-in of `checkpoint` at `at_ms` would count for nothing new: every
        route it counts for has it checked in this round already (off-schedule: within
        REPLAY_MS before)."""
        since = min((start for _r, start in counted), default=at_ms - REPLAY_MS)
        rows = conn.execute(
            "SELECT at_ms FROM round_checkins WHERE site = ? AND checkpoint = ?"
            " AND at_ms >= ? AND at_ms <= ?",
            (site, checkpoint, since, at_ms),
        ).fetchall()
        if not counted:
            return bool(rows)
        return all(any(start <= int(a) for (a,) in rows) for _r, start in counted)

    def _hazard(
        self, site: str, cp: CheckpointConfig, item: str, by: str, note: str | None, cid: int
    ) -> NewHazard:
        label = load_catalog().text("zh", f"rounds.item.{item}")
        return NewHazard(
            site=site,
            category=CHECKLIST[item],
            description=f"巡查发现问题: {label}" + (f" ({note})" if note else ""),
            location=cp.name,
            opened_by=by,
            source="round",
            floor=cp.floor,
            room=cp.room,
            checkpoint=cp.id,
            source_ref=str(cid),
        )

    def record(
        self,
        site: str,
        tag: str,
        by: str,
        answers: Mapping[str, str],
        note: str | None = None,
        client_id: str | None = None,
        at_ms: int | None = None,
    ) -> Recorded:
        """Record a phone's check-in in the engine's next transaction and wait for it."""
        note = (note or "").strip() or None
        tag = normal_tag(tag)
        cp = self.check(site, tag, answers, note)
        at = self._clock.now_ms() if at_ms is None else at_ms
        got: list[Recorded | CheckinError] = []

        def apply(conn: sqlite3.Connection) -> None:
            try:
                got.append(self.apply_checkin(conn, site, cp, tag, by, "phone", at, answers,
                                              note, client_id, True))  # fmt: skip
            except CheckinError as exc:
                got.append(exc)

        if self._write is None:
            raise CheckinError(503, "check-ins are not taken here")
        try:
            done = self._write(apply).result(WRITE_TIMEOUT_S)
        except TimeoutError:
            raise CheckinError(503, "the service is busy: try again") from None
        if not done.ok or not got:
            raise CheckinError(503, "the check-in could not be saved: try again")
        if isinstance(got[0], CheckinError):
            raise got[0]
        return got[0]

    # --- reading -----------------------------------------------------------------------

    def listing(self, site: str, start_ms: int, end_ms: int) -> list[Checkin]:
        """The check-ins of `site` in [start_ms, end_ms), oldest first."""
        conn = self._read()
        try:
            return checkins(conn, site, start_ms, end_ms)
        finally:
            conn.close()

    def rounds_now(
        self, site: str, now_ms: int | None = None
    ) -> list[tuple[RouteConfig, RoundStatus | None, int | None]]:
        """Per route: the current round's status (None without one) and the next start."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        tz = self._tz(site)
        rows = [(c.checkpoint, c.at_ms, c.by)
                for c in self.listing(site, now - LOOK_BACK_MS, now + 1)]  # fmt: skip
        out: list[tuple[RouteConfig, RoundStatus | None, int | None]] = []
        for route in self.routes(site):
            rnd = current_round(route, tz, now)
            st = None
            if rnd is not None:
                st = status(route, rnd, hits_of(rnd, _mine(route, rows)), now)
            out.append((route, st, next_start(route, tz, now)))
        return out

    # --- the check ---------------------------------------------------------------------

    def next_grace_ms(self, now_ms: int | None = None) -> int | None:
        """The next moment a round of any site's route runs out of grace (when
        `round_missed` may start to hold), or None without routes."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        ends = [
            r.grace_until_ms
            for site in self.sites()
            for route in self.routes(site)
            for r in rounds_between(
                route, self._tz(site), now - 25 * 3_600_000, now + 49 * 3_600_000
            )
            if r.grace_until_ms > now
        ]
        return min(ends, default=None)

    def start_watch(self, now_ms: int | None = None) -> Callable[[sqlite3.Connection], None]:
        """A write that notes, once per route as it is now (watch_key), since when its
        rounds are watched: a new install, a new route or a changed one does not raise
        rounds from before as missed. The per-site key of before, where an install has
        it, is taken for its routes once and then dropped."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        routes = [(s, self.routes(s)) for s in self.sites()]

        def apply(conn: sqlite3.Connection) -> None:
            for site, mine in routes:
                old = conn.execute(
                    "SELECT value FROM meta WHERE key = ?", (_since_key(site),)
                ).fetchone()
                since = str(old[0]) if old else str(now)
                conn.executemany(
                    "INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
                    [(watch_key(site, r), since) for r in mine],
                )
                conn.execute("DELETE FROM meta WHERE key = ?", (_since_key(site),))

        return apply

    def observations(
        self, sites: Iterable[str] | None = None, now_ms: int | None = None
    ) -> list[Observed]:
        """`round_missed` for each route's subject `round:<route>`."""
        now = self._clock.now_ms() if now_ms is None else now_ms
        out: list[Observed] = []
        conn = self._read()
        try:
            for site in self.sites() if sites is None else list(sites):
                tz = self._tz(site)
                found = checkins(conn, site, now - LOOK_BACK_MS, now + 1)
                rows = [(c.checkpoint, c.at_ms, c.by) for c in found]
                for route in self.routes(site):
                    row = conn.execute(
                        "SELECT value FROM meta WHERE key = ?", (watch_key(site, route),)
                    ).fetchone()
                    since = int(row[0]) if row else now
                    v = missed_verdict(route, tz, _mine(route, rows), now, since)
                    text = verdict_text(route, v, tz) if v.holds else ""
                    out.append(Observed(site, RULE, f"round:{route.id}", v.holds, text))
        finally:
            conn.close()
        return out
