"""The session logs of human labels, owned by the store: each annotation session appends its
decisions to its own fsynced log under ``<store>/annotate/wal/`` and the store moves them into the
labels table in batches. :meth:`Store.labels` reads logs and table together, so every reader
sees every acknowledged decision exactly once."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pandas as pd

from llmops_nb.schema import LABELS, conform, empty_frame

__all__ = ["LabelLog", "flush_stale_logs", "wal_signature", "pending_labels", "host_id"]


# --------------------------------------------------------------------------- write-ahead log
# A decision must be durable before the next item shows, within a keypress budget (~100 ms).
# Appending one fsynced JSON line takes a few milliseconds, a Parquet segment far more; so each
# annotation session appends its decisions to its own log file under <store>/annotate/wal/ and
# moves them into the labels table in batches (idempotent: rows are keyed by label_id). Readers
# (Store.labels(), and so lo.labels(), sessions and agreement) see table + logs.
#
# Which logs belong to a gone session: each log has a heartbeat lease beside it
# (``<log>.lease``: host id, PID, renewed_at) that a live session renews every HEARTBEAT_S. A log
# is stale when its lease is older than LEASE_TTL_S, or when its lease names this very host and
# PID namespace and that PID is gone (a killed kernel, seen at once). A PID alone proves nothing
# (another container or PID namespace sharing the store has its own PIDs).
#
# A log is never deleted before its rows are in the labels table: it is first renamed to
# ``<log>.moving`` (which anyone may finish moving: the write is idempotent), its rows are added to
# the table, and only then is the file removed. A session whose log was moved away under it (say,
# judged stale while suspended) notices after its next fsync and writes its unflushed rows to a
# new log, so nothing it acknowledged can be lost. Readers list and read the logs first, then the
# table, and start over if a log vanished while read: every decision is seen exactly once.

LEASE_TTL_S = 120.0  # a lease not renewed for this long marks a gone session
HEARTBEAT_S = 15.0  # how often a live session renews its leases
_MOVING = ".moving"


def _wal_dir(store: Any) -> Any:
    from pathlib import Path

    return Path(store.path) / "annotate" / "wal"


def host_id() -> str:
    """This host and PID namespace: the host name, the kernel's boot id and the PID namespace,
    so two containers (or ``unshare --pid`` sessions) on one machine differ."""
    import socket

    parts = [socket.gethostname()]
    for read in (lambda: open("/proc/sys/kernel/random/boot_id").read().strip(),  # noqa: SIM115
                 lambda: os.readlink("/proc/self/ns/pid")):
        try:
            parts.append(read())
        except OSError:
            parts.append("")
    return "|".join(parts)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


def _lease_path(log_path: Any) -> Any:
    name = log_path.name
    if name.endswith(_MOVING):
        name = name[: -len(_MOVING)]
    return log_path.with_name(name[: -len(".jsonl")] + ".lease")


class _Heartbeat:
    """One daemon thread per process renewing the leases of the live session logs."""

    _lock = __import__("threading").Lock()
    _logs: Any = None
    _thread: Any = None

    @classmethod
    def add(cls, log: LabelLog) -> None:
        import threading
        import weakref

        with cls._lock:
            if cls._logs is None:
                cls._logs = weakref.WeakSet()
            cls._logs.add(log)
            if cls._thread is None or not cls._thread.is_alive():
                cls._thread = threading.Thread(target=cls._run, name="llmops-label-heartbeat", daemon=True)
                cls._thread.start()

    @classmethod
    def _run(cls) -> None:
        while True:
            every = min(HEARTBEAT_S, LEASE_TTL_S / 4)
            time.sleep(min(every, 1.0))
            with cls._lock:
                logs = list(cls._logs or ())
            now = time.time()
            for log in logs:
                if now - log._renewed >= every:
                    with __import__("contextlib").suppress(Exception):
                        log.renew()


class LabelLog:
    """One session's write-ahead log of decisions (JSON lines, fsynced on every append), with
    its heartbeat lease."""

    def __init__(self, store: Any, annotator: str) -> None:
        import re

        self.store = store
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", annotator)[:40] or "anon"
        self.path = _wal_dir(store) / f"{safe}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self.lease_path = _lease_path(self.path)
        self._f: Any = None
        self._rows: list[dict[str, Any]] = []  # appended since the last flush
        self._renewed = 0.0
        self.closed = False

    @property
    def pending(self) -> int:
        return len(self._rows)

    def renew(self) -> None:
        """Write the heartbeat lease (host id, PID, now); atomic, not fsynced."""
        import orjson

        if self.closed:
            return
        now = time.time()
        tmp = self.lease_path.with_name(f".{self.lease_path.name}.{uuid.uuid4().hex[:8]}.tmp")
        tmp.write_bytes(orjson.dumps({"host": host_id(), "pid": os.getpid(), "renewed_at": now, "ttl_s": LEASE_TTL_S}))
        os.replace(tmp, self.lease_path)
        self._renewed = now

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.renew()  # the lease exists before the log does
        _Heartbeat.add(self)
        self._f = open(self.path, "ab")  # noqa: SIM115  kept open for the session

    def _moved_away(self) -> bool:
        try:
            return os.stat(self.path).st_ino != os.fstat(self._f.fileno()).st_ino
        except FileNotFoundError:
            return True

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows (LABELS columns; created_at as a datetime) and fsync before returning."""
        import orjson

        if self._f is None:
            self._open()
        self._rows.extend(rows)
        self._f.write(b"".join(orjson.dumps(r, default=str) + b"\n" for r in rows))
        self._f.flush()
        os.fsync(self._f.fileno())
        if self._moved_away():  # someone judged this session gone and is moving the log:
            self._f.close()  # write everything not yet flushed to a fresh log
            self._f = open(self.path, "ab")  # noqa: SIM115
            self._f.write(b"".join(orjson.dumps(r, default=str) + b"\n" for r in self._rows))
            self._f.flush()
            os.fsync(self._f.fileno())
            self.renew()  # its lease was removed with the move
        if time.time() - self._renewed > HEARTBEAT_S / 2:
            self.renew()

    def flush(self) -> int:
        """Move the logged rows into the store's labels table, then drop the log."""
        if self._f is None:
            return 0
        self._f.close()
        self._f = None
        moving = self.path.with_name(self.path.name + _MOVING)
        try:
            os.replace(self.path, moving)
        except FileNotFoundError:  # moved by another session already: finish that move
            moving = None
        n = 0
        if moving is not None:
            n = _flush_moved(self.store, moving)
        for p in self.path.parent.glob(self.path.name + _MOVING):  # a move begun elsewhere
            n += _flush_moved(self.store, p)
        self._rows = []
        return n

    def close(self) -> None:
        """Flush, stop renewing the lease, and remove it."""
        self.flush()
        self.closed = True
        with __import__("contextlib").suppress(FileNotFoundError):
            self.lease_path.unlink()


