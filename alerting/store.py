"""The alert store: SQLite tables for alerts, audit, event de-duplication and deadlines.

Only the engine's thread writes; readers open their own connections (WAL).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from alerting.model import Alert, AlertState, Severity
from devices.siteconfig import SYSTEM_SITE
from devices.sqlrows import inserting

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS alerts ("
    " id INTEGER PRIMARY KEY, site TEXT NOT NULL, device_id TEXT NOT NULL, rule TEXT NOT NULL,"
    " severity TEXT NOT NULL, state TEXT NOT NULL, latched INTEGER NOT NULL,"
    " raised_at INTEGER NOT NULL, last_at INTEGER NOT NULL, occurrences INTEGER NOT NULL,"
    " value TEXT, condition_cleared_at INTEGER, acknowledged_at INTEGER, acknowledged_by TEXT,"
    " cleared_at INTEGER, closed_by TEXT, note TEXT)",
    "CREATE INDEX IF NOT EXISTS alerts_open ON alerts(state) WHERE state != 'closed'",
    # at most one open alert per (rule, device): the database enforces it too
    "CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_open ON alerts(rule, site, device_id)"
    " WHERE state != 'closed'",
    "CREATE TABLE IF NOT EXISTS audit ("
    " id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL, at INTEGER NOT NULL,"
    " action TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL, by TEXT, note TEXT)",
    "CREATE INDEX IF NOT EXISTS audit_alert ON audit(alert_id)",
    "CREATE TABLE IF NOT EXISTS event_log ("
    " site TEXT NOT NULL, device_id TEXT NOT NULL, key TEXT NOT NULL, ts_ms INTEGER NOT NULL,"
    " event TEXT NOT NULL, received_ms INTEGER NOT NULL,"
    " PRIMARY KEY (site, device_id, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS event_log_received ON event_log(received_ms)",
    "CREATE TABLE IF NOT EXISTS device_state ("
    " site TEXT NOT NULL, device_id TEXT NOT NULL, last_seen_ms INTEGER, online INTEGER,"
    " due_ms INTEGER, PRIMARY KEY (site, device_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS device_state_due ON device_state(due_ms) WHERE due_ms IS NOT NULL",
    # every timer (on/off-delays, escalation steps, shelving, maintenance) is a row here
    "CREATE TABLE IF NOT EXISTS deadlines ("
    " kind TEXT NOT NULL, rule TEXT NOT NULL, site TEXT NOT NULL, subject TEXT NOT NULL,"
    " due_ms INTEGER NOT NULL, since_ms INTEGER NOT NULL, value TEXT,"
    " PRIMARY KEY (kind, rule, site, subject)) WITHOUT ROWID",
    # raises that correlation and repetition rules count, kept for their longest window
    "CREATE TABLE IF NOT EXISTS signals ("
    " id INTEGER PRIMARY KEY, rule TEXT NOT NULL, site TEXT NOT NULL, device_id TEXT NOT NULL,"
    " floor TEXT, room TEXT, at INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS maintenance ("
    " site TEXT NOT NULL, device_id TEXT NOT NULL, since_ms INTEGER NOT NULL,"
    " until_ms INTEGER NOT NULL, by TEXT, note TEXT, PRIMARY KEY (site, device_id)) WITHOUT ROWID",
    # install_id: makes notification keys unique across databases (a restore, a new
    # data dir) so a receiver that remembers keys never mistakes a new alarm for a retry
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS device_log ("
    " id INTEGER PRIMARY KEY, at INTEGER NOT NULL, site TEXT NOT NULL, device_id TEXT NOT NULL,"
    " action TEXT NOT NULL, by TEXT, note TEXT)",
    # community workers' welfare visits (巡访) of home beds: alerting/visits.py writes them,
    # the report counts them (visit rate); `outcome` visited | not_home | refused
    # (alerting/visits.OUTCOMES), `at_ms` when visited
    "CREATE TABLE IF NOT EXISTS visits ("
    " id INTEGER PRIMARY KEY, site TEXT NOT NULL, resident TEXT NOT NULL, worker TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL, recorded_ms INTEGER NOT NULL, outcome TEXT NOT NULL,"
    " note TEXT)",
    "CREATE INDEX IF NOT EXISTS visits_site_at ON visits(site, at_ms)",
    # the fire-hazard register (alerting/hazards.py): state open | in_progress | fixed |
    # closed; `fixed_by` may never be `closed_by` (a second person signs it off); every step
    # a row of hazard_log; photos are files under <data_dir>/hazard-photos/ by checksum
    "CREATE TABLE IF NOT EXISTS hazards ("
    " id INTEGER PRIMARY KEY, site TEXT NOT NULL, state TEXT NOT NULL, category TEXT NOT NULL,"
    " description TEXT NOT NULL, location TEXT NOT NULL, floor TEXT, room TEXT,"
    " checkpoint TEXT, source TEXT NOT NULL, source_ref TEXT, opened_by TEXT NOT NULL,"
    " opened_ms INTEGER NOT NULL, owner TEXT, deadline_ms INTEGER NOT NULL,"
    " started_ms INTEGER, fixed_by TEXT, fixed_ms INTEGER, closed_by TEXT, closed_ms INTEGER)",
    "CREATE INDEX IF NOT EXISTS hazards_site_state ON hazards(site, state)",
    "CREATE TABLE IF NOT EXISTS hazard_log ("
    " id INTEGER PRIMARY KEY, hazard_id INTEGER NOT NULL, at_ms INTEGER NOT NULL,"
    " action TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL, by TEXT, note TEXT)",
    "CREATE INDEX IF NOT EXISTS hazard_log_hazard ON hazard_log(hazard_id)",
    "CREATE TABLE IF NOT EXISTS hazard_photos ("
    " hazard_id INTEGER NOT NULL, sha256 TEXT NOT NULL, content_type TEXT NOT NULL,"
    " bytes INTEGER NOT NULL, by TEXT, at_ms INTEGER NOT NULL,"
    " PRIMARY KEY (hazard_id, sha256)) WITHOUT ROWID",
    # fire patrols' check-ins (alerting/checkins.py): `via` phone | reader, `result` ok |
    # problem, `answers` the checklist as JSON {item: ok|problem}; `client_id` makes a
    # retry or a redelivered reader scan one row
    "CREATE TABLE IF NOT EXISTS round_checkins ("
    " id INTEGER PRIMARY KEY, site TEXT NOT NULL, checkpoint TEXT NOT NULL, tag TEXT NOT NULL,"
    " by TEXT NOT NULL, via TEXT NOT NULL, at_ms INTEGER NOT NULL, recorded_ms INTEGER NOT NULL,"
    " result TEXT NOT NULL, answers TEXT NOT NULL, note TEXT, client_id TEXT UNIQUE)",
    "CREATE INDEX IF NOT EXISTS round_checkins_site_at ON round_checkins(site, at_ms)",
]

# columns added after the first release: (name, declaration)
ADDED_COLUMNS = [
    ("priority", "TEXT NOT NULL DEFAULT 'routine'"),
    ("floor", "TEXT"),
    ("room", "TEXT"),
    ("group_key", "TEXT NOT NULL DEFAULT ''"),
    ("shelved_until", "INTEGER"),
    ("chattering", "INTEGER NOT NULL DEFAULT 0"),
    ("escalation_level", "INTEGER NOT NULL DEFAULT -1"),
    ("forwarded_at", "INTEGER"),
]

COLUMNS = (
    "id, site, device_id, rule, severity, state, latched, raised_at, last_at, occurrences,"
    " value, condition_cleared_at, acknowledged_at, acknowledged_by, cleared_at, closed_by, note,"
    " priority, floor, room, group_key, shelved_until, chattering, escalation_level,"
    " forwarded_at"
)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create or migrate the alert store's tables (columns added since the first release, the old
    `pending` table) and make the install id once; idempotent."""
    for stmt in SCHEMA:
        conn.execute(stmt)
    conn.execute(
        "INSERT OR IGNORE INTO meta(key, value) VALUES ('install_id', ?)",
        (secrets.token_hex(4),),
    )
    have = {r[1] for r in conn.execute("PRAGMA table_info(alerts)")}
    for name, decl in ADDED_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE alerts ADD COLUMN {name} {decl}")
    # a hazard's `client_id` (the screen's id of one form): a form sent twice is one hazard
    if "client_id" not in {r[1] for r in conn.execute("PRAGMA table_info(hazards)")}:
        conn.execute("ALTER TABLE hazards ADD COLUMN client_id TEXT")
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS hazards_client_id ON hazards(client_id)")
    # the watch's own (system) alerts carried the site's id before one service watched
    # several sites; they belong to the service now (SYSTEM_SITE)
    done = conn.execute("SELECT 1 FROM meta WHERE key = 'system_site'").fetchone()
    if done is None:  # once per database (a scan of every alert)
        conn.execute(
            "UPDATE alerts SET site = ? WHERE device_id LIKE 'system:%' AND site != ?",
            (SYSTEM_SITE, SYSTEM_SITE),
        )
        conn.execute(  # their on/off-delays (subject system:...) and timers (subject: id)
            "UPDATE OR REPLACE deadlines SET site = ? WHERE site != ? AND (subject LIKE"
            " 'system:%' OR subject IN (SELECT CAST(id AS TEXT) FROM alerts WHERE site = ?))",
            (SYSTEM_SITE, SYSTEM_SITE, SYSTEM_SITE),
        )
        conn.execute("INSERT INTO meta(key, value) VALUES ('system_site', ?)", (SYSTEM_SITE,))
    old = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'pending'").fetchone()
    if old:  # the first release kept on-delays in `pending`
        conn.execute(
            "INSERT OR IGNORE INTO deadlines(kind, rule, site, subject, due_ms, since_ms, value)"
            " SELECT 'on', rule, site, device_id, due_ms, since_ms, value FROM pending"
        )
        conn.execute("DROP TABLE pending")


