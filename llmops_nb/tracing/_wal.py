"""The receiver's write-ahead log: every accepted request body is appended and fsynced here
before the receiver answers 200, and removed only once its spans are committed to the store.

Layout: ``<store>/collector/wal/<instance>/`` holds numbered segments (``000000000001.wal``,
...) and a ``lock`` file. A running receiver holds the lock of its own folder (an OS file lock,
released by the kernel when the process dies, in any PID namespace); a receiver that starts
adopts every folder whose lock it can take, replays its segments into the store, then removes
it. Replaying twice is harmless: the store skips spans whose ids it already holds.

A record is ``magic (4) | body length (4) | decoded length (4) | crc32 (4) | encoding (1) |
content coding (1) | body``; a record cut by a crash (short, or a CRC mismatch) ends the segment:
it was never acknowledged, since the fsync that follows its write had not returned.

Many requests share one ``fsync`` (group commit): :meth:`Wal.append` writes every record waiting
at that moment, then syncs once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Wal", "WalRecord", "wal_root", "read_segment", "read_body"]

_MAGIC = b"LOW1"
_HEAD = struct.Struct("<4sIIIBB")
_ENCODINGS = ("proto", "json", "arrow")  # arrow: spans already mapped (and PII-redacted), Arrow IPC
_CODINGS = ("identity", "gzip", "deflate")


def wal_root(store: Any) -> Path:
    """Where the receivers of ``store`` keep their write-ahead logs."""
    return Path(store.path) / "collector" / "wal"


@dataclass(frozen=True)
class WalRecord:
    """One accepted request body as received (still compressed when it was)."""

    enc: str  # "proto" | "json" | "arrow" (mapped, redacted rows when the store redacts PII)
    coding: str  # "identity" | "gzip" | "deflate"
    body: bytes
    decoded_size: int
    offset: int = -1  # where the body starts in its segment (read_segment sets it)

    def encode(self) -> bytes:
        return b"".join(self.parts())

    def parts(self) -> tuple[bytes, bytes]:
        """The record as (header, body), the body not copied: what :meth:`Wal.append` writes."""
        coding = "gzip" if self.coding == "x-gzip" else ("identity" if self.coding in ("", "identity") else self.coding)
        return _HEAD.pack(_MAGIC, len(self.body), self.decoded_size, zlib.crc32(self.body),
                          _ENCODINGS.index(self.enc), _CODINGS.index(coding)), self.body


def read_segment(path: Path) -> Iterator[WalRecord]:
    """The whole records of one segment, in order; stops at a record cut by a crash."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + _HEAD.size <= len(data):
        magic, n, decoded, crc, enc, coding = _HEAD.unpack_from(data, pos)
        start = pos + _HEAD.size
        body = data[start:start + n]
        if magic != _MAGIC or len(body) != n or zlib.crc32(body) != crc or enc >= len(_ENCODINGS) \
                or coding >= len(_CODINGS):
            return  # a torn tail: written but never synced, so never acknowledged
        yield WalRecord(_ENCODINGS[enc], _CODINGS[coding], body, decoded, start)
        pos = start + n


def read_body(path: str | Path, offset: int, length: int) -> bytes:
    """The body of a record at ``offset`` (its :attr:`WalRecord.offset`) of a segment: how the
    mapping workers take acknowledged bodies, from the page cache, instead of a copy sent to them."""
    with open(path, "rb", buffering=0) as f:
        data = os.pread(f.fileno(), length, offset)
    if len(data) != length:
        raise OSError(f"{path}: the write-ahead log record at {offset} is cut short ({len(data)} of {length} bytes)")
    return data



