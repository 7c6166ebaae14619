"""An export row of the outbox, delivered: the migration of a table from before exports, the
webhook sender posting the document as queued (signed, JSON whatever the target's format),
a receiver down then back getting it once, and exports in a lane of their own so that a
refused export never holds up a target's alert notifications."""

from __future__ import annotations

import sqlite3

import orjson

from alerting import outbox
from alerting.notify.receiver import Receiver
from alerting.notify.sender import DeliveryError
from alerting.notify.webhook import Place, WebhookPoster, WebhookSender
from alerting.notify.worker import DeliveryWorker
from alerting.outbox import OutboxRow, Scope
from devices.ports import FakeClock
from ingest.broker import free_port
from tests.outbox_rows import T0, add

DOC = {"schema": "carewatch.site-export", "version": "1", "site": {"id": "sunrise"}, "n": 1.5}
SECRET = b"regulator-secret-0123456789"

# the outbox as it was before exports (and before `site`): its rows are all alerts'
OLD_TABLE = (
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, target TEXT NOT NULL,"
    " alert_id INTEGER NOT NULL, seq INTEGER NOT NULL, action TEXT NOT NULL,"
    " msg_type TEXT NOT NULL, created_ms INTEGER NOT NULL, first_ms INTEGER NOT NULL,"
    " note TEXT, alert BLOB NOT NULL, state TEXT NOT NULL DEFAULT 'pending',"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL, delivered_ms INTEGER,"
    " last_status INTEGER, last_error TEXT)"
)


def store(install: str = "i9") -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('install_id', ?)", (install,))
    outbox.create_schema(conn)
    return conn


def queue(conn: sqlite3.Connection, day: str = "2026-03-06", revision: int = 1) -> str:
    key, queued = outbox.queue_export(
        conn, "sunrise", day, "regulator", revision, orjson.dumps(DOC), T0
    )
    assert queued
    return key


def test_an_outbox_table_from_before_exports_gets_the_kind_column_its_rows_alerts():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute(OLD_TABLE)
    conn.execute(
        "INSERT INTO outbox(key, target, alert_id, seq, action, msg_type, created_ms,"
        " first_ms, alert, next_ms) VALUES ('sunrise:i1:7:supervisor:1', 'supervisor', 7, 1,"
        " 'escalate', 'Alert', 1, 1, '{\"id\": \"7\"}', 1)"
    )
    outbox.create_schema(conn)
    outbox.create_schema(conn)  # twice: nothing more
    cols = {r[1]: r for r in conn.execute("PRAGMA table_info(outbox)")}
    assert "kind" in cols and cols["kind"][3] == 1  # NOT NULL
    row = outbox.next_pending(conn, "supervisor")
    assert row is not None and row.kind == "alert" and row.alert == {"id": "7"}
    assert conn.execute("SELECT site, kind FROM outbox").fetchall() == [("sunrise", "alert")]
    assert outbox.next_pending(conn, "supervisor", scope=Scope(kind="alert")) is not None
    assert outbox.next_pending(conn, "supervisor", scope=Scope(kind="export")) is None
    key = queue(conn)  # no install id in this old meta: "0"
    assert key == "sunrise:0:export:2026-03-06:regulator:1"
    log = outbox.delivery_log(conn, None, None, None, 10)
    assert [(r["kind"], r["alert_id"], r["rule"]) for r in log] == [
        ("export", 0, None),
        ("alert", 7, None),
    ]


def test_an_export_row_is_read_with_its_document_and_routing_ignores_it():
    conn = store()
    key = queue(conn)
    assert key == "sunrise:i9:export:2026-03-06:regulator:1"
    assert outbox.queue_export(conn, "sunrise", "2026-03-06", "regulator", 1, b"{}", T0) == (
        key,
        False,
    )
    row = outbox.next_pending(conn, "regulator")
    assert row is not None and (row.kind, row.alert, row.msg_type) == ("export", DOC, "Export")
    assert outbox.export_state(conn, key) == "pending"
    outbox.mark_delivered(conn, row.id, T0 + 5, 200)
    assert outbox.export_state(conn, key) == "delivered"
    assert outbox.pending_count(conn) == 0