def row_to_alert(row: tuple[Any, ...]) -> Alert:
    """An `alerts` row, selected as COLUMNS, as an Alert."""
    return Alert(
        id=row[0],
        site=row[1],
        device_id=row[2],
        rule=row[3],
        severity=Severity(row[4]),
        state=AlertState(row[5]),
        latched=bool(row[6]),
        raised_at=row[7],
        last_at=row[8],
        occurrences=row[9],
        value=row[10],
        condition_cleared_at=row[11],
        acknowledged_at=row[12],
        acknowledged_by=row[13],
        cleared_at=row[14],
        closed_by=row[15],
        note=row[16],
        priority=row[17],
        floor=row[18],
        room=row[19],
        group_key=row[20],
        shelved_until=row[21],
        chattering=bool(row[22]),
        escalation_level=row[23],
        forwarded_at=row[24],
    )


def load_open(conn: sqlite3.Connection) -> list[Alert]:
    """Every alert not closed, for the engine's cache."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM alerts WHERE state != 'closed'").fetchall()
    return [row_to_alert(r) for r in rows]


def insert(conn: sqlite3.Connection, a: Alert) -> int:
    """Store a new alert and return its id; `a.id` is ignored."""
    cur = conn.execute(
        "INSERT INTO alerts(site, device_id, rule, severity, state, latched, raised_at, last_at,"
        " occurrences, value, priority, floor, room, group_key)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            a.site,
            a.device_id,
            a.rule,
            a.severity.value,
            a.state.value,
            int(a.latched),
            a.raised_at,
            a.last_at,
            a.occurrences,
            a.value,
            a.priority,
            a.floor,
            a.room,
            a.group_key,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def update(conn: sqlite3.Connection, a: Alert) -> None:
    """Write an alert's changeable fields back; its identity and raise stay as inserted."""
    conn.execute(
        "UPDATE alerts SET severity=?, state=?, last_at=?, occurrences=?, value=?,"
        " condition_cleared_at=?, acknowledged_at=?, acknowledged_by=?, cleared_at=?,"
        " closed_by=?, note=?, shelved_until=?, chattering=?, escalation_level=?,"
        " forwarded_at=? WHERE id=?",
        (
            a.severity.value,
            a.state.value,
            a.last_at,
            a.occurrences,
            a.value,
            a.condition_cleared_at,
            a.acknowledged_at,
            a.acknowledged_by,
            a.cleared_at,
            a.closed_by,
            a.note,
            a.shelved_until,
            int(a.chattering),
            a.escalation_level,
            a.forwarded_at,
            a.id,
        ),
    )


