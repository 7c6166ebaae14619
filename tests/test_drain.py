"""The spool drainer with the engine doing its deletes: no row is deleted unsent."""

from __future__ import annotations

from concurrent.futures import Future

from prometheus_client import CollectorRegistry

from devices.ports import FakeClock
from ingest.drain import SpoolDrainer
from ingest.spool import KIND_TELEMETRY, Spool
from ingest.sqlite import connect


class Written:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, lines: list[str]) -> None:
        self.lines += lines

    def close(self) -> None:
        pass


def _insert(conn, n: int, tag: str) -> None:
    conn.executemany(
        "INSERT INTO points(ts_ms, site, device_id, device_type, kind, data) VALUES (?,?,?,?,?,?)",
        [
            (1_000 + i, "s", f"{tag}-{i}", "wearable", KIND_TELEMETRY, '{"heart_rate_bpm": 70}')
            for i in range(n)
        ],
    )


def test_rows_that_reuse_ids_while_a_delete_is_pending_are_sent_not_deleted(tmp_path):
    """The table empties, SQLite hands out low ids again, and the drainer, still skipping
    what it sent before, sends rows above them: the engine's delete must not take them."""
    conn = connect(tmp_path / "s.db", synchronous="OFF")
    Spool(embedded=False).create_schema(conn)
    pending: list[tuple[object, Future[None]]] = []

    def write_via(apply):
        fut: Future[None] = Future()
        pending.append((apply, fut))
        return fut

    out = Written()
    drainer = SpoolDrainer(
        tmp_path / "s.db",
        out,
        lambda s, d: ("1", "1"),
        FakeClock(),
        CollectorRegistry(),
        write=write_via,
    )
    _insert(conn, 100, "a")
    assert drainer.drain_once(conn) == 100  # ids 1..100 sent; their delete is pending
    apply, first_delete = pending.pop()
    apply(conn)  # the engine commits it (the drainer has not seen the future resolve yet)
    _insert(conn, 150, "b")  # the empty table hands out ids 1..150 again
    assert drainer.drain_once(conn) == 50  # it skips ids <= 100: sends 101..150
    apply, second_delete = pending.pop()
    apply(conn)
    assert conn.execute("SELECT count(*) FROM points").fetchone()[0] == 100  # b-0..b-99 kept
    first_delete.set_result(None)
    second_delete.set_result(None)
    while drainer.drain_once(conn):
        apply, fut = pending.pop()
        apply(conn)
        fut.set_result(None)
    sent = {line.split("device=")[1].split(",")[0] for line in out.lines}
    assert sent == {f"a-{i}" for i in range(100)} | {f"b-{i}" for i in range(150)}
    assert conn.execute("SELECT count(*) FROM points").fetchone()[0] == 0
