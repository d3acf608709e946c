"""Labels: append human decisions to the store, and read them back resolved to the current
value per (item, question, annotator), or as the full history."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd

from llmops_nb.schema import LABELS, conform, empty_frame
from llmops_nb.store import as_store

__all__ = ["labels", "resolve_labels", "new_label_rows", "LabelClock", "all_labels", "flush_labels"]

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
    return as_store(store).flush_label_logs()


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
    store = as_store(store)
    df = store.labels()
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


def all_labels(store: Any) -> pd.DataFrame:
    """Every stored decision (session logs and labels table): :meth:`Store.labels`."""
    return store.labels()
