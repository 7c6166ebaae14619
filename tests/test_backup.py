"""Backup while the database is being written, restore into a fresh data dir, and the
archive checks a restore makes before it trusts anything."""

from __future__ import annotations

import io
import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest

from carewatch.backup import BackupError, backup, read_manifest, restore
from ingest.sqlite import connect


def make_db(data: Path) -> None:
    data.mkdir(parents=True, exist_ok=True)
    conn = connect(data / "carewatch.db")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('install_id', 'aaaa0001')")
    conn.execute("CREATE TABLE alerts (id INTEGER PRIMARY KEY, state TEXT, n INTEGER)")
    conn.execute("CREATE TABLE outbox (id INTEGER PRIMARY KEY, key TEXT, state TEXT)")
    conn.execute("INSERT INTO alerts(state, n) VALUES ('active_unack', 0), ('closed', 0)")
    conn.execute("INSERT INTO outbox(key, state) VALUES ('s:aaaa0001:1:fire:1', 'pending')")
    conn.close()
    (data / "session.key").write_bytes(b"k" * 32)
    (data / "mqtt-sessions.json").write_text('{"sessions": []}')
    (data / "reports").mkdir()
    (data / "reports" / "watch-2026-12-01.json").write_text("{}")
    photo = data / "hazard-photos" / "ab"
    photo.mkdir(parents=True)
    (photo / ("ab" + "0" * 62)).write_bytes(b"\x89PNG\r\n\x1a\n")  # a hazard's photo
    (data / "hazard-photos" / ".upload-x").write_bytes(b"half")  # an upload cut off


def test_a_backup_taken_during_writes_is_one_consistent_snapshot(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_db(data)
    stop = threading.Event()

    def writer() -> None:  # pairs of rows in one transaction: a snapshot holds both or none
        conn = connect(data / "carewatch.db")
        i = 0
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO alerts(state, n) VALUES ('active_unack', ?)", (i,))
            conn.execute("INSERT INTO alerts(state, n) VALUES ('closed', ?)", (i,))
            conn.execute("COMMIT")
            i += 1
        conn.close()

    t = threading.Thread(target=writer)
    t.start()
    try:
        archives = [tmp_path / f"b{k}.tar.gz" for k in range(3)]
        for a in archives:
            backup(data, a, now_ms=1_795_300_000_000)
    finally:
        stop.set()
        t.join()
    for k, a in enumerate(archives):
        target = tmp_path / f"restored{k}"
        m = restore(a, target)
        conn = sqlite3.connect(target / "carewatch.db")
        open_n = conn.execute("SELECT count(*) FROM alerts WHERE state != 'closed'").fetchone()[0]
        closed_n = conn.execute("SELECT count(*) FROM alerts WHERE state = 'closed'").fetchone()[0]
        assert open_n == closed_n  # never half a transaction
        assert m.counts["open_alerts"] == open_n
        assert m.counts["outbox_pending"] == 1
        conn.close()


def test_restore_brings_back_every_file_with_a_new_install_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_db(data)
    a = tmp_path / "b.tar.gz"
    m = backup(data, a, now_ms=1_795_300_000_000)
    assert m.install_id == "aaaa0001"
    assert set(m.files) == {
        "carewatch.db",
        "session.key",
        "mqtt-sessions.json",
        "reports/watch-2026-12-01.json",
        f"hazard-photos/ab/ab{'0' * 62}",
    }
    new = tmp_path / "new"
    restore(a, new)
    assert (new / "session.key").read_bytes() == b"k" * 32
    assert (new / "mqtt-sessions.json").read_text() == '{"sessions": []}'
    assert (new / "reports" / "watch-2026-12-01.json").read_text() == "{}"
    assert (new / "hazard-photos" / "ab" / f"ab{'0' * 62}").read_bytes() == b"\x89PNG\r\n\x1a\n"
    conn = sqlite3.connect(new / "carewatch.db")
    install = conn.execute("SELECT value FROM meta WHERE key = 'install_id'").fetchone()[0]
    pending = conn.execute("SELECT key FROM outbox WHERE state = 'pending'").fetchall()
    conn.close()
    assert install != "aaaa0001"  # new notifications get new keys
    assert pending == [("s:aaaa0001:1:fire:1",)]  # pending ones keep theirs
    assert not list(new.glob(".restore-*"))


def test_restore_never_overwrites_a_data_dir_that_has_a_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_db(data)
    a = tmp_path / "b.tar.gz"
    backup(data, a, now_ms=1)
    with pytest.raises(BackupError, match="already holds a database"):
        restore(a, data)


def test_a_damaged_or_foreign_archive_restores_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_db(data)
    a = tmp_path / "b.tar.gz"
    backup(data, a, now_ms=1)
    # one byte of the database changed: the checksum stops it
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(a, "r:gz") as src, tarfile.open(bad, "w:gz") as dst:
        for m in src.getmembers():
            body = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name == "carewatch.db":
                body = body[:-1] + bytes([body[-1] ^ 1])
            dst.addfile(m, io.BytesIO(body))
    with pytest.raises(BackupError, match="checksum"):
        restore(bad, tmp_path / "r1")
    assert not (tmp_path / "r1" / "carewatch.db").exists()
    # a member that would land outside the data dir
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(a, "r:gz") as src, tarfile.open(evil, "w:gz") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m))
        info = tarfile.TarInfo("../escaped")
        info.size = 1
        dst.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(BackupError, match="unexpected member"):
        restore(evil, tmp_path / "r2")
    assert not (tmp_path / "escaped").exists()
    with pytest.raises(BackupError, match="not a CareWatch backup"):
        read_manifest(tmp_path / "data" / "session.key")


def test_backup_needs_a_database_and_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        backup(tmp_path, tmp_path / "x.tar.gz", now_ms=1)
    data = tmp_path / "data"
    make_db(data)
    (tmp_path / "x.tar.gz").write_text("old")
    with pytest.raises(BackupError, match="exists"):
        backup(data, tmp_path / "x.tar.gz", now_ms=1)
