"""Derive the sessions table (one row per conversation) from spans: the session grain."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.schema import SESSIONS, conform, empty_frame, grain_of, is_missing

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
    session whose id is the trace id. ``results``: session-level rows of a results table
    (``session_id`` set, ``trace_id`` null) add one column per evaluator (``values``: the
    result column shown, latest row wins). ``traces``: the traces table of ``spans`` when you
    already have it (saves deriving it again).

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
    from llmops_nb.traces import to_traces

    tr = to_traces(spans) if traces is None else traces
    sess = tr["session_id"]
    if singletons:
        sess = sess.where(sess.notna(), tr["trace_id"])
    keep = sess.notna().to_numpy()
    if not keep.all():
        tr = tr[keep]
        sess = sess[keep]
    if len(tr) == 0:
        return empty_frame(SESSIONS)
    # turn order: the session, then the first turn's start (turns without a start last)
    order = pd.DataFrame({"s": sess.to_numpy(), "t": tr["start_time"].to_numpy(), "i": np.arange(len(tr))})
    order = order.sort_values(["s", "t", "i"], kind="stable", na_position="last")
    pos = order["i"].to_numpy()
    tr = tr.iloc[pos].reset_index(drop=True)
    sid = order["s"].to_numpy()
    brk = np.flatnonzero(sid[1:] != sid[:-1]) + 1
    starts = np.concatenate([[0], brk])
    ends = np.concatenate([brk, [len(sid)]])
    n_turns = ends - starts
    keys = sid[starts]
    code = np.repeat(np.arange(len(keys)), n_turns)

    def lists(col: str) -> list[list[Any]]:
        vals = tr[col].tolist()
        return [vals[a:b] for a, b in zip(starts, ends)]

    trace_ids = lists("trace_id")
    num = pd.DataFrame({c: tr[c] for c in ("n_spans", "n_llm", "n_tool", "n_errors", "prompt_tokens",
                                            "completion_tokens", "total_tokens", "cost_usd")})
    num["_c"] = code
    sums = num.groupby("_c", sort=True).sum(min_count=1)
    st = pd.to_datetime(tr["start_time"], utc=True)
    en = pd.to_datetime(tr["end_time"], utc=True)
    start = st.groupby(code).min()
    end = en.groupby(code).max()

    # tools in call order over the turns
    turn_of = {t: (k, j + 1) for k, ids in enumerate(trace_ids) for j, t in enumerate(ids)}
    tool_names: list[list[str]] = [[] for _ in keys]
    tool_calls: list[list[dict[str, Any]]] = [[] for _ in keys]
    if "kind" in spans.columns and len(spans):
        ts = spans[spans["kind"].to_numpy() == "tool"]
        if len(ts):
            ts = ts.assign(_o=np.arange(len(ts))).sort_values(["start_time", "_o"], kind="stable", na_position="last")
            for t, name, args, status in zip(ts["trace_id"].tolist(), ts["tool_name"].tolist(),
                                             ts["tool_arguments"].tolist(), ts["status"].tolist()):
                kt = turn_of.get(t)
                if kt is None:
                    continue
                k, turn = kt
                nm = None if is_missing(name) else name
                tool_names[k].append(nm)
                tool_calls[k].append({"turn": turn, "name": nm, "arguments": None if is_missing(args) else args,
                                      "status": status})
            # calls sort by turn (start times may be missing; a turn's calls keep their order)
            for k in range(len(keys)):
                if len(tool_calls[k]) > 1:
                    idx = sorted(range(len(tool_calls[k])), key=lambda i, k=k: tool_calls[k][i]["turn"])
                    tool_calls[k] = [tool_calls[k][i] for i in idx]
                    tool_names[k] = [tool_names[k][i] for i in idx]

    def union(col: str) -> list[list[Any]]:
        out = []
        vals = tr[col].tolist()
        for a, b in zip(starts, ends):
            seen: dict[Any, None] = {}
            for lst in vals[a:b]:
                if lst is not None and not isinstance(lst, float):
                    seen.update(dict.fromkeys(lst))
            out.append(list(seen))
        return out

    users = tr["user_id"].tolist()
    first_user = []
    for a, b in zip(starts, ends):
        first_user.append(next((u for u in users[a:b] if not is_missing(u)), None))
    meta = tr["metadata"].tolist()
    outs = tr["output_text"].tolist()
    out = pd.DataFrame({
        "session_id": keys,
        "n_turns": n_turns,
        "trace_ids": trace_ids,
        "user_inputs": lists("input_text"),
        "assistant_outputs": lists("output_text"),
        "start_time": start.to_numpy(),
        "end_time": end.to_numpy(),
        "input_text": tr["input_text"].to_numpy()[starts],
        "output_text": [outs[b - 1] for b in ends],
        "n_spans": sums["n_spans"].to_numpy(),
        "n_llm": sums["n_llm"].to_numpy(),
        "n_tool": sums["n_tool"].to_numpy(),
        "n_errors": sums["n_errors"].to_numpy(),
        "models": union("models"),
        "tools": tool_names,
        "tool_calls": tool_calls,
        "prompt_tokens": sums["prompt_tokens"].to_numpy(),
        "completion_tokens": sums["completion_tokens"].to_numpy(),
        "total_tokens": sums["total_tokens"].to_numpy(),
        "cost_usd": sums["cost_usd"].to_numpy(),
        "user_id": first_user,
        "tags": union("tags"),
        "metadata": [meta[a] if isinstance(meta[a], dict) else {} for a in starts],
        "source_format": tr["source_format"].to_numpy()[starts],
    })
    out["has_error"] = out["n_errors"] > 0
    out["duration_ms"] = (pd.to_datetime(out["end_time"], utc=True)
                          - pd.to_datetime(out["start_time"], utc=True)).dt.total_seconds() * 1000.0
    out = conform(out, SESSIONS)
    if results is not None and len(results):
        out = session_outcomes(out, results, values=values)
    return out


def session_outcomes(sessions: pd.DataFrame, results: pd.DataFrame, *, values: str = "value") -> pd.DataFrame:
    """``sessions`` with one column per session-level evaluator of ``results`` (a new frame).

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
