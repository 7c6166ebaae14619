"""The durable outbox: which notifications an alert change causes (route), written in the
engine's transaction, so a crash can delay a notification but never lose it.

Routing: an escalation step naming a configured target, a fire forward (fire policy), and
afterwards every follow-up of an alert (ack, clear, resolve, dismissal...) to each target
that already heard of it, with the same reference and the next sequence number; the MQTT
alert topic gets every change. Each row's key,
`<site>:<install id>:<alert id>:<target>:<seq>`, is the Idempotency-Key of its
delivery; the install id (random, made with the database) keeps keys unique even when
alert ids start again after a restore.

A step naming a person (`family_1`, `community`, alerting/contacts.py) becomes one row per
channel of the contact, to the gateway target of that channel, with `recipient`
`<resident>/<contact>` (ids, never a name or number) and `channel`; its own sequence and
key `<site>:<install id>:<alert id>:<target>/<resident>/<contact>:<seq>`. People get the
steps only, not the follow-ups.

A row is of one of two kinds: `alert` (a notification about an alert, as above) or
`export` (a site's safety figures for one day, alerting/reports/export.py: `alert_id` 0,
the export document as the body, seq its revision, key
`<site>:<install id>:export:<date>:<target>:<revision>`). Both go out through the same
workers, signed alike; an export is queued once per key (`queue_export`).

All SQL on the outbox table is here: routing (`Outbox`), the delivery workers' reads and
writes (`next_pending`, `mark_delivered`, `mark_retry`, `mark_failed`), the delivery log
(`delivery_log`) and its pruning (`prune_settled`). The notification side
(alerting/notify/) calls these; this module never imports it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from alerting.contacts import Reach
from alerting.model import Alert, AlertState, Change
from alerting.rulebook import Rulebook
from alerting.ruleset import RuleSet
from alerting.views import public_alert
from devices.sqlrows import inserting

MQTT_TARGET = "mqtt"
ALERT_KIND = "alert"
EXPORT_KIND = "export"
EXPORT_ACTION = "export"
FOLLOW_UPS = frozenset(
    {
        "repeat",
        "ack",
        "clear",
        "condition_cleared",
        "resolve",
        "reset",
        "override_reset",  # a supervisor's remote reset of a bedside call (bedside.py)
        "dismiss",
        "shelve",
        "unshelve",
        "confirm",
    }
)
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS outbox ("
    " id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, target TEXT NOT NULL,"
    " alert_id INTEGER NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL,"
    " msg_type TEXT NOT NULL, created_ms INTEGER NOT NULL, first_ms INTEGER NOT NULL,"
    " note TEXT, alert BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL, delivered_ms INTEGER,"
    " last_status INTEGER, last_error TEXT, site TEXT NOT NULL DEFAULT '',"
    " kind TEXT NOT NULL DEFAULT 'alert', recipient TEXT NOT NULL DEFAULT '',"
    " channel TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(target, id) WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS outbox_alert ON outbox(alert_id)",
]


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the outbox table and its indexes if missing; in the engine's setup transaction.
    A table from before `site` was a column gets it, filled from each row's key; one from
    before `kind` was gets it too, every row an alert's (exports came with the column); one
    from before `recipient` and `channel` gets them empty (no row was to a person then)."""
    for stmt in SCHEMA:
        conn.execute(stmt)
    have = {r[1] for r in conn.execute("PRAGMA table_info(outbox)")}
    if "site" not in have:  # the site a row is about: its delivery worker's scope
        conn.execute("ALTER TABLE outbox ADD COLUMN site TEXT NOT NULL DEFAULT ''")
        conn.execute("UPDATE outbox SET site = substr(key, 1, instr(key, ':') - 1)")
    if "kind" not in have:
        conn.execute(f"ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT '{ALERT_KIND}'")
    if "recipient" not in have:  # a person reached through a gateway: `<resident>/<contact>`
        conn.execute("ALTER TABLE outbox ADD COLUMN recipient TEXT NOT NULL DEFAULT ''")
        conn.execute("ALTER TABLE outbox ADD COLUMN channel TEXT NOT NULL DEFAULT ''")