def _read_wal_file(path: Any) -> list[dict[str, Any]]:
    """The whole lines of a log (raises FileNotFoundError when it is gone)."""
    import orjson

    out: list[dict[str, Any]] = []
    data = path.read_bytes()
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError:  # a line cut by a killed process: never acknowledged
            continue
    return out


def _rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return empty_frame(LABELS)
    df = pd.DataFrame(rows)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True, format="ISO8601")
    return conform(df[[c for c in df.columns if c in LABELS.names]], LABELS)


def _flush_moved(store: Any, path: Any) -> int:
    """Add the rows of a moved log to the labels table, then (only then) delete the file."""
    try:
        rows = _read_wal_file(path)
    except FileNotFoundError:  # another session finished this move
        return 0
    n = store.add_labels(_rows_frame(rows)) if rows else 0
    with __import__("contextlib").suppress(FileNotFoundError):
        path.unlink()
    return n


def _is_stale(log_path: Any, me: str, now: float) -> bool:
    import orjson

    try:
        lease = orjson.loads(_lease_path(log_path).read_bytes())
        renewed, host, pid = float(lease["renewed_at"]), str(lease["host"]), int(lease["pid"])
        ttl = float(lease.get("ttl_s") or LEASE_TTL_S)
    except (FileNotFoundError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        # no lease (a log from an older version): only its age tells
        try:
            return now - log_path.stat().st_mtime > LEASE_TTL_S
        except FileNotFoundError:
            return False
    if now - renewed > ttl:
        return True
    return host == me and pid != os.getpid() and not _pid_alive(pid)


def flush_stale_logs(store: Any) -> int:
    """Move the logs of gone sessions (a killed kernel, a lease not renewed) into the labels
    table, and finish moves others began; returns rows moved."""
    d = _wal_dir(store)
    if not d.exists():
        return 0
    n = 0
    for p in sorted(d.glob("*.jsonl" + _MOVING)):
        n += _flush_moved(store, p)
    me, now = host_id(), time.time()
    for tmp in d.glob(".*.lease.*.tmp"):  # a lease renewal cut by a kill
        with __import__("contextlib").suppress(FileNotFoundError):
            if now - tmp.stat().st_mtime > LEASE_TTL_S:
                tmp.unlink()
    for lp in d.glob("*.lease"):  # leases of sessions that flushed, then went away
        with __import__("contextlib").suppress(FileNotFoundError):
            if not lp.with_suffix(".jsonl").exists() and now - lp.stat().st_mtime > 2 * LEASE_TTL_S:
                lp.unlink()
    for p in sorted(d.glob("*.jsonl")):
        if not _is_stale(p, me, now):
            continue
        moving = p.with_name(p.name + _MOVING)
        try:
            os.replace(p, moving)
        except FileNotFoundError:
            continue
        n += _flush_moved(store, moving)
        with __import__("contextlib").suppress(FileNotFoundError):
            _lease_path(p).unlink()
    return n


def _log_files(d: Any) -> list[Any]:
    return sorted([*d.glob("*.jsonl"), *d.glob("*.jsonl" + _MOVING)])


def wal_signature(store: Any, exclude: Any = None) -> tuple[tuple[str, int], ...]:
    """(file, size) of every pending log but ``exclude``: changes whenever someone decides."""
    d = _wal_dir(store)
    if not d.exists():
        return ()
    out = []
    for p in _log_files(d):
        if exclude is not None and p == exclude:
            continue
        try:
            out.append((p.name, p.stat().st_size))
        except FileNotFoundError:
            continue
    return tuple(sorted(out))


def _read_logs(d: Any) -> list[dict[str, Any]]:
    """Every row in the logs now; starts over when a log vanishes while read (moved into the
    table meanwhile), so a row moving from a log to the table is never missed."""
    for _attempt in range(50):
        rows: list[dict[str, Any]] = []
        try:
            for p in _log_files(d):
                rows.extend(_read_wal_file(p))
        except FileNotFoundError:
            continue
        return rows
    raise RuntimeError(f"the label logs in {d} kept moving while read; try again")  # pragma: no cover


def pending_labels(store: Any) -> pd.DataFrame:
    """The decisions still in session logs (LABELS columns, one row per decision), read before
    the table so that a row moving from a log into the table meanwhile is not missed."""
    d = _wal_dir(store)
    rows = _read_logs(d) if d.exists() else []
    return _rows_frame(rows).drop_duplicates("label_id") if rows else empty_frame(LABELS)
