"""Derive the sessions table (one row per conversation) from spans: the session grain."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb._compat import warn_deprecated
from llmops_nb.schema import SESSIONS, empty_frame, grain_of, is_missing

__all__ = ["to_sessions", "session_outcomes", "session_digest", "session_items", "is_sessions"]


def is_sessions(frame: pd.DataFrame) -> bool:
    """True when ``frame`` looks like a sessions table (one row per session).

    Example:
        >>> is_sessions(pd.DataFrame({"session_id": ["s"], "trace_ids": [["t"]]}))
        True
    """
    return grain_of(frame) == "sessions"


def to_sessions(
    spans: pd.DataFrame,
    results: pd.DataFrame | None = None,
    *,
    singletons: bool = False,
    traces: pd.DataFrame | None = None,
    values: str = "value",
) -> pd.DataFrame:
    """One row per session, derived from a spans frame: its turns in time order (trace ids,
    user inputs, assistant outputs), start, end, duration, turn count, span/llm/tool/error
    counts, the tools called (names, and every call with its turn, arguments and status),
    models, tokens, cost, user, tags, and the metadata of the first turn.

    A turn is a trace; a trace belongs to the session named by its ``session_id``. Traces
    without a session are left out, unless ``singletons=True``: then each is its own one-turn
    session whose id is the trace id. ``traces``: the traces table of ``spans`` when you
    already have it (saves deriving it again). ``results`` / ``values`` are deprecated: the
    results views own outcome columns, ``lo.wide(lo.to_sessions(spans), results, values="passed")``
    (session-level rows join on ``session_id``).

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([
        ...     {"trace_id": "t1", "span_id": "a", "kind": "agent", "session_id": "s", "input_text": "hi",
        ...      "output_text": "hello", "start_time": "2026-01-01T00:00:00Z"},
        ...     {"trace_id": "t2", "span_id": "b", "kind": "agent", "session_id": "s", "input_text": "bye",
        ...      "output_text": "ciao", "start_time": "2026-01-01T00:01:00Z"},
        ...     {"trace_id": "t3", "span_id": "c", "kind": "agent"}], format="records")
        >>> lo.to_sessions(spans)[["session_id", "n_turns", "user_inputs"]].values.tolist()
        [['s', 2, ['hi', 'bye']]]
        >>> len(lo.to_sessions(spans, singletons=True))
        2
    """
    if len(spans) == 0:
        return empty_frame(SESSIONS)
    # building many small lists over a large heap of span objects: the cyclic garbage collector
    # would rescan that heap again and again (nothing built here is cyclic), so it pauses
    enabled = gc.isenabled()
    gc.disable()
    try:
        out = _sessions(spans, traces, singletons)
    finally:
        if enabled:
            gc.enable()
    if results is not None:
        warn_deprecated("to_sessions(spans, results, values=...)",
                        "lo.wide(lo.to_sessions(spans), results, values=...) (the results views own outcome columns)")
        if len(results):
            out = _session_outcomes(out, results, values=values)
    return out


def _sessions(spans: pd.DataFrame, traces: pd.DataFrame | None, singletons: bool) -> pd.DataFrame:
    tr = _turns(spans) if traces is None else traces.reset_index(drop=True)
    sess = tr["session_id"]
    if singletons:
        sess = sess.where(sess.notna(), tr["trace_id"])
    keep = sess.notna().to_numpy()
    if not keep.all():
        tr = tr[keep]
        sess = sess[keep]
    if len(tr) == 0:
        return empty_frame(SESSIONS)
    # turn order: the session, then the turn's start (turns without a start last)
    order = pd.DataFrame({"s": pd.Series(sess.to_numpy(), dtype=object), "t": pd.to_datetime(tr["start_time"], utc=True).array,
                          "i": np.arange(len(tr))})
    order = order.sort_values(["s", "t", "i"], kind="stable", na_position="last")
    tr = tr.iloc[order["i"].to_numpy()].reset_index(drop=True)
    sid = order["s"].to_numpy()
    brk = np.flatnonzero(sid[1:] != sid[:-1]) + 1
    starts = np.concatenate([[0], brk]).astype(np.int64)
    ends = np.concatenate([brk, [len(sid)]]).astype(np.int64)
    n_turns = ends - starts
    keys = sid[starts]
    code = np.repeat(np.arange(len(keys)), n_turns)

    def lists(col: str) -> list[list[Any]]:
        vals = tr[col].tolist()
        return [vals[a:b] for a, b in zip(starts.tolist(), ends.tolist())]

    trace_ids = lists("trace_id")
    num = pd.DataFrame({c: pd.to_numeric(tr[c]).astype("float64") for c in (
        "n_spans", "n_llm", "n_tool", "n_errors", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd")})
    num["_c"] = code
    sums = num.groupby("_c", sort=True).sum(min_count=1)
    st = pd.Series(pd.to_datetime(tr["start_time"], utc=True).array, index=code)
    en = pd.Series(pd.to_datetime(tr["end_time"], utc=True).array, index=code)
    start = st.groupby(level=0).min()
    end = en.groupby(level=0).max()

    turn_of = {t: (k, j + 1) for k, ids in enumerate(trace_ids) for j, t in enumerate(ids)}
    tool_names, tool_calls = _tools(spans, turn_of, len(keys))
    if traces is None:
        models, tags = _models_tags(spans, turn_of, len(keys))
    else:
        models, tags = _union(tr["models"].tolist(), starts, ends), _union(tr["tags"].tolist(), starts, ends)
    users = tr["user_id"].tolist()
    first_user = [next((u for u in users[a:b] if not is_missing(u)), None) for a, b in zip(starts.tolist(), ends.tolist())]
    meta = tr["metadata"].tolist()
    outs = tr["output_text"].tolist()

    def ints(col: str) -> Any:
        v = sums[col].to_numpy()
        return pd.array([None if x != x else int(x) for x in v.tolist()], dtype="Int64")

    start_a = pd.DatetimeIndex(start.to_numpy()).tz_localize("UTC") if start.dt.tz is None else pd.DatetimeIndex(start)
    end_a = pd.DatetimeIndex(end.to_numpy()).tz_localize("UTC") if end.dt.tz is None else pd.DatetimeIndex(end)
    out = pd.DataFrame({
        "session_id": _obj(keys),
        "n_turns": pd.array(n_turns, dtype="Int64"),
        "trace_ids": trace_ids,
        "user_inputs": lists("input_text"),
        "assistant_outputs": lists("output_text"),
        "start_time": start_a.as_unit("us"),
        "end_time": end_a.as_unit("us"),
        "duration_ms": ((end_a - start_a).total_seconds() * 1000.0).to_numpy(dtype="float64"),
        "input_text": _obj(tr["input_text"].to_numpy()[starts]),
        "output_text": _obj([outs[b - 1] for b in ends.tolist()]),
        "n_spans": ints("n_spans"),
        "n_llm": ints("n_llm"),
        "n_tool": ints("n_tool"),
        "n_errors": ints("n_errors"),
        "models": models,
        "tools": tool_names,
        "tool_calls": tool_calls,
        "prompt_tokens": ints("prompt_tokens"),
        "completion_tokens": ints("completion_tokens"),
        "total_tokens": ints("total_tokens"),
        "cost_usd": sums["cost_usd"].to_numpy(dtype="float64"),
        "has_error": pd.array(sums["n_errors"].to_numpy() > 0, dtype="boolean"),
        "user_id": _obj(first_user),
        "tags": tags,
        "metadata": [meta[a] if isinstance(meta[a], dict) else {} for a in starts.tolist()],
        "source_format": _obj(tr["source_format"].to_numpy()[starts]),
    })
    return out[SESSIONS.names]


def _obj(values: Any) -> pd.Series:
    a = pd.Series(list(values) if not hasattr(values, "dtype") else values, dtype=object)
    return a.where(a.notna(), None)


def _union(vals: list[Any], starts: np.ndarray, ends: np.ndarray) -> list[list[Any]]:
    out = []
    for a, b in zip(starts.tolist(), ends.tolist()):
        seen: dict[Any, None] = {}
        for lst in vals[a:b]:
            if lst is not None and not isinstance(lst, float):
                seen.update(dict.fromkeys(lst))
        out.append(list(seen))
    return out


def _turns(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per trace with what the sessions table needs (the turn's root input and output,
    times, counts, tokens, cost, session, user, the root's metadata), computed column-wise."""
    # positional throughout: a frame filtered or concatenated from store segments has an index
    # that is not 0..n-1, and the per-span columns built below must line up with each other
    df = spans.reset_index(drop=True)
    tid = df["trace_id"]
    parent = df["parent_span_id"]
    root = parent.isna().to_numpy().copy()
    per = pd.Series(root).groupby(tid.to_numpy(), sort=False).any()
    orphans = per.index[~per.to_numpy()]
    if len(orphans):  # traces whose root has a parent outside the trace (partial traces)
        sub = df[tid.isin(set(orphans)).to_numpy()]
        ids = set(zip(sub["trace_id"], sub["span_id"]))
        pos = np.flatnonzero(tid.isin(set(orphans)).to_numpy())
        for i, t, p in zip(pos.tolist(), sub["trace_id"].tolist(), sub["parent_span_id"].tolist()):
            if (t, p) not in ids:
                root[i] = True
    cols = ["trace_id", "start_time", "input_text", "output_text", "metadata", "source_format"]
    roots = df.loc[root, cols].assign(_o=np.flatnonzero(root))
    roots["trace_id"] = roots["trace_id"].astype(object)
    roots = roots.sort_values(["trace_id", "start_time", "_o"], kind="stable", na_position="last")
    roots = roots.drop_duplicates("trace_id", keep="first").set_index("trace_id")
    kind = df["kind"].to_numpy()
    is_model = (kind == "llm") | (kind == "embedding")
    num = pd.DataFrame({
        "n_spans": np.ones(len(df), dtype=np.int64),
        "n_llm": (kind == "llm").astype(np.int64),
        "n_tool": (kind == "tool").astype(np.int64),
        "n_errors": (df["status"].to_numpy() == "error").astype(np.int64),
        "prompt_tokens": pd.to_numeric(df["prompt_tokens"]).astype("float64").where(is_model),
        "completion_tokens": pd.to_numeric(df["completion_tokens"]).astype("float64").where(is_model),
        "total_tokens": pd.to_numeric(df["total_tokens"]).astype("float64").where(is_model),
        "cost_usd": pd.to_numeric(df["cost_usd"]).astype("float64"),
    })
    num["trace_id"] = pd.Series(tid.to_numpy(), dtype=object)
    g = num.groupby("trace_id", sort=False)
    counts = g[["n_spans", "n_llm", "n_tool", "n_errors"]].sum()
    toks = g[["prompt_tokens", "completion_tokens", "total_tokens", "cost_usd"]].sum(min_count=1)
    idx = counts.index
    tid_o = pd.Series(tid.to_numpy(), dtype=object, index=df.index)
    times = pd.DataFrame({"trace_id": tid_o, "s": pd.to_datetime(df["start_time"], utc=True),
                          "e": pd.to_datetime(df["end_time"], utc=True)}).groupby("trace_id", sort=False)
    firsts = pd.DataFrame({"trace_id": tid_o, "session_id": df["session_id"].astype(object),
                           "user_id": df["user_id"].astype(object)}).groupby("trace_id", sort=False).first()
    r = roots.reindex(idx)
    return pd.DataFrame({
        "trace_id": pd.Series(idx.to_numpy(), dtype=object),
        "session_id": pd.Series(firsts["session_id"].reindex(idx).to_numpy(), dtype=object),
        "user_id": pd.Series(firsts["user_id"].reindex(idx).to_numpy(), dtype=object),
        "start_time": times["s"].min().reindex(idx).array,
        "end_time": times["e"].max().reindex(idx).array,
        "input_text": pd.Series(r["input_text"].to_numpy(), dtype=object),
        "output_text": pd.Series(r["output_text"].to_numpy(), dtype=object),
        "metadata": pd.Series(r["metadata"].to_numpy(), dtype=object),
        "source_format": pd.Series(r["source_format"].to_numpy(), dtype=object),
        **{c: counts[c].to_numpy() for c in counts.columns},
        **{c: toks[c].to_numpy() for c in toks.columns},
    })