def install_id(conn: sqlite3.Connection) -> str:
    """This database's install id (meta `install_id`, made with it): part of every key."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'install_id'").fetchone()
    return str(row[0]) if row else "0"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which sites' rows one delivery worker takes: `only` these, or all but `not_`; and of
    which `kind` (None: both). A service whose sites share one set of targets has one
    worker per target, unscoped; a target that also gets exports has a second worker for
    them, so a refused export never holds up the alerts behind it."""

    only: frozenset[str] | None = None
    not_: frozenset[str] = frozenset()
    kind: str | None = None

    def sql(self) -> tuple[str, tuple[str, ...]]:
        """The WHERE clause part (starting with AND, or empty) and its arguments."""
        where = ""
        args: tuple[str, ...] = ()
        if self.only is not None:
            only = tuple(sorted(self.only))
            where, args = f" AND site IN ({','.join('?' * len(only))})", only
        elif self.not_:
            not_ = tuple(sorted(self.not_))
            where, args = f" AND site NOT IN ({','.join('?' * len(not_))})", not_
        if self.kind is not None:
            where, args = where + " AND kind = ?", (*args, self.kind)
        return where, args


def lanes(scope: Scope | None, exports: bool) -> list[Scope | None]:
    """The scopes of one target's delivery workers: one for all its rows, or, for a target
    that gets exports, alerts and exports apart, so a refused export never holds up the
    alert notifications behind it (a target's rows go strictly in order)."""
    if not exports:
        return [scope]
    base = scope or Scope()
    return [replace(base, kind=ALERT_KIND), replace(base, kind=EXPORT_KIND)]


# the batch's rows in one statement (devices/sqlrows.py says why)
_INSERT = inserting(
    "INSERT INTO outbox(key, target, alert_id, seq, action, msg_type, created_ms, first_ms,"
    " note, alert, next_ms, site, recipient, channel)",
    14,
)


class Outbox:
    """Routes the batch's alert changes to outbox rows, in the engine's transaction. Remembers per
    open alert which targets heard of it, for follow-ups."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        rules: RuleSet | Rulebook,
        view: Callable[[Alert], dict[str, Any]],
        reach: Callable[[Alert, str, int], Reach | None] | None = None,
    ) -> None:
        self._conn = conn
        self._rules = Rulebook.of_one(rules)
        self._view = view
        self._reach = reach  # a step naming a person: whom, by which gateway targets
        # per open alert: target -> (last seq, first created_ms)
        self._heard: dict[int, dict[str, tuple[int, int]]] = {}
        self._install = "0"

    def load(self) -> None:
        """Read the install id and, per open alert, the targets that heard of it and their last
        sequence numbers: at startup and after a rollback."""
        self._install = install_id(self._conn)
        rows = self._conn.execute(
            "SELECT o.alert_id, o.target, o.recipient, max(o.seq), min(o.created_ms)"
            " FROM outbox o JOIN alerts a ON a.id = o.alert_id WHERE a.state != 'closed'"
            " GROUP BY o.alert_id, o.target, o.recipient"
        ).fetchall()
        self._heard = {}
        for alert_id, target, recipient, seq, first in rows:
            lane = _lane(target, recipient)
            self._heard.setdefault(alert_id, {})[lane] = (seq, first)

    def route(self, changes: list[Change], now: int) -> int:
        """Outbox rows for the batch's changes, in one statement; returns how many."""
        rows = self._rows(changes, now)
        _INSERT.run(self._conn, rows)
        return len(rows)

    def _rows(self, changes: list[Change], now: int) -> list[tuple[Any, ...]]:
        """Each change's rows: one per target that hears of it (and per channel of a
        person called)."""
        rows: list[tuple[Any, ...]] = []
        for c in changes:
            a = c.alert
            rs = self._rules.of(a.site)
            targets = rs.notify.targets
            heard = self._heard.setdefault(a.id, {})
            to: list[str] = []
            if c.action in ("escalate", "renotify") and c.target in targets:
                to.append(c.target)
            if c.action == "forward" and rs.fire_policy.target in targets:
                to.append(rs.fire_policy.target)
            if c.action in FOLLOW_UPS:  # people are called, not kept up to date
                to += [t for t in heard if t != MQTT_TARGET and t not in to and "/" not in t]
            if rs.notify.mqtt_alerts and c.action not in ("escalate", "renotify"):
                to.append(MQTT_TARGET)
            for target in to:
                rows.append(self._row(target, c, heard, now))
            if c.action in ("escalate", "renotify") and c.target and self._reach is not None:
                found = self._reach(a, c.target, now)
                if found is not None and found.skipped is None:
                    for channel, gateway in found.channels:  # one row per channel
                        rows.append(self._row(gateway, c, heard, now, found.recipient, channel))
            if a.state is AlertState.CLOSED:
                self._heard.pop(a.id, None)
        return rows

    def _row(
        self,
        target: str,
        c: Change,
        heard: dict[str, tuple[int, int]],
        now: int,
        recipient: str = "",
        channel: str = "",
    ) -> tuple[Any, ...]:
        """One row's values; a person's (`recipient` `<resident>/<contact>`) counts its own seq, is
        keyed `<site>:<install>:<alert>:<target>/<resident>/<contact>:<seq>` and notes its
        step (`family_1`...)."""
        lane = _lane(target, recipient)
        seq, first = heard.get(lane, (0, now))
        seq += 1
        heard[lane] = (seq, first)
        msg_type = "Cancel" if c.action == "dismiss" else "Alert" if seq == 1 else "Update"
        a = c.alert
        return (
            f"{a.site}:{self._install}:{a.id}:{lane}:{seq}",
            target,
            a.id,
            seq,
            c.action,
            msg_type,
            now,
            first,
            c.target if recipient else c.note,
            # rows leave the house: no resident's name is kept in them (PRIVATE_FIELDS)
            orjson.dumps(public_alert(self._view(a))).decode(),
            now,
            a.site,
            recipient,
            channel,
        )


