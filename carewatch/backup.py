"""`carewatch backup` and `carewatch restore`: one archive holding everything a data dir
needs to carry on, taken while the service runs.

The database is copied with SQLite's online backup API from its own read connection: the
copy is one consistent snapshot (a transaction committed or not, never half), while the
engine goes on writing. Beside it go the session key (staff stay logged in), the
written reports, the hazards' photos, and a manifest with every file's SHA-256 and what
the copy holds (open alerts, pending notifications, deadlines), so a restore can check
the archive before it trusts it and the operator can see what came back.

A restore goes only into a data dir without a database (never over a live one), refuses
archive members that are not the expected files (no paths out of the data dir), checks
each checksum and SQLite's integrity check, and gives the restored database a new
install id: notifications made from now on carry new keys, so a receiver that remembers
keys never takes a new alarm for a retry of one sent after the backup, while the rows
still pending keep their keys and are delivered once.
"""

from __future__ import annotations

import hashlib
import io
import json
import secrets
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from alerting import outbox

FORMAT = 1
DB_NAME = "carewatch.db"
KEY_NAME = "session.key"
# the MQTT sessions this data dir ran (ingest/sessions.py): a restored service retires
# the ones it no longer runs, so none keeps taking a share of the traffic
SESSIONS_NAME = "mqtt-sessions.json"
REPORTS = "reports"
PHOTOS = "hazard-photos"  # by checksum (alerting/hazard_photos.py); an upload's temp: .*
FOLDERS = (REPORTS, PHOTOS)
MANIFEST = "manifest.json"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Manifest:
    """What an archive holds; written into it as manifest.json."""

    format: int
    created_ms: int
    install_id: str
    files: dict[str, str]  # archive name -> sha256
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, indent=1, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw: dict[str, Any] = json.loads(data)
        if raw.get("format") != FORMAT:
            raise BackupError(f"archive format {raw.get('format')!r} is not {FORMAT}")
        return cls(
            format=raw["format"],
            created_ms=int(raw["created_ms"]),
            install_id=str(raw["install_id"]),
            files={str(k): str(v) for k, v in raw["files"].items()},
            counts={str(k): int(v) for k, v in raw.get("counts", {}).items()},
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _count(conn: sqlite3.Connection, sql: str) -> int:
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.Error:  # a table a young database does not have yet
        return 0
    return int(row[0]) if row else 0


def _counted(count: Callable[[sqlite3.Connection], int], conn: sqlite3.Connection) -> int:
    try:
        return count(conn)
    except sqlite3.Error:  # a table a young database does not have yet
        return 0


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        "open_alerts": _count(conn, "SELECT count(*) FROM alerts WHERE state != 'closed'"),
        "alerts": _count(conn, "SELECT count(*) FROM alerts"),
        "deadlines": _count(conn, "SELECT count(*) FROM deadlines"),
        "outbox_pending": _counted(outbox.pending_count, conn),
        "spool_rows": _count(conn, "SELECT count(*) FROM spool"),
    }


def _install_id(conn: sqlite3.Connection) -> str:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'install_id'").fetchone()
    except sqlite3.Error:
        return ""
    return str(row[0]) if row else ""


def backup(data_dir: Path, archive: Path, now_ms: int) -> Manifest:
    """Write a .tar.gz of `data_dir` to `archive` (its folder must exist); safe while the
    service runs."""
    db = data_dir / DB_NAME
    if not db.is_file():
        raise BackupError(f"no database at {db}: is --data-dir the service's data dir?")
    if archive.exists():
        raise BackupError(f"{archive} exists; give a new file name")
    with tempfile.TemporaryDirectory(prefix="carewatch-backup-") as tmp:
        copy = Path(tmp) / DB_NAME
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        dst = sqlite3.connect(copy)
        try:
            src.execute("PRAGMA busy_timeout=10000")
            src.backup(dst)  # one step: one read snapshot of the whole database
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            counts = _counts(dst)
            install = _install_id(dst)
        finally:
            dst.close()
            src.close()
        files: dict[Path, str] = {copy: DB_NAME}
        for name in (KEY_NAME, SESSIONS_NAME):
            if (data_dir / name).is_file():
                files[data_dir / name] = name
        for folder in FOLDERS:  # the written reports, the hazards' photos
            for p in sorted((data_dir / folder).rglob("*")):
                if p.is_file() and not p.is_symlink() and not p.name.startswith("."):
                    files[p] = f"{folder}/{p.relative_to(data_dir / folder).as_posix()}"
        manifest = Manifest(
            format=FORMAT,
            created_ms=now_ms,
            install_id=install,
            files={name: _sha256(p) for p, name in files.items()},
            counts=counts,
        )
        partial = archive.with_name(archive.name + ".partial")
        with tarfile.open(partial, "w:gz") as tar:
            body = manifest.to_json()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            info.mtime = now_ms // 1000
            tar.addfile(info, io.BytesIO(body))
            for p, name in files.items():
                tar.add(p, arcname=name, recursive=False)
        partial.replace(archive)  # a half-written archive never carries the final name
    return manifest


def _safe_name(name: str) -> bool:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        return False
    return name in (MANIFEST, DB_NAME, KEY_NAME, SESSIONS_NAME) or (
        p.parts[0] in FOLDERS and len(p.parts) >= 2
    )


def read_manifest(archive: Path) -> Manifest:
    """The archive's manifest, without restoring anything."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.extractfile(MANIFEST)
            if member is None:
                raise BackupError(f"{archive}: no {MANIFEST}")
            return Manifest.from_json(member.read())
    except (tarfile.TarError, KeyError, OSError, ValueError) as exc:
        raise BackupError(f"{archive} is not a CareWatch backup: {exc}") from exc


def restore(archive: Path, data_dir: Path) -> Manifest:
    """Unpack `archive` into `data_dir`, which must hold no database yet."""
    if (data_dir / DB_NAME).exists():
        raise BackupError(
            f"{data_dir} already holds a database; restore into a new, empty data dir"
        )
    manifest = read_manifest(archive)
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=data_dir) as tmp:
        staged = Path(tmp)
        with tarfile.open(archive, "r:gz") as tar:
            for m in tar.getmembers():
                if not m.isfile() or not _safe_name(m.name):
                    raise BackupError(f"{archive}: unexpected member {m.name!r}; not restored")
                if m.name == MANIFEST:
                    continue
                src = tar.extractfile(m)
                if src is None:
                    raise BackupError(f"{archive}: {m.name} unreadable")
                out = staged / m.name
                out.parent.mkdir(parents=True, exist_ok=True)
                with out.open("wb") as f:
                    shutil.copyfileobj(src, f)
        for name, digest in manifest.files.items():
            p = staged / name
            if not p.is_file() or _sha256(p) != digest:
                raise BackupError(f"{archive}: {name} is missing or damaged (checksum)")
        conn = sqlite3.connect(staged / DB_NAME)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()
            if not ok or ok[0] != "ok":
                raise BackupError(f"{archive}: the database fails SQLite's integrity check")
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('install_id', ?)",
                (secrets.token_hex(4),),
            )
            conn.commit()
        finally:
            conn.close()
        # the database last: its presence is what marks the data dir as restored
        for p in sorted(staged.rglob("*"), key=lambda q: q.name == DB_NAME):
            if p.is_file():
                target = data_dir / p.relative_to(staged)
                target.parent.mkdir(parents=True, exist_ok=True)
                p.replace(target)
        if (data_dir / KEY_NAME).exists():
            (data_dir / KEY_NAME).chmod(0o600)
    return manifest