def _tools(spans: pd.DataFrame, turn_of: dict[Any, tuple[int, int]], n: int) -> tuple[list[list[Any]], list[list[Any]]]:
    """Tool names and calls per session, in call order over the turns."""
    names: list[list[Any]] = [[] for _ in range(n)]
    calls: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    ts = spans.loc[spans["kind"].to_numpy() == "tool", ["trace_id", "start_time", "tool_name", "tool_arguments", "status"]]
    if not len(ts):
        return names, calls
    ts = ts.assign(_o=np.arange(len(ts))).sort_values(["start_time", "_o"], kind="stable", na_position="last")
    found = []
    for t, name, args, status in zip(ts["trace_id"].tolist(), ts["tool_name"].tolist(),
                                     ts["tool_arguments"].tolist(), ts["status"].tolist()):
        kt = turn_of.get(t)
        if kt is not None:
            found.append((kt[0], kt[1], None if is_missing(name) else name, None if is_missing(args) else args, status))
    found.sort(key=lambda x: (x[0], x[1]))  # stable: a turn's calls keep their order
    for k, turn, name, args, status in found:
        names[k].append(name)
        calls[k].append({"turn": turn, "name": name, "arguments": args, "status": status})
    return names, calls


def _models_tags(spans: pd.DataFrame, turn_of: dict[Any, tuple[int, int]], n: int) -> tuple[list[list[Any]], list[list[Any]]]:
    """Distinct models (in order of first call) and the union of tags, per session."""
    models: list[list[Any]] = [[] for _ in range(n)]
    tags: list[list[Any]] = [[] for _ in range(n)]
    m = spans.loc[spans["model"].notna().to_numpy(), ["trace_id", "start_time", "model"]]
    if len(m):
        k_of = {t: kt[0] for t, kt in turn_of.items()}
        m = m.assign(_o=np.arange(len(m)), _k=m["trace_id"].map(k_of)).dropna(subset=["_k"])
        m = m.sort_values(["start_time", "_o"], kind="stable", na_position="last").drop_duplicates(["_k", "model"])
        for k, model in zip(m["_k"].astype(np.int64).tolist(), m["model"].tolist()):
            models[k].append(model)
    tg = spans.loc[spans["tags"].notna().to_numpy(), ["trace_id", "tags"]]
    found = [(kt[0], kt[1], i, lst) for i, (t, lst) in enumerate(zip(tg["trace_id"].tolist(), tg["tags"].tolist()))
             if (kt := turn_of.get(t)) is not None and lst is not None]
    for k, _, _, lst in sorted(found, key=lambda x: x[:3]):  # in turn order
        cur = tags[k]
        for x in lst:
            if x not in cur:
                cur.append(x)
    return models, tags