# ------------------------------------------------------------------ delivery


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One pending notification as its delivery worker reads it."""

    id: int
    key: str  # the Idempotency-Key
    target: str
    alert_id: int
    seq: int
    action: str
    msg_type: str
    created_ms: int
    first_ms: int
    note: str | None
    alert: Mapping[str, Any]  # the public alert JSON (no resident's name); an export's document
    attempts: int
    next_ms: int = 0  # not to be tried before this (backoff)
    kind: str = ALERT_KIND  # or EXPORT_KIND: `alert` is then the export document
    recipient: str = ""  # a person through a gateway: `<resident>/<contact>` (ids only)
    channel: str = ""  # then sms or voice


_PENDING = (
    "SELECT id, key, target, alert_id, seq, action, msg_type, created_ms, first_ms, note,"
    " alert, attempts, next_ms, kind, recipient, channel FROM outbox"
    " WHERE target = ? AND state = 'pending' AND id > ?"
)


def next_pending(
    conn: sqlite3.Connection, target: str, after_id: int = 0, scope: Scope | None = None
) -> OutboxRow | None:
    """The target's oldest pending row above `after_id` (rows up to it await a commit),
    among the sites of `scope` (default: every site)."""
    where, args = scope.sql() if scope is not None else ("", ())
    r = conn.execute(
        _PENDING + where + " ORDER BY id LIMIT 1", (target, after_id, *args)
    ).fetchone()
    if r is None:
        return None
    return OutboxRow(
        id=r[0],
        key=r[1],
        target=r[2],
        alert_id=r[3],
        seq=r[4],
        action=r[5],
        msg_type=r[6],
        created_ms=r[7],
        first_ms=r[8],
        note=r[9],
        alert=orjson.loads(r[10]),
        attempts=r[11],
        next_ms=r[12],
        kind=r[13],
        recipient=r[14],
        channel=r[15],
    )


def mark_delivered(conn: sqlite3.Connection, row_id: int, now_ms: int, status: int | None) -> None:
    """The row's notification arrived (`status`: the HTTP status, if any): done, never tried
    again."""
    conn.execute(
        "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_ms = ?,"
        " last_status = ?, last_error = NULL WHERE id = ?",
        (now_ms, status, row_id),
    )


def mark_retry(
    conn: sqlite3.Connection, row_id: int, next_ms: int, status: int | None, error: str
) -> None:
    """A failed attempt: counted, its status and error kept, the next try at `next_ms`."""
    conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_ms = ?, last_status = ?,"
        " last_error = ? WHERE id = ?",
        (next_ms, status, error, row_id),
    )


def mark_failed(conn: sqlite3.Connection, row_id: int, status: int | None, error: str) -> None:
    """The last attempt failed past the target's horizon: given up."""
    conn.execute(
        "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_status = ?,"
        " last_error = ? WHERE id = ?",
        (status, error, row_id),
    )