# a batch's audit rows in one statement (devices/sqlrows.py says why)
_AUDIT = inserting("INSERT INTO audit(alert_id, at, action, from_state, to_state, by, note)", 7)

AuditRow = tuple[int, int, str, str | None, str, str | None, str | None]


def audit(conn: sqlite3.Connection, rows: Sequence[AuditRow]) -> None:
    """Append transitions (alert id, at, action, from state, to state, by, note) to the
    alerts' audit trails; the trail is never changed."""
    _AUDIT.run(conn, rows)


# what the duty room sees first: open before closed, emergency > routine > trouble,
# unacknowledged first, then severity, newest first
ORDER = (
    "state = 'closed',"
    " CASE priority WHEN 'emergency' THEN 0 WHEN 'routine' THEN 1 ELSE 2 END,"
    " state NOT IN ('active_unack', 'cleared_unack'),"
    " CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,"
    " id DESC"
)


class AlertReader:
    """Read side for the API: its own read-only connection per call."""

    def __init__(
        self,
        connect: Any,
        heard: Callable[[], Mapping[tuple[str, str], int]] | None = None,
    ) -> None:
        """`heard`: the engine's in-memory last-heard times, newer than the stored ones by
        up to a slack (alerting/supervision.py); `device_states` shows the newer."""
        self._connect = connect
        self._heard = heard

    def find(
        self, state: str = "open", limit: int = 500, sites: Sequence[str] | None = None
    ) -> list[Alert]:
        """Alerts by state ("open", "closed", "all" or an AlertState value), of `sites` only
        when given, in the duty room's order (ORDER), at most `limit`. An unknown state
        raises KeyError."""
        where = {
            "open": "state != 'closed'",
            "closed": "state = 'closed'",
            "all": "1=1",
            **{s.value: f"state = '{s.value}'" for s in AlertState},
        }[state]
        args: tuple[object, ...] = ()
        if sites is not None:
            where += f" AND site IN ({','.join('?' * len(sites))})"
            args = tuple(sites)
        conn = self._connect()
        try:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM alerts WHERE {where} ORDER BY {ORDER} LIMIT ?",
                (*args, limit),
            ).fetchall()
        finally:
            conn.close()
        return [row_to_alert(r) for r in rows]

    def get(self, alert_id: int) -> Alert | None:
        """One alert by id, or None."""
        conn = self._connect()
        try:
            row = conn.execute(f"SELECT {COLUMNS} FROM alerts WHERE id = ?", (alert_id,)).fetchone()
        finally:
            conn.close()
        return row_to_alert(row) if row else None

    def audit(self, alert_id: int) -> list[dict[str, Any]]:
        """The alert's audit trail, oldest first, as dicts (`at` in epoch ms)."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT at, action, from_state, to_state, by, note FROM audit WHERE alert_id = ?"
                " ORDER BY id",
                (alert_id,),
            ).fetchall()
        finally:
            conn.close()
        keys = ("at", "action", "from_state", "to_state", "by", "note")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def audits(self, alert_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        """The audit trails of several alerts at once (the console's queue shows what was
        tried on each call), oldest first."""
        if not alert_ids:
            return {}
        marks = ",".join("?" * len(alert_ids))
        conn = self._connect()
        try:
            rows = conn.execute(
                f"SELECT alert_id, at, action, by, note FROM audit WHERE alert_id IN ({marks})"
                " ORDER BY id",
                tuple(alert_ids),
            ).fetchall()
        finally:
            conn.close()
        out: dict[int, list[dict[str, Any]]] = {i: [] for i in alert_ids}
        for alert_id, at, action, by, note in rows:
            out[alert_id].append({"at": at, "action": action, "by": by, "note": note})
        return out

    def raised_since(self, site: str, since_ms: int, limit: int = 200) -> list[Alert]:
        """One site's alerts raised (or last seen) since `since_ms`, newest first: a home's
        recent history on the console's card."""
        conn = self._connect()
        try:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM alerts WHERE site = ? AND last_at >= ?"
                " ORDER BY raised_at DESC, id DESC LIMIT ?",
                (site, since_ms, limit),
            ).fetchall()
        finally:
            conn.close()
        return [row_to_alert(r) for r in rows]

    def device_events(self, site: str, since_ms: int, limit: int = 200) -> list[dict[str, Any]]:
        """One site's device events (a press, a cancel, a fall) received since `since_ms`,
        newest first: `{device_id, event, at}` with `at` in epoch ms."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT device_id, event, received_ms FROM event_log"
                " WHERE site = ? AND received_ms >= ? ORDER BY received_ms DESC LIMIT ?",
                (site, since_ms, limit),
            ).fetchall()
        finally:
            conn.close()
        return [{"device_id": d, "event": e, "at": at} for d, e, at in rows]

    def last_change_id(self) -> int:
        """The newest audit id (0 when empty): the screen stream's cursor for `changes_since`."""
        conn = self._connect()
        try:
            return int(conn.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()[0])
        finally:
            conn.close()

    def changes_since(self, after_id: int, limit: int = 500) -> list[tuple[dict[str, Any], Alert]]:
        """Audit rows after `after_id` with each alert's current state (the SSE stream)."""
        cols = ", ".join(f"a.{c.strip()}" for c in COLUMNS.split(","))
        conn = self._connect()
        try:
            rows = conn.execute(
                f"SELECT u.id, u.at, u.action, u.by, u.note, {cols} FROM audit u"
                " JOIN alerts a ON a.id = u.alert_id WHERE u.id > ? ORDER BY u.id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        finally:
            conn.close()
        keys = ("id", "at", "action", "by", "note")
        return [(dict(zip(keys, r[:5], strict=True)), row_to_alert(r[5:])) for r in rows]

    def maintenance(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The devices in maintenance: (site, device) -> since, until (epoch ms), by and note."""
        conn = self._connect()
        try:
            rows = conn.execute(
                "SELECT site, device_id, since_ms, until_ms, by, note FROM maintenance"
            )
            return {
                (s, d): {"since": a, "until": u, "by": b, "note": n} for s, d, a, u, b, n in rows
            }
        finally:
            conn.close()

    def device_states(self) -> dict[tuple[str, str], tuple[int | None, int | None]]:
        """(site, device) -> (last seen in epoch ms, online as 1/0), None where not known yet."""
        conn = self._connect()
        try:
            rows = conn.execute("SELECT site, device_id, last_seen_ms, online FROM device_state")
            states = {(s, d): (seen, online) for s, d, seen, online in rows}
        finally:
            conn.close()
        for key, at in (self._heard() if self._heard else {}).items():
            seen, online = states.get(key, (None, None))
            if seen is None or at > seen:
                states[key] = (at, online)
        return states


def prune_closed(conn: sqlite3.Connection, before_ms: int, limit: int) -> int:
    """Delete up to `limit` closed alerts whose last change is before `before_ms`, with their
    audit rows; how many alerts went. Open alerts stay whatever their age (they are still
    someone's work). Run in chunks by the retention job, each in the engine's transaction."""
    ids = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM alerts WHERE state = 'closed'"
            " AND COALESCE(cleared_at, last_at, raised_at) < ? ORDER BY id LIMIT ?",
            (before_ms, limit),
        )
    ]
    if not ids:
        return 0
    marks = ",".join("?" * len(ids))
    conn.execute(f"DELETE FROM audit WHERE alert_id IN ({marks})", ids)
    conn.execute(f"DELETE FROM alerts WHERE id IN ({marks})", ids)
    return len(ids)


def prune_device_log(conn: sqlite3.Connection, before_ms: int, limit: int) -> int:
    """Delete up to `limit` maintenance log rows from before `before_ms` (the alerts' age)."""
    return conn.execute(
        "DELETE FROM device_log WHERE id IN (SELECT id FROM device_log WHERE at < ? LIMIT ?)",
        (before_ms, limit),
    ).rowcount


def prune_event_log(conn: sqlite3.Connection, before_ms: int, limit: int) -> int:
    """Delete up to `limit` event keys received before `before_ms`: they only recognise a
    redelivered event, which comes within minutes, never weeks."""
    return conn.execute(
        "DELETE FROM event_log WHERE (site, device_id, key) IN"
        " (SELECT site, device_id, key FROM event_log WHERE received_ms < ? LIMIT ?)",
        (before_ms, limit),
    ).rowcount
