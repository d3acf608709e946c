"""Queue order: which item an annotator sees next (random, stratified, cluster, judge
uncertainty, judge-human disagreement, sequential). Every order is deterministic for a seed, so
annotators in separate kernels walk the same order and leases keep them apart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.hashing import hash64
from llmops_nb.schema import grain_of, is_missing

__all__ = ["QUEUES", "column_values", "items_from_frame", "order_items"]

QUEUES = ("random", "stratified", "cluster", "uncertainty", "disagreement", "sequential")


def items_from_frame(frame: pd.DataFrame, level: str | None = None) -> pd.DataFrame:
    """One row per queue item with ``item_id``, ``trace_id``, ``span_id`` and the frame's other
    columns (first row per item). ``level="span"`` makes one item per span, ``level="session"``
    one per session (item id = session id; trace and span ids null); otherwise one per trace
    (a frame without ``trace_id`` uses its ``item_id`` column, else its index)."""
    if level not in (None, "trace", "span", "session"):
        raise ValueError(f"level={level!r} is not valid; valid: None, 'trace', 'span', 'session'")
    df = frame.reset_index(drop=True)
    if level == "session":  # one item per session, keyed by session_id
        if "session_id" not in df.columns:
            raise ValueError("level='session' needs a 'session_id' column; pass the sessions table (lo.to_sessions(spans))")
        df = df[df["session_id"].notna()]
        if "trace_ids" not in df.columns:  # a spans or traces frame: its sessions
            df = df.drop_duplicates("session_id", keep="first")
        df = df.assign(item_id=df["session_id"].astype(str).astype(object), trace_id=None, span_id=None)
    elif level == "span":
        for c in ("trace_id", "span_id"):
            if c not in df.columns:
                raise ValueError(f"level='span' needs a {c!r} column; the frame has {list(df.columns)[:12]}")
        df = df.assign(item_id=[f"{t}/{s}" for t, s in zip(df["trace_id"], df["span_id"])])
    elif "trace_id" in df.columns:
        if grain_of(df) == "spans" and "parent_span_id" in df.columns:  # a spans table: the root row first
            root = df["parent_span_id"].isna()
            df = df.assign(_r=~root).sort_values("_r", kind="stable").drop(columns="_r")
        df = df.drop_duplicates("trace_id", keep="first").assign(item_id=lambda d: d["trace_id"].astype(object))
        df = df.assign(span_id=None)
    else:
        if "item_id" not in df.columns:
            df = df.assign(item_id=[str(x) for x in frame.index])
        df = df.assign(item_id=df["item_id"].astype(str).astype(object), trace_id=None, span_id=None)
    dup = df["item_id"].duplicated()
    if dup.any():
        raise ValueError(f"item ids repeat, e.g. {df.loc[dup, 'item_id'].iloc[0]!r}; pass level='span' or unique ids")
    return df.reset_index(drop=True)


def column_values(frame: pd.DataFrame, name: str, what: str = "by") -> pd.Series:
    """The values of ``name`` for each row: a column of ``frame``, or a key of its ``metadata``
    dicts (``"category"`` or ``"metadata.category"``), as ``find_slices`` reads them.

    Example:
        >>> df = pd.DataFrame({"trace_id": ["a", "b"], "metadata": [{"category": "x"}, {"category": "y"}]})
        >>> column_values(df, "metadata.category").tolist(), column_values(df, "category").tolist()
        (['x', 'y'], ['x', 'y'])
    """
    if name in frame.columns:
        return frame[name]
    key = name[len("metadata."):] if name.startswith("metadata.") else name
    keys: dict[str, None] = {}
    if "metadata" in frame.columns:
        vals = [m.get(key) if isinstance(m, dict) else None for m in frame["metadata"]]
        if any(v is not None for v in vals):
            return pd.Series(vals, index=frame.index, name=key, dtype=object)
        for m in frame["metadata"].head(1000):
            if isinstance(m, dict):
                keys.update(dict.fromkeys(map(str, m)))
    raise ValueError(
        f"{what}={name!r} is neither a column of the frame nor a metadata key; columns: "
        f"{[c for c in frame.columns if c != 'metadata'][:20]}, metadata keys: {list(keys)[:20]}"
        + (f"; e.g. {what}={next(iter(keys))!r}" if keys else "")
    )


def _round_robin(groups: dict[Any, list[int]]) -> list[int]:
    lists = sorted(groups.values(), key=lambda g: (-len(g), g[0] if g else 0))
    out: list[int] = []
    i = 0
    while True:
        added = False
        for g in lists:
            if i < len(g):
                out.append(g[i])
                added = True
        if not added:
            return out
        i += 1


def order_items(
    items: pd.DataFrame,
    queue: str = "random",
    *,
    by: str | None = None,
    seed: int = 0,
    human: pd.Series | None = None,
) -> list[str]:
    """The queue's item ids in the order they are served.

    - ``random``: a seeded shuffle (hash of the item id).
    - ``stratified``: round-robin over the values of column ``by``, each stratum shuffled, so
      every stratum is seen early.
    - ``cluster``: the same over the cluster column (``by``, default ``cluster``).
    - ``uncertainty``: judge scores in ``by`` (default ``score``; a probability in [0, 1]) closest
      to 0.5 first.
    - ``disagreement``: only items whose judge verdict (column ``by``, default ``passed``)
      differs from the human label (``human``: item_id -> label).
    - ``sequential``: the frame's order.
    """
    if queue not in QUEUES:
        raise ValueError(f"queue={queue!r} is not valid; valid queues: {list(QUEUES)}")
    ids = items["item_id"].tolist()
    h = hash64(ids, salt=str(seed), algorithm="blake2b-keyed")  # the order stored queues were walked in
    shuffled = list(np.argsort(h, kind="stable"))
    if queue == "sequential":
        return ids
    if queue == "random":
        return [ids[i] for i in shuffled]
    if queue in ("stratified", "cluster"):
        col = by or ("cluster" if queue == "cluster" else None)
        if col is None:
            raise ValueError("queue='stratified' needs by=<column>, e.g. by='category'")
        v = column_values(items, col)
        vals = [x if not is_missing(x) else "<missing>" for x in v.astype(object).tolist()]
        groups: dict[Any, list[int]] = {}
        for i in shuffled:
            groups.setdefault(vals[i], []).append(i)
        return [ids[i] for i in _round_robin(groups)]
    if queue == "uncertainty":
        col = by or "score"
        try:
            score = column_values(items, col)
        except ValueError as e:
            raise ValueError(f"queue='uncertainty' needs a judge score in [0, 1]: {e}") from None
        p = pd.to_numeric(score, errors="coerce").to_numpy(dtype=float)
        u = np.abs(p - 0.5)
        u = np.where(np.isnan(u), np.inf, u)
        order = np.lexsort((h, u))
        return [ids[i] for i in order]
    # disagreement
    col = by or "passed"
    try:
        verdict = column_values(items, col)
    except ValueError as e:
        raise ValueError(f"queue='disagreement' needs the judge verdict: {e}") from None
    if human is None or len(human) == 0:
        return []
    judge = pd.Series(verdict.to_numpy(), index=items["item_id"])
    out = []
    for i in shuffled:
        iid = ids[i]
        j = judge.get(iid)
        if iid in human.index and j is not None and not pd.isna(j) and _norm(j) != _norm(human[iid]):
            out.append(iid)
    return out


def _norm(v: Any) -> Any:
    if isinstance(v, str) and v.lower() in ("pass", "fail", "true", "false"):
        return v.lower() in ("pass", "true")
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return v