LOG_COLUMNS = (
    "id",
    "key",
    "target",
    "alert_id",
    "seq",
    "action",
    "msg_type",
    "created_ms",
    "state",
    "attempts",
    "next_ms",
    "delivered_ms",
    "last_status",
    "last_error",
    "kind",
    "recipient",
    "channel",
)


def delivery_log(
    conn: sqlite3.Connection,
    target: str | None,
    alert_id: int | None,
    state: str | None,
    limit: int,
    sites: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The delivery log, newest first (of `sites` only, when given): LOG_COLUMNS and the
    alert's `rule`."""
    where: list[str] = []
    args: list[object] = []
    for col, val in (("target", target), ("alert_id", alert_id), ("state", state)):
        if val is not None:
            where.append(f"{col} = ?")
            args.append(val)
    if sites is not None:
        where.append(f"site IN ({','.join('?' * len(sites))})")
        args += sites
    sql = (
        f"SELECT {', '.join(LOG_COLUMNS)}, json_extract(CAST(alert AS TEXT), '$.rule')"
        " FROM outbox"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY id DESC LIMIT ?"
    )
    rows = conn.execute(sql, (*args, limit)).fetchall()
    return [dict(zip((*LOG_COLUMNS, "rule"), r, strict=True)) for r in rows]


def prune_settled(conn: sqlite3.Connection, before_ms: int, limit: int = -1) -> int:
    """Delete delivered and failed rows created before `before_ms` (at most `limit`; -1:
    all); how many went. Pending rows stay whatever their age: they are still owed."""
    return conn.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE state != 'pending'"
        " AND created_ms < ? ORDER BY id LIMIT ?)",
        (before_ms, limit),
    ).rowcount


def pending_count(conn: sqlite3.Connection) -> int:
    """Notifications not yet delivered nor given up (what a backup carries over)."""
    row = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()
    return int(row[0]) if row else 0


# ------------------------------------------------------------------ exports


def export_key(conn: sqlite3.Connection, site: str, day: str, target: str, revision: int) -> str:
    """The Idempotency-Key of a site's export of one day to one target:
    `<site>:<install id>:export:<date>:<target>:<revision>`. The same site, day, target and
    revision is the same key, so the receiver takes it once."""
    return f"{site}:{install_id(conn)}:{EXPORT_KIND}:{day}:{target}:{revision}"


def export_state(conn: sqlite3.Connection, key: str) -> str | None:
    """pending, delivered or failed for an export queued under `key`; None if it never was
    (or its row was pruned)."""
    row = conn.execute("SELECT state FROM outbox WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def queue_export(
    conn: sqlite3.Connection,
    site: str,
    day: str,
    target: str,
    revision: int,
    body: bytes,
    now_ms: int,
) -> tuple[str, bool]:
    """Queue the export document `body` (JSON, no resident's name) for `target`; its key and
    whether it was queued now (False: that key was queued before and stays as it was)."""
    key = export_key(conn, site, day, target, revision)
    cur = conn.execute(
        "INSERT OR IGNORE INTO outbox(key, target, alert_id, seq, action, msg_type, created_ms,"
        " first_ms, note, alert, next_ms, site, kind) VALUES (?,?,0,?,?,?,?,?,NULL,?,?,?,?)",
        (
            key,
            target,
            revision,
            EXPORT_ACTION,
            "Export",
            now_ms,
            now_ms,
            body,
            now_ms,
            site,
            EXPORT_KIND,
        ),
    )
    return key, cur.rowcount == 1


def _lane(target: str, recipient: str | None) -> str:
    """A row's delivery lane: the target, or `<target>/<resident>/<contact>` for a person
    (each person's messages in order, apart from the others')."""
    return f"{target}/{recipient}" if recipient else target
