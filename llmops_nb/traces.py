"""Derive the traces table (one row per trace) from spans."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.schema import TRACES, conform, empty_frame

__all__ = ["to_traces"]


def to_traces(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per trace, derived from a spans frame: root name, times, root input and output,
    span counts by kind, token and cost sums, error flag, session, user, tags and metadata.

    The root is the span with no parent (or whose parent is not in the trace); with several,
    the earliest. Tokens are summed over llm and embedding spans; cost over every span. Models
    are listed in order of first call; session and user are the first non-null over the trace's
    spans in time order; tags are their union; metadata is merged in time order with the root's
    last, so the root wins.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "a", "kind": "chain"},
        ...     {"trace_id": "t", "span_id": "b", "parent_span_id": "a", "kind": "llm",
        ...      "total_tokens": 7}], format="records")
        >>> lo.to_traces(spans)[["trace_id", "n_spans", "n_llm", "total_tokens"]].values.tolist()
        [['t', 2, 1, 7]]
    """
    if len(spans) == 0:
        return empty_frame(TRACES)
    df = spans.reset_index(drop=True)
    tid = df["trace_id"]
    ids = set(zip(tid, df["span_id"]))
    parent = df["parent_span_id"]
    is_root = np.fromiter(
        (p is None or p != p or (t, p) not in ids for t, p in zip(tid, parent)), dtype=bool, count=len(df)
    )
    # time order within each trace (stable, spans without a start last)
    order = df.assign(_nr=~is_root).sort_values(["trace_id", "start_time"], kind="stable", na_position="last")
    roots = (
        df.assign(_nr=~is_root)
        .sort_values(["trace_id", "_nr", "start_time"], kind="stable", na_position="last")
        .drop_duplicates("trace_id", keep="first")
        .set_index("trace_id")
    )
    index = roots.index
    g = df.groupby("trace_id", sort=False)
    kind = df["kind"]
    is_model = kind.isin(["llm", "embedding"])
    counts = pd.DataFrame({
        "n_spans": np.ones(len(df), dtype=np.int64),
        "n_llm": (kind == "llm").to_numpy(dtype=np.int64),
        "n_tool": (kind == "tool").to_numpy(dtype=np.int64),
        "n_retriever": (kind == "retriever").to_numpy(dtype=np.int64),
        "n_errors": (df["status"] == "error").to_numpy(dtype=np.int64),
        "trace_id": tid,
    }).groupby("trace_id", sort=False).sum()
    tok = df.loc[is_model, ["trace_id", "prompt_tokens", "completion_tokens", "total_tokens"]].groupby(
        "trace_id", sort=False).sum(min_count=1)
    cost = g["cost_usd"].sum(min_count=1)
    start = g["start_time"].min()
    end = g["end_time"].max()

    # one pass in time order for the list-valued and first-non-null fields
    models: dict[Any, list[str]] = {}
    tags: dict[Any, list[str]] = {}
    meta: dict[Any, dict[str, Any]] = {}
    session: dict[Any, Any] = {}
    user: dict[Any, Any] = {}
    for t, m, tg, md, s, u in zip(order["trace_id"], order["model"], order["tags"], order["metadata"],
                                  order["session_id"], order["user_id"]):
        if m is not None and m == m:
            lst = models.setdefault(t, [])
            if m not in lst:
                lst.append(m)
        if tg is not None and not (isinstance(tg, float) and tg != tg):
            lst = tags.setdefault(t, [])
            for x in tg:
                if x not in lst:
                    lst.append(x)
        if isinstance(md, dict) and md:
            meta.setdefault(t, {}).update(md)
        if s is not None and s == s and t not in session:
            session[t] = s
        if u is not None and u == u and t not in user:
            user[t] = u
    root_meta = roots["metadata"]
    merged = [{**meta.get(t, {}), **(rm if isinstance(rm, dict) else {})} for t, rm in zip(index, root_meta)]
    out = pd.DataFrame(
        {
            "trace_id": index,
            "root_span_id": roots["span_id"].to_numpy(),
            "name": roots["name"].to_numpy(),
            "start_time": start.reindex(index).to_numpy(),
            "end_time": end.reindex(index).to_numpy(),
            "input_text": roots["input_text"].to_numpy(),
            "output_text": roots["output_text"].to_numpy(),
            "n_spans": counts["n_spans"].reindex(index).to_numpy(),
            "n_llm": counts["n_llm"].reindex(index).to_numpy(),
            "n_tool": counts["n_tool"].reindex(index).to_numpy(),
            "n_retriever": counts["n_retriever"].reindex(index).to_numpy(),
            "n_errors": counts["n_errors"].reindex(index).to_numpy(),
            "models": [models.get(t, []) for t in index],
            "prompt_tokens": tok["prompt_tokens"].reindex(index).to_numpy() if len(tok) else None,
            "completion_tokens": tok["completion_tokens"].reindex(index).to_numpy() if len(tok) else None,
            "total_tokens": tok["total_tokens"].reindex(index).to_numpy() if len(tok) else None,
            "cost_usd": cost.reindex(index).to_numpy(),
            "session_id": [session.get(t) for t in index],
            "user_id": [user.get(t) for t in index],
            "tags": [tags.get(t, []) for t in index],
            "metadata": merged,
            "source_format": roots["source_format"].to_numpy(),
        }
    )
    out["has_error"] = out["n_errors"] > 0
    st = pd.to_datetime(out["start_time"], utc=True)
    en = pd.to_datetime(out["end_time"], utc=True)
    out["latency_ms"] = (en - st).dt.total_seconds() * 1000.0
    return conform(out, TRACES)
