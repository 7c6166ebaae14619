"""Photos of hazards, kept as files by their checksum: <root>/<sha256[:2]>/<sha256>, so the
same photo sent twice (a phone retrying) is one file, and a row of `hazard_photos` only
ever names a file already on disk (written and synced before the row commits).

Uploads are read as they come: a body over MAX_BYTES is refused as soon as it passes the
limit (413), and one whose first bytes are not the image its Content-Type says is refused
as soon as those bytes are in (415), as is one too short to be an image (MIN_BYTES);
neither leaves anything behind. The disk work (write, fsync, rename) runs in a worker
thread: the route is async, and its event loop also serves the duty screen's live
stream, which must never wait for a disk."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

MAX_BYTES = 5 * 1024 * 1024
MIN_BYTES = 16  # no image is smaller: a bare signature (FF D8 FF) is no photo
SNIFF_BYTES = 12
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _is_jpeg(head: bytes) -> bool:
    return head.startswith(b"\xff\xd8\xff")


def _is_png(head: bytes) -> bool:
    return head.startswith(b"\x89PNG\r\n\x1a\n")


def _is_webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


# the types a hazard photo may have, each with the check of its first bytes (magic)
TYPES = MappingProxyType({"image/jpeg": _is_jpeg, "image/png": _is_png, "image/webp": _is_webp})


class PhotoError(Exception):
    """An upload refused: 413 too large, 415 not the image it claims."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Stored:
    """A photo on disk: what its row records."""

    sha256: str
    content_type: str
    bytes: int


def media_type(header: str | None) -> str:
    """The Content-Type without parameters, lower case; 415 for a type not allowed."""
    media = (header or "").split(";", 1)[0].strip().lower()
    if media not in TYPES:
        raise PhotoError(415, f"a photo is one of {', '.join(TYPES)}; got {media or 'none'!r}")
    return media


class PhotoStore:
    """Files under `root` (<data_dir>/hazard-photos), created on the first photo."""

    def __init__(self, root: Path, max_bytes: int = MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def path_of(self, sha256: str) -> Path | None:
        """The file of a checksum when it is one and the file exists; None otherwise."""
        if not SHA256.match(sha256):
            return None
        p = self.root / sha256[:2] / sha256
        return p if p.is_file() else None

    def too_large(self, content_length: str | None) -> bool:
        """Whether a declared length is already over the limit (refused before reading)."""
        return (
            bool(content_length and content_length.isdigit())
            and int(content_length or 0) > self.max_bytes
        )

    async def save(self, content_type: str, chunks: AsyncIterator[bytes]) -> Stored:
        """Read `chunks` while counting and checking the first bytes; refuse (413, 415) as
        soon as it is clear; then store the photo in a worker thread (`store`) and return
        what the row records."""
        media = media_type(content_type)
        size = 0
        head = b""
        parts: list[bytes] = []
        async for chunk in chunks:
            size += len(chunk)
            if size > self.max_bytes:
                raise PhotoError(413, f"a photo is at most {self.max_bytes} bytes")
            if len(head) < SNIFF_BYTES:
                head += chunk[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES and not TYPES[media](head):
                    raise PhotoError(415, f"the body is not a {media} image")
            parts.append(chunk)
        if size < MIN_BYTES or not TYPES[media](head):
            raise PhotoError(415, f"the body is not a {media} image (at least {MIN_BYTES} bytes)")
        return await asyncio.to_thread(self.store, media, parts)

    def store(self, media: str, parts: list[bytes]) -> Stored:
        """Write the photo to a temporary file while hashing, sync it and rename it into
        place (atomic: a reader sees the whole photo or none). Blocking: call it from a
        worker thread."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.root)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as f:
                for part in parts:
                    digest.update(part)
                    f.write(part)
                    size += len(part)
                f.flush()
                os.fsync(f.fileno())
            sha = digest.hexdigest()
            folder = self.root / sha[:2]
            folder.mkdir(exist_ok=True)
            os.replace(tmp, folder / sha)
            _sync_dir(folder)
            return Stored(sha, media, size)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def _sync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (the directory entry on disk)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
