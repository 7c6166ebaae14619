"""An outbox table of its own, filled by hand: the delivery steps tested without an engine."""

from __future__ import annotations

import sqlite3

import orjson

from alerting import outbox

T0 = 1_795_300_000_000  # devices.ports.FakeClock's start


def table() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    outbox.create_schema(conn)
    return conn


def add(
    conn: sqlite3.Connection,
    target: str = "supervisor",
    alert_id: int = 7,
    seq: int = 1,
    *,
    created_ms: int = T0,
    next_ms: int | None = None,
    action: str = "escalate",
    state: str = "pending",
) -> int:
    """One row as the engine routes it (alert JSON without a resident's name); its id."""
    cur = conn.execute(
        "INSERT INTO outbox(key, target, alert_id, seq, action, msg_type, created_ms,"
        " first_ms, note, alert, next_ms, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            f"sunrise:i1:{alert_id}:{target}:{seq}",
            target,
            alert_id,
            seq,
            action,
            "Alert" if seq == 1 else "Update",
            created_ms,
            created_ms,
            None,
            orjson.dumps({"id": str(alert_id), "rule": "fall", "device_type": "wearable"}),
            created_ms if next_ms is None else next_ms,
            state,
        ),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid
