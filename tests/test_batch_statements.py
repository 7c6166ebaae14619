"""How many SQL statements a batch costs. Each one lets go of the interpreter's lock, and
under load taking it back can wait a switch interval (devices/sqlrows.py): an alarm's
time to the webhook grows with the statements of its batch and of the telemetry batch
ahead of it. Counts, not timings: a change that puts a statement back per row fails here."""

from __future__ import annotations

from alerting.items import Incoming
from tests.engine_harness import Harness

WEARABLES = [f"w-{room}-1" for room in (101, 102, 103, 104, 105, 106)]


def _readings(h: Harness, bpm: int) -> list[Incoming]:
    return [
        Incoming(
            h.decoder.decode(
                f"carewatch/v1/sunrise/{w}/telemetry",
                f'{{"heart_rate":{bpm},"battery":88}}'.encode(),
                h.clock.now_ms(),
            )
        )
        for w in WEARABLES
    ]


def _statements(h: Harness, batch: list[Incoming]) -> list[str]:
    seen: list[str] = []
    h.conn.set_trace_callback(seen.append)
    try:
        h.engine.process(batch)
    finally:
        h.conn.set_trace_callback(None)
    return seen


def test_a_batch_of_readings_is_three_statements_whatever_its_size(h):
    h.engine.process(_readings(h, 70))  # first heard: their rows are written
    h.clock.advance(1)
    seen = _statements(h, _readings(h, 71))
    assert seen[0].startswith("BEGIN") and seen[-1] == "COMMIT"
    assert len(seen) == 3, seen  # BEGIN, the spool rows in one INSERT, COMMIT


def test_a_fall_raised_and_escalated_in_one_batch_writes_each_table_once(h):
    h.engine.process(_readings(h, 70))
    h.clock.advance(1)
    fall = h.decoder.decode(
        "carewatch/v1/sunrise/w-101-1/event",
        b'{"event":"fall","id":"f1","confidence":0.93}',
        h.clock.now_ms(),
    )
    seen = _statements(h, [Incoming(fall)])
    assert [a.rule for a in h.open()] == ["fall"]
    writes = [s.split("(")[0].split(" SET")[0] for s in seen if not s.startswith("SELECT")]
    assert sorted(writes) == sorted(
        [
            "BEGIN IMMEDIATE",
            "INSERT OR IGNORE INTO event_log",  # the event's key: a resend is known
            "INSERT INTO alerts",
            "UPDATE alerts",  # its first escalation step, served at once
            "INSERT INTO audit",  # raise and escalate: one statement
            "INSERT OR REPLACE INTO deadlines",  # the next step only
            "INSERT INTO outbox",  # its notifications
            "INSERT INTO points",  # the event and the transitions
            "COMMIT",
        ]
    ), seen