def test_lanes_of_a_target_that_gets_exports():
    assert outbox.lanes(None, False) == [None]
    s = Scope(only=frozenset({"sunrise"}))
    assert outbox.lanes(s, False) == [s]
    alerts, exports = outbox.lanes(s, True)
    assert (alerts.only, alerts.kind, exports.only, exports.kind) == (
        s.only,
        "alert",
        s.only,
        "export",
    )
    assert outbox.lanes(None, True) == [Scope(kind="alert"), Scope(kind="export")]
    assert Scope(not_=frozenset({"a"}), kind="export").sql() == (
        " AND site NOT IN (?) AND kind = ?",
        ("a", "export"),
    )


def test_the_sender_posts_the_document_as_json_signed_even_to_a_cap_target():
    with Receiver(secret=SECRET) as rx:
        sender = WebhookSender(WebhookPoster(rx.url + "reg", SECRET), "cap", Place({"id": "x"}))
        conn = store()
        key = queue(conn)
        row = outbox.next_pending(conn, "regulator")
        assert row is not None
        assert sender.send(row) == 200
        sender.close()
    [got] = rx.received
    assert got["key"] == key and got["verified"] is True
    assert got["content_type"] == "application/json" and got["parsed"] == DOC
    assert got["body"] == orjson.dumps(DOC)


def test_a_receiver_down_then_back_gets_the_export_once(tmp_path):
    db = tmp_path / "carewatch.db"
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('install_id', 'i2')")
    outbox.create_schema(conn)
    key = queue(conn)
    port = free_port()
    rx = Receiver("127.0.0.1", port, SECRET)  # not started: refused connections
    clock = FakeClock(T0)
    sender = WebhookSender(
        WebhookPoster(f"http://127.0.0.1:{port}/reg", SECRET, 2.0), "json", Place({"id": "x"})
    )
    worker = DeliveryWorker(
        "regulator", sender, lambda: conn, clock, 86400, scope=Scope(kind="export")
    )
    try:
        for _ in range(3):
            wait = worker.deliver_once(conn)
            assert wait is not None and wait > 0
            clock.advance(wait / 1000)
        [log] = outbox.delivery_log(conn, "regulator", None, None, 5)
        assert (log["state"], log["attempts"], log["last_status"]) == ("pending", 3, None)
        assert log["last_error"]
        rx.start()
        assert worker.deliver_once(conn) == 0
        assert worker.deliver_once(conn) is None  # nothing more
        [log] = outbox.delivery_log(conn, "regulator", None, None, 5)
        assert (log["state"], log["attempts"], log["last_status"]) == ("delivered", 4, 200)
        assert rx.keys() == [key] and rx.duplicates == 0 and rx.rejected == 0
        assert rx.received[0]["parsed"] == DOC and rx.received[0]["verified"]
    finally:
        sender.close()
        rx.stop()
        conn.close()


class Refusing:
    """Refuses exports (422, say a schema the platform does not know yet), takes alerts."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, row: OutboxRow) -> int:
        if row.kind == "export":
            raise DeliveryError("HTTP 422", 422)
        self.sent.append(row.key)
        return 200


def test_a_refused_export_does_not_hold_up_the_alerts_behind_it():
    conn = store()
    queue(conn)  # the oldest row of the target
    add(conn, "regulator", alert_id=7)
    clock = FakeClock(T0)
    sender = Refusing()
    alerts, exports = (
        DeliveryWorker("regulator", sender, lambda: conn, clock, 86400, scope=lane)
        for lane in outbox.lanes(None, True)
    )
    assert exports.deliver_once(conn) > 0  # backing off
    assert alerts.deliver_once(conn) == 0
    assert sender.sent == ["sunrise:i1:7:regulator:1"]
    # one worker for both (no lanes) would have waited behind the export
    conn2 = store()
    queue(conn2)
    add(conn2, "regulator", alert_id=7)
    both = DeliveryWorker("regulator", Refusing(), lambda: conn2, clock, 86400)
    assert both.deliver_once(conn2) > 0
    assert both.deliver_once(conn2) > 0  # still the export: the alert waits
