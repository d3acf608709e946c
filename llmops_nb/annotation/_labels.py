"""Labels: append human decisions to the store, and read them back resolved to the current
value per (item, question, annotator), or as the full history."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from llmops_nb.schema import LABELS, conform, empty_frame

__all__ = ["labels", "resolve_labels", "new_label_rows", "LabelClock", "LabelLog", "all_labels",
           "flush_stale_logs", "flush_labels"]

ACTIONS = ("set", "edit", "undo", "skip", "flag")


class LabelClock:
    """Strictly increasing UTC timestamps (microseconds) and time-ordered label ids, so the
    latest decision is well defined even for decisions made within the same microsecond."""

    def __init__(self) -> None:
        self._last = 0

    def now_us(self) -> int:
        t = time.time_ns() // 1000
        self._last = t if t > self._last else self._last + 1
        return self._last

    def label_id(self, t_us: int, i: int = 0) -> str:
        return f"{t_us:017d}-{i:04d}-{uuid.uuid4().hex[:12]}"


_CLOCK = LabelClock()


def new_label_rows(decisions: Sequence[dict[str, Any]], *, clock: LabelClock | None = None) -> pd.DataFrame:
    """A labels frame (one row per decision) from dicts with the LABELS columns; fills
    ``label_id`` and ``created_at`` (the same instant for the whole batch)."""
    clock = clock or _CLOCK
    t = clock.now_us()
    ts = datetime.fromtimestamp(t / 1e6, tz=timezone.utc)
    rows = []
    for i, d in enumerate(decisions):
        a = d.get("action", "set")
        if a not in ACTIONS:
            raise ValueError(f"action {a!r} is not valid; valid: {list(ACTIONS)}")
        rows.append({**d, "label_id": d.get("label_id") or clock.label_id(t, i), "created_at": ts})
    if not rows:
        return empty_frame(LABELS)
    return conform(pd.DataFrame(rows), LABELS)


def resolve_labels(history: pd.DataFrame, *, keep_undone: bool = False) -> pd.DataFrame:
    """The current decision per (item_id, question, annotator): the latest row; rows whose latest
    action is ``undo`` are dropped unless ``keep_undone``. Row grain: one row per (item, question,
    annotator).

    Example:
        >>> from llmops_nb.schema import empty_frame, LABELS
        >>> resolve_labels(empty_frame(LABELS)).shape[0]
        0
    """
    if len(history) == 0:
        return history.copy()
    h = history.assign(_item=history["item_id"].where(history["item_id"].notna(), history["trace_id"]))
    h = h.sort_values(["created_at", "label_id"], kind="stable")
    cur = h.drop_duplicates(["_item", "question", "annotator"], keep="last")
    if not keep_undone:
        cur = cur[cur["action"] != "undo"]
    return cur.drop(columns="_item").sort_values(["created_at", "label_id"], kind="stable").reset_index(drop=True)


def flush_labels(store: Any) -> int:
    """Move the decisions of finished (or killed) annotation sessions from their logs into the
    store's labels table, so ``store.labels()`` and SQL see them; returns rows moved.

    Example:
        >>> import llmops_nb as lo, tempfile
        >>> flush_labels(lo.Store(tempfile.mkdtemp()))
        0
    """
    return flush_stale_logs(_as_store(store))


def _as_store(store: Any) -> Any:
    from llmops_nb.store import Store

    if isinstance(store, (str, os.PathLike)):
        return Store(store)
    if not hasattr(store, "labels"):
        raise TypeError(f"store must be a Store or a path, not {type(store).__name__}")
    return store


def labels(
    store: Any,
    *,
    history: bool = False,
    annotator: str | Sequence[str] | None = None,
    question: str | Sequence[str] | None = None,
    queue: str | None = None,
    wide: bool = False,
    join: str | None = None,
) -> pd.DataFrame:
    """Human labels from ``store``.

    Default grain: one row per (item, question, annotator) holding the current value (the latest
    decision; undone answers removed). ``history=True``: every decision, one row each, in time
    order (edits and undos carry ``previous_value`` and ``reason``). ``wide=True``: one row per
    (item, annotator) with a column per question. ``join="traces"`` or ``"spans"`` adds the
    trace's (or labelled span's) columns from the store.

    Example:
        >>> import llmops_nb as lo, tempfile
        >>> lo.labels(lo.Store(tempfile.mkdtemp())).shape[0]
        0
    """
    store = _as_store(store)
    df = all_labels(store)
    for col, val in (("annotator", annotator), ("question", question), ("queue", queue)):
        if val is not None:
            vals = [val] if isinstance(val, str) else list(val)
            df = df[df[col].isin(vals)]
    df = df.sort_values(["created_at", "label_id"], kind="stable").reset_index(drop=True)
    if not history:
        df = resolve_labels(df)
    if wide:
        if history:
            raise ValueError("wide=True needs the current values; drop history=True")
        df = _wide(df)
    if join is not None:
        df = _join(store, df, join)
    return df


def _wide(cur: pd.DataFrame) -> pd.DataFrame:
    keys = ["item_id", "annotator"]
    if len(cur) == 0:
        return pd.DataFrame(columns=["item_id", "trace_id", "span_id", "annotator", "updated_at"])
    base = cur.groupby(keys, sort=False).agg(
        trace_id=("trace_id", "first"), span_id=("span_id", "first"), updated_at=("created_at", "max")
    ).reset_index()
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for r in cur[["item_id", "annotator", "question", "value"]].itertuples(index=False):
        table.setdefault((r.item_id, r.annotator), {})[r.question] = r.value
    qs = list(dict.fromkeys(cur["question"].tolist()))
    for q in qs:
        base[q] = [table.get((i, a), {}).get(q) for i, a in zip(base["item_id"], base["annotator"])]
    return base


def _join(store: Any, df: pd.DataFrame, join: str) -> pd.DataFrame:
    if join not in ("traces", "spans"):
        raise ValueError(f"join={join!r} is not valid; valid: 'traces', 'spans'")
    tids = [t for t in df["trace_id"].dropna().unique().tolist()] if len(df) else []
    if join == "traces":
        from llmops_nb.traces import to_traces

        tr = to_traces(store.spans(trace_id=tids)) if tids else pd.DataFrame(columns=["trace_id"])
        tr = tr.rename(columns={c: f"trace_{c}" for c in tr.columns if c != "trace_id" and c in df.columns})
        return df.merge(tr, on="trace_id", how="left")
    sp = store.spans(trace_id=tids) if tids else pd.DataFrame(columns=["trace_id", "span_id", "parent_span_id"])
    roots = sp[sp["parent_span_id"].isna()].drop_duplicates("trace_id").set_index("trace_id")["span_id"]
    key = df["span_id"].where(df["span_id"].notna(), df["trace_id"].map(roots))
    sp = sp.rename(columns={c: f"span_{c}" for c in sp.columns if c not in ("trace_id", "span_id") and c in df.columns})
    return df.assign(_sid=key).merge(sp.rename(columns={"span_id": "_sid"}), on=["trace_id", "_sid"], how="left").drop(columns="_sid")


# --------------------------------------------------------------------------- write-ahead log
# A decision must be durable before the next item shows, within a keypress budget (~100 ms).
# Appending one fsynced JSON line takes a few milliseconds, a Parquet segment far more; so each
# annotation session appends its decisions to its own log file under <store>/annotate/wal/ and
# moves them into the labels table in batches (idempotent: rows are keyed by label_id). Readers
# in this module (labels(), sessions, agreement through labels()) see table + logs.

def _wal_dir(store: Any) -> Any:
    from pathlib import Path

    return Path(store.path) / "annotate" / "wal"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
    return True


class LabelLog:
    """One session's write-ahead log of decisions (JSON lines, fsynced on every append)."""

    def __init__(self, store: Any, annotator: str) -> None:
        import re

        self.store = store
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", annotator)[:40] or "anon"
        self.path = _wal_dir(store) / f"{safe}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._f: Any = None
        self.pending = 0

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append rows (LABELS columns; created_at as a datetime) and fsync before returning."""
        import orjson

        if self._f is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "ab")  # noqa: SIM115  kept open for the session
        data = b"".join(orjson.dumps(r, default=str) + b"\n" for r in rows)
        self._f.write(data)
        self._f.flush()
        os.fsync(self._f.fileno())
        self.pending += len(rows)

    def flush(self) -> int:
        """Move the logged rows into the store's labels table, then drop the log."""
        if self._f is None:
            return 0
        self._f.close()
        self._f = None
        n = _flush_file(self.store, self.path)
        self.pending = 0
        return n

    def close(self) -> None:
        self.flush()