def session_outcomes(sessions: pd.DataFrame, results: pd.DataFrame, *, values: str = "value") -> pd.DataFrame:
    """Deprecated: use ``lo.wide(sessions, results, values=...)``, which joins session-level
    results on a sessions table. ``sessions`` with one column per session-level evaluator of
    ``results`` (a new frame).

    Session-level rows have ``session_id`` set and ``trace_id`` null; with several rows for
    one session and evaluator the latest wins. ``values``: ``value``, ``score``, ``label``,
    ``passed``, ``error`` or ``explanation``.

    Example:
        >>> s = pd.DataFrame({"session_id": ["a", "b"], "trace_ids": [["t1"], ["t2"]]})
        >>> r = pd.DataFrame({"session_id": ["a"], "trace_id": [None], "evaluator": ["turn_count"],
        ...                   "value": [True], "created_at": [pd.Timestamp("2026-01-01", tz="UTC")]})
        >>> session_outcomes(s, r)["turn_count"].tolist()
        [True, None]
    """
    warn_deprecated("session_outcomes(sessions, results)", "lo.wide(sessions, results, values=...)")
    return _session_outcomes(sessions, results, values=values)


def _session_outcomes(sessions: pd.DataFrame, results: pd.DataFrame, *, values: str) -> pd.DataFrame:
    valid = ("value", "score", "label", "passed", "error", "explanation")
    if values not in valid:
        raise ValueError(f"values={values!r} is not valid; valid: {list(valid)}")
    if "session_id" not in results.columns:
        return sessions.copy()
    res = results[results["session_id"].notna() & results["trace_id"].isna()]
    out = sessions.copy()
    if not len(res):
        return out
    if "created_at" in res.columns:
        res = res.sort_values("created_at", kind="stable")
    last = res.drop_duplicates(["session_id", "evaluator"], keep="last")
    piv = last.pivot(index="session_id", columns="evaluator", values=values)
    piv = piv.astype(object).where(piv.notna(), None)
    for c in piv.columns:
        name = c if c not in out.columns else f"{c}__eval"
        out[name] = out["session_id"].map(piv[c]).astype(object)
        out[name] = out[name].where(out[name].notna(), None)
    return out


