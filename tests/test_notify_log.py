"""The notification side's log lines: a `kind: log` target's notification, and each
escalation step as it commits; ids only, never a resident's name."""

from __future__ import annotations

import dataclasses
import logging

from alerting.notify.log import LogSender, log_escalations
from alerting.outbox import next_pending
from tests.engine_harness import Harness
from tests.outbox_rows import add, table


def test_logs_ids_and_never_a_name(caplog):
    conn = table()
    add(conn, "family", alert_id=42, action="escalate")
    row = next_pending(conn, "family")
    assert row is not None
    # even if a name had slipped into the row, the line would not carry it
    row = dataclasses.replace(row, alert={**row.alert, "resident_name": "张秀英"})
    with caplog.at_level(logging.INFO, logger="carewatch.alerting.delivery"):
        assert LogSender().send(row) == 0
    [rec] = caplog.records
    assert rec.getMessage() == "notification"
    fields = {k: getattr(rec, k) for k in ("target", "key", "action")}
    assert fields == {"target": "family", "key": row.key, "action": "escalate"}
    assert "张秀英" not in str(rec.__dict__)


def test_each_escalation_step_is_logged_by_ids(tmp_path, registry, caplog):
    h = Harness(tmp_path / "cw.db", registry)
    h.send("w-101-1", "event", '{"event":"fall","id":"f1"}')
    h.tick(60)
    fall = [c for c in h.changes if c.alert.rule == "fall"]
    with caplog.at_level(logging.INFO, logger="carewatch.alerting.notify"):
        log_escalations(fall)
    lines = [(r.getMessage(), r.target, r.action, r.device_id) for r in caplog.records]
    assert lines == [
        ("escalation", "duty_screen", "escalate", "w-101-1"),
        ("escalation", "supervisor", "escalate", "w-101-1"),
    ]
    name = registry.resident_name("sunrise", registry.get("sunrise", "w-101-1").resident)
    assert name and all(name not in str(r.__dict__) for r in caplog.records)