def _read_wal_file(path: Any) -> list[dict[str, Any]]:
    import orjson

    out: list[dict[str, Any]] = []
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return out
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


def _flush_file(store: Any, path: Any) -> int:
    rows = _read_wal_file(path)
    n = store.add_labels(_rows_frame(rows)) if rows else 0
    with __import__("contextlib").suppress(FileNotFoundError):
        path.unlink()
    return n


def flush_stale_logs(store: Any) -> int:
    """Move the logs of sessions whose process is gone (a killed kernel) into the labels table."""
    d = _wal_dir(store)
    if not d.exists():
        return 0
    n = 0
    for p in sorted(d.glob("*.jsonl")):
        try:
            pid = int(p.stem.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            n += _flush_file(store, p)
    return n


def wal_signature(store: Any, exclude: Any = None) -> tuple[tuple[str, int], ...]:
    """(file, size) of every pending log but ``exclude``: changes whenever someone decides."""
    d = _wal_dir(store)
    if not d.exists():
        return ()
    out = []
    for p in d.glob("*.jsonl"):
        if exclude is not None and p == exclude:
            continue
        try:
            out.append((p.name, p.stat().st_size))
        except FileNotFoundError:
            continue
    return tuple(sorted(out))


def all_labels(store: Any) -> pd.DataFrame:
    """Every stored decision: the labels table plus the rows still in session logs (one row per
    decision, deduplicated by label_id)."""
    table = store.labels()
    d = _wal_dir(store)
    rows: list[dict[str, Any]] = []
    if d.exists():
        for p in sorted(d.glob("*.jsonl")):
            rows.extend(_read_wal_file(p))
    if not rows:
        return table
    extra = _rows_frame(rows)
    extra = extra[~extra["label_id"].isin(set(table["label_id"]))]
    if len(table) == 0:
        return extra.reset_index(drop=True)
    return pd.concat([table, extra], ignore_index=True)
