"""Derive the traces table (one row per trace) from spans."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.schema import TRACES, conform, empty_frame

__all__ = ["to_traces"]


def _first(values: Any) -> Any:
    for v in values:
        if v is not None and not (isinstance(v, float) and np.isnan(v)):
            return v
    return None


def to_traces(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per trace, derived from a spans frame: root name, times, root input and output,
    span counts by kind, token and cost sums, error flag, session, user, tags and metadata.

    The root is the span with no parent (or whose parent is not in the trace); with several,
    the earliest.

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
    df = spans
    ids = set(zip(df["trace_id"], df["span_id"]))
    parent = df["parent_span_id"]
    is_root = parent.isna().to_numpy() | np.array(
        [(t, p) not in ids for t, p in zip(df["trace_id"], parent.fillna(""))], dtype=bool
    )
    order = df.assign(_root=~np.asarray(is_root, dtype=bool)).sort_values(
        ["trace_id", "_root", "start_time"], kind="stable", na_position="last"
    )
    roots = order.drop_duplicates("trace_id", keep="first").set_index("trace_id")
    g = df.groupby("trace_id", sort=False)
    kinds = pd.crosstab(df["trace_id"], df["kind"])

    def count(kind: str) -> pd.Series:
        return kinds[kind] if kind in kinds.columns else pd.Series(0, index=kinds.index)

    is_model = df["kind"].isin(["llm", "embedding"])
    tok = df.loc[is_model].groupby("trace_id")[["prompt_tokens", "completion_tokens", "total_tokens"]].sum(min_count=1)
    start = g["start_time"].min()
    end = g["end_time"].max()

    def union_tags(values: Any) -> list[str]:
        out: list[str] = []
        for v in values:
            for t in v if v is not None else ():
                if t not in out:
                    out.append(t)
        return out

    def merged_meta(sub: pd.DataFrame) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        for v in sub["metadata"]:
            if isinstance(v, dict):
                meta.update(v)
        return meta

    def models(values: Any) -> list[str]:
        out: list[str] = []
        for v in values:
            if v is not None and v == v and v not in out:
                out.append(v)
        return out

    sorted_df = df.sort_values("start_time", kind="stable")
    sg = sorted_df.groupby("trace_id", sort=False)
    index = roots.index
    meta = sg[["metadata"]].apply(merged_meta) if "metadata" in df else pd.Series(dtype=object)
    root_meta = roots["metadata"]
    meta = pd.Series(
        [{**(meta.get(t) or {}), **(root_meta.get(t) or {})} for t in index], index=index
    )
    out = pd.DataFrame(
        {
            "trace_id": index,
            "root_span_id": roots["span_id"].values,
            "name": roots["name"].values,
            "start_time": start.reindex(index).values,
            "end_time": end.reindex(index).values,
            "input_text": roots["input_text"].values,
            "output_text": roots["output_text"].values,
            "n_spans": g.size().reindex(index).values,
            "n_llm": count("llm").reindex(index).fillna(0).values,
            "n_tool": count("tool").reindex(index).fillna(0).values,
            "n_retriever": count("retriever").reindex(index).fillna(0).values,
            "n_errors": (df["status"] == "error").groupby(df["trace_id"]).sum().reindex(index).values,
            "models": sg["model"].agg(models).reindex(index).values,
            "prompt_tokens": tok["prompt_tokens"].reindex(index).values if len(tok) else None,
            "completion_tokens": tok["completion_tokens"].reindex(index).values if len(tok) else None,
            "total_tokens": tok["total_tokens"].reindex(index).values if len(tok) else None,
            "cost_usd": g["cost_usd"].sum(min_count=1).reindex(index).values,
            "session_id": sg["session_id"].agg(_first).reindex(index).values,
            "user_id": sg["user_id"].agg(_first).reindex(index).values,
            "tags": sg["tags"].agg(union_tags).reindex(index).values,
            "metadata": meta.values,
            "source_format": roots["source_format"].values,
        }
    )
    out["has_error"] = out["n_errors"] > 0
    st = pd.to_datetime(out["start_time"], utc=True)
    en = pd.to_datetime(out["end_time"], utc=True)
    out["latency_ms"] = (en - st).dt.total_seconds() * 1000.0
    return conform(out, TRACES)