def _write_all(fd: int, parts: list[Any]) -> int:
    """Write ``parts`` one after the other (``writev``, no joined copy); returns the bytes written."""
    for i in range(0, len(parts), 512):  # under IOV_MAX
        chunk = parts[i:i + 512]
        n = os.writev(fd, chunk)
        if n < sum(len(p) for p in chunk):  # a short write (rare on a file): the rest, joined
            rest = b"".join(chunk)[n:]
            while rest:
                rest = rest[os.write(fd, rest):]
    return sum(len(p) for p in parts)


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Wal:
    """The write-ahead log of one running receiver (its own folder under :func:`wal_root`).

    ``append`` makes records durable and returns the segment number they went to; ``release``
    says that many records of a segment are now in the store, and a closed segment whose records
    are all released is deleted. Segments rotate every ``segment_bytes`` or ``segment_s``.
    """

    def __init__(self, root: Path, *, segment_bytes: int = 64 * 1024 * 1024, segment_s: float = 2.0) -> None:
        self.root = Path(root)
        self.segment_bytes = segment_bytes
        self.segment_s = segment_s
        self.dir = self.root / f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock: Any = None
        self._f: Any = None
        self._seq = 0
        self._size = 0
        self._opened_at = 0.0
        self._outstanding: dict[int, int] = {}
        self._closed: set[int] = set()
        self._mu = threading.Lock()
        self.last_start = 0  # where the records of the last append start in its segment

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> Wal:
        from filelock import FileLock

        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.dir / "lock"), timeout=0)
        self._lock.acquire()
        _fsync_dir(self.root)
        self._rotate()
        return self

    def close(self) -> bool:
        """Close the log; delete its folder when every record is in the store. Returns True
        when the folder was removed (False: unreleased records stay for the next start)."""
        with self._mu:
            if self._f is not None:
                self._f.close()
                self._f = None
                self._closed.add(self._seq)
                self._drop_done()
            empty = not self._outstanding
            if empty:
                shutil.rmtree(self.dir, ignore_errors=True)
            if self._lock is not None:
                self._lock.release()
                self._lock = None
            return empty

    def _path(self, seq: int) -> Path:
        return self.dir / f"{seq:012d}.wal"

    def segment_path(self, seq: int) -> Path:
        """The file of segment ``seq``."""
        return self._path(seq)

    def _rotate(self) -> None:
        if self._f is not None:
            self._f.close()
            self._closed.add(self._seq)
        self._seq += 1
        self._f = open(self._path(self._seq), "ab", buffering=0)  # noqa: SIM115  kept open until rotated; written by fd
        _fsync_dir(self.dir)
        self._size = 0
        self._opened_at = time.monotonic()
        self._drop_done()

    def _drop_done(self) -> None:
        for seq in sorted(self._closed):
            if self._outstanding.get(seq, 0) <= 0:
                self._outstanding.pop(seq, None)
                self._closed.discard(seq)
                with contextlib.suppress(FileNotFoundError):
                    self._path(seq).unlink()

    # ------------------------------------------------------------------ writing
    def append(self, records: Sequence[bytes | tuple[bytes, ...]]) -> int:
        """Write encoded records (each as bytes, or as parts: :meth:`WalRecord.parts`, written
        without joining them), fsync once, and return their segment number; they start at
        :attr:`last_start` in it (the receiver appends from one thread)."""
        parts = [p for r in records for p in ((r,) if isinstance(r, (bytes, bytearray, memoryview)) else r)]
        with self._mu:
            if self._f is None:
                raise RuntimeError("the write-ahead log is closed")
            if self._size and (self._size >= self.segment_bytes or time.monotonic() - self._opened_at >= self.segment_s):
                self._rotate()
            self.last_start = self._size
            fd = self._f.fileno()
            size = _write_all(fd, parts)
            os.fsync(fd)
            self._size += size
            seq = self._seq
            self._outstanding[seq] = self._outstanding.get(seq, 0) + len(records)
            return seq

    def release(self, seq: int, n: int) -> None:
        """``n`` records of segment ``seq`` are committed to the store."""
        with self._mu:
            self._outstanding[seq] = self._outstanding.get(seq, 0) - n
            self._drop_done()

    @property
    def segments(self) -> list[Path]:
        """The segment files on disk now."""
        return sorted(self.dir.glob("*.wal"))


def orphan_logs(root: Path, own: Path | None = None) -> list[tuple[Path, Any]]:
    """Folders under ``root`` whose receiver is gone, each with its lock now held by the caller
    (release it after replaying). A folder whose lock is held belongs to a live receiver."""
    from filelock import FileLock, Timeout

    out: list[tuple[Path, Any]] = []
    if not root.exists():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p != own):
        lock = FileLock(str(d / "lock"), timeout=0)
        try:
            lock.acquire()
        except (Timeout, FileNotFoundError, OSError):
            continue
        out.append((d, lock))
    return out