def session_digest(sessions: pd.DataFrame, *, max_chars: int = 300) -> pd.Series:
    """A text per session to cluster on: each turn's user message and answer, and the tools
    called, clipped; indexed by session_id.

    Example:
        >>> s = pd.DataFrame({"session_id": ["a"], "user_inputs": [["hi"]], "assistant_outputs": [["hello"]],
        ...                   "tools": [["lookup"]]})
        >>> session_digest(s)["a"]
        'user 1: hi\\nassistant 1: hello\\ntools: lookup'
    """
    out = {}
    tools = sessions["tools"] if "tools" in sessions.columns else [None] * len(sessions)
    for sid, ins, outs, tl in zip(sessions["session_id"], sessions["user_inputs"], sessions["assistant_outputs"], tools):
        lines = []
        for j, (q, a) in enumerate(zip(ins if ins is not None else [], outs if outs is not None else []), 1):
            lines.append(f"user {j}: {str(q or '')[:max_chars]}")
            lines.append(f"assistant {j}: {str(a or '')[:max_chars]}")
        if tl is not None and len(tl):
            lines.append("tools: " + ", ".join(str(t) for t in tl))
        out[sid] = "\n".join(lines)
    return pd.Series(out, name="digest", dtype=object)


def session_items(frame: pd.DataFrame, spans: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The sessions to evaluate at ``level="session"`` and the spans of their turns, with each
    span's ``session_id`` set to its session (None when no spans are known).

    ``frame`` is a sessions table (its spans from ``spans`` when given), a spans table (the
    sessions are derived from it, or from the whole sessions of ``spans`` it touches), or a
    traces table with ``spans``.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "a", "kind": "agent", "session_id": "s"}],
        ...                        format="records")
        >>> items, sp = session_items(spans)
        >>> items["session_id"].tolist(), sp["session_id"].tolist()
        (['s'], ['s'])
    """
    if is_sessions(frame):
        items = frame
    else:
        is_span_frame = grain_of(frame) == "spans"
        if not is_span_frame and spans is None:
            raise ValueError(
                "level='session' needs spans: pass a spans table, a sessions table (lo.to_sessions(spans)), "
                "or spans=... with a traces table"
            )
        if spans is None:
            spans = frame
        else:  # the whole sessions that the frame's traces belong to
            sess = set(frame["session_id"].dropna()) if "session_id" in frame.columns else set()
            spans = spans[spans["session_id"].isin(sess) | spans["trace_id"].isin(set(frame["trace_id"]))]
        items = to_sessions(spans)
    if spans is None:
        return items, None
    owner = {t: s for s, ids in zip(items["session_id"], items["trace_ids"]) for t in (ids if ids is not None else [])}
    sess_of = spans["trace_id"].map(owner)
    sp = spans[sess_of.notna().to_numpy()].assign(session_id=sess_of[sess_of.notna()].to_numpy())
    return items, sp
