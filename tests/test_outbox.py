"""The outbox: what escalation routes to whom, and the SQL of delivery (alerting/outbox.py
is the only place that touches the table): the next pending row, the marks after a try,
the delivery log and its pruning."""

from __future__ import annotations

from alerting.defaults import default_rules
from alerting.outbox import (
    LOG_COLUMNS,
    delivery_log,
    mark_delivered,
    mark_failed,
    mark_retry,
    next_pending,
    prune_settled,
)
from alerting.ruleset import Notify, RuleSet, Target
from tests.engine_harness import Harness
from tests.outbox_rows import T0, add, table

DAY = 86_400_000


def test_escalation_steps_reach_their_targets_until_acknowledged(tmp_path, registry):
    hook = Target(url="http://127.0.0.1:9/hook", secret_env="X")
    targets = {"supervisor": hook, "director": hook}
    rules = RuleSet(default_rules(), notify=Notify(targets=targets, mqtt_alerts=False))
    h = Harness(tmp_path / "cw.db", registry, rules=rules)
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.tick(60)
    h.tick(540)  # 10 min: the director; the silent wearables' offline alerts fire too
    fall = [c for c in h.changes if c.alert.rule == "fall"]
    assert [c.target for c in fall if c.action == "escalate"] == [
        "duty_screen",
        "supervisor",
        "director",
    ]
    assert [c.action for c in fall] == ["raise", "escalate", "escalate", "escalate"]
    h.changes.clear()
    h.command("ack", h.one("fall").id)
    h.tick(3600)
    assert [c.action for c in h.changes if c.alert.rule == "fall"] == ["ack"]
    # the configured targets got the escalation and then the ack; the screen is no target
    rows = h.conn.execute(
        "SELECT target, seq, action FROM outbox WHERE alert_id = ? ORDER BY id",
        (h.one("fall").id,),
    ).fetchall()
    assert rows == [
        ("supervisor", 1, "escalate"),
        ("director", 1, "escalate"),
        ("supervisor", 2, "ack"),
        ("director", 2, "ack"),
    ]


def test_next_pending_is_the_oldest_pending_row_above_an_id():
    conn = table()
    assert next_pending(conn, "supervisor") is None
    a = add(conn, alert_id=1, next_ms=T0 + 500)
    b = add(conn, alert_id=2)
    add(conn, "director", alert_id=3)
    row = next_pending(conn, "supervisor")
    assert row is not None and (row.id, row.next_ms, row.attempts) == (a, T0 + 500, 0)
    assert row.key == "sunrise:i1:1:supervisor:1" and row.msg_type == "Alert"
    after = next_pending(conn, "supervisor", a)
    assert after is not None and after.id == b


def states(conn):
    return conn.execute(
        "SELECT state, attempts, next_ms, delivered_ms, last_status, last_error FROM outbox"
    ).fetchall()


def test_the_marks_after_a_try():
    conn = table()
    row = add(conn)
    mark_retry(conn, row, T0 + 700, 503, "HTTP 503")
    assert states(conn) == [("pending", 1, T0 + 700, None, 503, "HTTP 503")]
    mark_retry(conn, row, T0 + 2000, None, "ConnectError")
    assert states(conn) == [("pending", 2, T0 + 2000, None, None, "ConnectError")]
    mark_delivered(conn, row, T0 + 2100, 200)
    assert states(conn) == [("delivered", 3, T0 + 2000, T0 + 2100, 200, None)]
    other = table()
    mark_failed(other, add(other), 500, "HTTP 500")
    assert states(other) == [("failed", 1, T0, None, 500, "HTTP 500")]


def test_delivery_log_newest_first_filtered_with_the_rule():
    conn = table()
    add(conn, "supervisor", alert_id=1)
    add(conn, "director", alert_id=1)
    add(conn, "supervisor", alert_id=2, state="delivered")
    log = delivery_log(conn, None, None, None, 10)
    assert [(r["target"], r["alert_id"]) for r in log] == [
        ("supervisor", 2),
        ("director", 1),
        ("supervisor", 1),
    ]
    assert set(log[0]) == {*LOG_COLUMNS, "rule"} and log[0]["rule"] == "fall"
    assert [r["alert_id"] for r in delivery_log(conn, "supervisor", None, None, 10)] == [2, 1]
    assert [r["target"] for r in delivery_log(conn, None, 1, None, 10)] == [
        "director",
        "supervisor",
    ]
    assert [r["alert_id"] for r in delivery_log(conn, None, None, "delivered", 10)] == [2]
    assert len(delivery_log(conn, None, None, None, 1)) == 1


def test_prune_settled_keeps_what_is_still_owed_and_what_is_recent():
    conn = table()
    add(conn, alert_id=1, created_ms=T0 - 40 * DAY)  # pending: still owed, kept
    add(conn, alert_id=2, created_ms=T0 - 40 * DAY, state="delivered")
    add(conn, alert_id=3, created_ms=T0 - 40 * DAY, state="failed")
    add(conn, alert_id=4, created_ms=T0 - 10 * DAY, state="delivered")
    assert prune_settled(conn, T0 - 30 * DAY) == 2
    kept = conn.execute("SELECT alert_id FROM outbox ORDER BY id").fetchall()
    assert kept == [(1,), (4,)]
