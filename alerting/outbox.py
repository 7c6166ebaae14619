"""The durable outbox: which notifications an alert change causes (route), written in the
engine's transaction, so a crash can delay a notification but never lose it.

Routing: an escalation step naming a configured target, a fire forward (fire policy), and
afterwards every follow-up of an alert (ack, clear, resolve, dismissal...) to each target
that already heard of it, with the same reference and the next sequence number; the MQTT
alert topic gets every change. Each row's key,
`<site>:<install id>:<alert id>:<target>:<seq>`, is the Idempotency-Key of its
delivery; the install id (random, made with the database) keeps keys unique even when
alert ids start again after a restore.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import orjson

from alerting.formats import public_alert
from alerting.model import Alert, AlertState, Change
from alerting.ruleset import RuleSet

MQTT_TARGET = "mqtt"
FOLLOW_UPS = frozenset(
    {
        "repeat",
        "ack",
        "clear",
        "condition_cleared",
        "resolve",
        "reset",
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
    " last_status INTEGER, last_error TEXT)",
    "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox(target, id) WHERE state = 'pending'",
    "CREATE INDEX IF NOT EXISTS outbox_alert ON outbox(alert_id)",
]


def create_schema(conn: sqlite3.Connection) -> None:
    for stmt in SCHEMA:
        conn.execute(stmt)


class Outbox:
    def __init__(
        self,
        conn: sqlite3.Connection,
        rules: RuleSet,
        view: Callable[[Alert], dict[str, Any]],
    ) -> None:
        self._conn = conn
        self._rules = rules
        self._view = view
        # per open alert: target -> (last seq, first created_ms)
        self._heard: dict[int, dict[str, tuple[int, int]]] = {}
        self._install = "0"

    def load(self) -> None:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'install_id'").fetchone()
        self._install = row[0] if row else "0"
        rows = self._conn.execute(
            "SELECT o.alert_id, o.target, max(o.seq), min(o.created_ms) FROM outbox o"
            " JOIN alerts a ON a.id = o.alert_id WHERE a.state != 'closed'"
            " GROUP BY o.alert_id, o.target"
        ).fetchall()
        self._heard = {}
        for alert_id, target, seq, first in rows:
            self._heard.setdefault(alert_id, {})[target] = (seq, first)

    def route(self, changes: list[Change], now: int) -> int:
        """Outbox rows for the batch's changes; returns how many were written."""
        n = 0
        targets = self._rules.notify.targets
        for c in changes:
            a = c.alert
            heard = self._heard.setdefault(a.id, {})
            to: list[str] = []
            if c.action in ("escalate", "renotify") and c.target in targets:
                to.append(c.target)
            if c.action == "forward" and self._rules.fire_policy.target in targets:
                to.append(self._rules.fire_policy.target)
            if c.action in FOLLOW_UPS:
                to += [t for t in heard if t != MQTT_TARGET and t not in to]
            if self._rules.notify.mqtt_alerts and c.action not in ("escalate", "renotify"):
                to.append(MQTT_TARGET)
            for target in to:
                self._add(target, c, heard, now)
                n += 1
            if a.state is AlertState.CLOSED:
                self._heard.pop(a.id, None)
        return n

    def _add(self, target: str, c: Change, heard: dict[str, tuple[int, int]], now: int) -> None:
        seq, first = heard.get(target, (0, now))
        seq += 1
        heard[target] = (seq, first)
        msg_type = "Cancel" if c.action == "dismiss" else "Alert" if seq == 1 else "Update"
        a = c.alert
        self._conn.execute(
            "INSERT INTO outbox(key, target, alert_id, seq, action, msg_type, created_ms,"
            " first_ms, note, alert, next_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                f"{a.site}:{self._install}:{a.id}:{target}:{seq}",
                target,
                a.id,
                seq,
                c.action,
                msg_type,
                now,
                first,
                c.note,
                # rows leave the house: no resident's name is kept in them (PRIVATE_FIELDS)
                orjson.dumps(public_alert(self._view(a))),
                now,
            ),
        )
