"""Shared helpers: trace-grain features, outcomes, ids and text columns.

Every analysis verb given spans gets its traces through :func:`traces_of` (one derivation,
:func:`llmops_nb.to_traces` of the declared span columns), and decides what a frame is with
:func:`llmops_nb.schema.grain_of`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Union

import numpy as np
import pandas as pd

from llmops_nb.schema import grain_of

__all__ = [
    "Outcome",
    "is_spans",
    "traces_of",
    "trace_features",
    "as_analysis_frame",
    "resolve_outcome",
    "id_series",
    "text_series",
    "trace_digest",
]

Outcome = Union[str, pd.Series, np.ndarray, Sequence[Any], Callable[[pd.DataFrame], Any]]
"""A failure indicator: a column name, a boolean Series/array (True = failed), or a callable."""


def is_spans(frame: pd.DataFrame) -> bool:
    """True when ``frame`` looks like a spans table (one row per span); see :func:`llmops_nb.schema.grain_of`."""
    return grain_of(frame) == "spans"


def traces_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The traces table an analysis works on: a spans frame becomes one row per trace
    (:func:`llmops_nb.to_traces` of its declared span columns; extra columns are the caller's to
    aggregate, see :func:`trace_features`); any other frame is returned as it is. The one path
    from spans to traces for every analysis verb.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "a", "kind": "chain"}], format="records")
        >>> traces_of(spans.assign(flag=True))[["trace_id", "n_spans"]].values.tolist()
        [['t', 1]]
    """
    from llmops_nb.schema import SPANS
    from llmops_nb.traces import to_traces

    if not is_spans(frame):
        return frame
    core = [c for c in frame.columns if c in SPANS.names]
    return to_traces(frame[core] if len(core) < len(frame.columns) else frame)


def trace_features(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per trace: :func:`llmops_nb.to_traces` plus ``tools`` (distinct tool names
    called), ``retrieval_score`` (mean score of the retrieved documents) and
    ``n_tool_errors``; extra non-schema columns of ``spans`` (for example a joined outcome)
    are aggregated per trace: booleans with any(), others with the first non-null value.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([
        ...     {"trace_id": "t", "span_id": "a", "kind": "chain"},
        ...     {"trace_id": "t", "span_id": "b", "parent_span_id": "a", "kind": "tool",
        ...      "tool_name": "search"}], format="records")
        >>> trace_features(spans)["tools"].tolist()
        [['search']]
    """
    from llmops_nb.schema import SPANS

    traces = traces_of(spans)
    tid = spans["trace_id"]
    if "tool_name" in spans.columns:
        tool_rows = spans.loc[spans["kind"].eq("tool") | spans["tool_name"].notna(), ["trace_id", "tool_name"]]
        tool_rows = tool_rows[tool_rows["tool_name"].notna()].drop_duplicates()
        tools = tool_rows.groupby("trace_id", sort=False)["tool_name"].agg(list)
        traces["tools"] = [list(tools.get(t, [])) for t in traces["trace_id"]]
        is_tool = spans["kind"].eq("tool")
        errs = (is_tool & spans["status"].eq("error")).groupby(tid).sum()
        traces["n_tool_errors"] = traces["trace_id"].map(errs).fillna(0).astype(int).to_numpy()
    if "documents" in spans.columns:
        ret = spans.loc[spans["kind"].eq("retriever") & spans["documents"].notna(), ["trace_id", "documents"]]
        if len(ret):
            ids, scores = [], []
            for t, docs in zip(ret["trace_id"], ret["documents"]):
                for d in docs if docs is not None else ():
                    s = d.get("score") if isinstance(d, dict) else None
                    if s is not None:
                        ids.append(t)
                        scores.append(float(s))
            if scores:
                mean = pd.Series(scores).groupby(pd.Series(ids)).mean()
                traces["retrieval_score"] = traces["trace_id"].map(mean).to_numpy()
    extra = [c for c in spans.columns if c not in SPANS.names]
    for c in extra:
        s = spans[c]
        if s.dtype == bool or str(s.dtype) == "boolean":
            agg = s.astype("boolean").groupby(tid).any()
        else:
            agg = s.groupby(tid).first()
        traces[c] = traces["trace_id"].map(agg).to_numpy()
    return traces


def as_analysis_frame(frame: pd.DataFrame, grain: str = "auto") -> pd.DataFrame:
    """The frame analysed: a spans frame becomes one row per trace (``grain="auto"`` or
    ``"trace"``); ``grain="row"`` keeps the rows as they are.
    """
    if grain not in ("auto", "trace", "row"):
        raise ValueError(f"grain={grain!r} is not valid; valid: 'auto', 'trace', 'row'")
    if grain == "row":
        return frame
    if is_spans(frame):
        return trace_features(frame)
    if grain == "trace" and "trace_id" in frame.columns and frame["trace_id"].duplicated().any():
        raise ValueError(
            "grain='trace' needs a spans frame or one row per trace; this frame repeats trace ids. "
            "Pass a spans frame, or grain='row'."
        )
    return frame


def id_series(frame: pd.DataFrame, id_column: str | None = None) -> pd.Series:
    """The ids of the rows: ``id_column``, else session_id on a sessions table, else trace_id
    (with span_id at span grain), else the index."""
    if id_column is not None:
        if id_column not in frame.columns:
            raise KeyError(f"id_column={id_column!r} is not a column; columns: {list(frame.columns)}")
        return frame[id_column].astype(object)
    if grain_of(frame) == "sessions":
        return frame["session_id"].astype(object)
    if "trace_id" in frame.columns:
        if "span_id" in frame.columns and frame["trace_id"].duplicated().any():
            return frame["trace_id"].astype(str) + "/" + frame["span_id"].astype(str)
        return frame["trace_id"].astype(object)
    return pd.Series(frame.index.astype(str), index=frame.index, dtype=object)


def text_series(frame: pd.DataFrame, text: str | Callable[[pd.DataFrame], Any] | Sequence[str]) -> pd.Series:
    """The texts to embed: a column, several columns joined with newlines, or a callable."""
    if callable(text):
        out = text(frame)
        s = pd.Series(list(out) if not isinstance(out, pd.Series) else out.to_numpy(), index=frame.index)
    elif isinstance(text, str):
        if text not in frame.columns:
            raise KeyError(
                f"text={text!r} is not a column of the frame; text columns: "
                f"{[c for c in frame.columns if frame[c].dtype == object][:20]}"
            )
        s = frame[text]
    else:
        cols = list(text)
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise KeyError(f"text columns {missing} are not in the frame")
        s = frame[cols].astype(object).where(frame[cols].notna(), "").astype(str).agg("\n".join, axis=1)
    return s.astype(object).where(s.notna(), "").map(lambda v: v if isinstance(v, str) else str(v))


def _as_float(values: Any) -> np.ndarray:
    s = pd.Series(values)
    if s.dtype == object:
        s = s.map(lambda v: np.nan if v is None or (isinstance(v, float) and np.isnan(v)) else float(bool(v)))
    return pd.to_numeric(s, errors="coerce").astype(float).to_numpy()


def resolve_outcome(frame: pd.DataFrame, outcome: Outcome) -> tuple[np.ndarray, str]:
    """The failure indicator as a float array aligned with ``frame`` (1 = failed, 0 = ok,
    NaN = unknown) and a name for it.

    ``outcome`` is a column name (also a metadata key), a boolean Series (aligned on the
    frame's index, or on trace_id / a sessions table's session_id when its index holds those
    ids), an array of the frame's
    length, or a callable ``frame -> bools``.
    """
    if isinstance(outcome, str):
        if outcome in frame.columns:
            return _as_float(frame[outcome].to_numpy()), outcome
        if "metadata" in frame.columns:
            vals = [m.get(outcome) if isinstance(m, dict) else None for m in frame["metadata"]]
            if any(v is not None for v in vals):
                return _as_float(vals), outcome
        raise KeyError(
            f"outcome={outcome!r} is not a column (or metadata key) of the frame; columns: "
            f"{list(frame.columns)}. Pass a column name, a boolean Series, or a callable."
        )
    if callable(outcome) and not isinstance(outcome, (pd.Series, np.ndarray)):
        res = outcome(frame)
        name = getattr(outcome, "__name__", "outcome")
        if isinstance(res, pd.Series):
            return resolve_outcome(frame, res)[0], name
        arr = np.asarray(res)
        if arr.shape[0] != len(frame):
            raise ValueError(f"the outcome callable returned {arr.shape[0]} values for {len(frame)} rows")
        return _as_float(arr), name
    if isinstance(outcome, pd.Series):
        name = str(outcome.name) if outcome.name is not None else "outcome"
        key = "session_id" if grain_of(frame) == "sessions" else "trace_id"
        if key in frame.columns and not outcome.index.equals(frame.index):
            idx = outcome.index
            is_text = idx.dtype == object or str(idx.dtype).startswith("str")
            if is_text and frame[key].isin(idx).any():
                mapped = frame[key].map(outcome[~idx.duplicated()])
                return _as_float(mapped.to_numpy()), name
        aligned = outcome.reindex(frame.index)
        return _as_float(aligned.to_numpy()), name
    arr = np.asarray(outcome)
    if arr.shape[0] != len(frame):
        raise ValueError(f"outcome has {arr.shape[0]} values but the frame has {len(frame)} rows")
    return _as_float(arr), "outcome"


def _guardrail_flags(name: str, text: str) -> list[str]:
    import orjson

    try:
        data = orjson.loads(text)
    except Exception:
        return []
    if not isinstance(data, dict):
        return []
    out: list[str] = []
    action = data.get("action")
    raw = data.get("checks")
    checks: dict[str, Any] = raw if isinstance(raw, dict) else {
        k: v for k, v in data.items() if k not in ("action", "passed")
    }
    for k, v in checks.items():
        if isinstance(v, bool) and v:
            out.append(f"guardrail {name} flagged {k}")
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0.5:
            out.append(f"guardrail {name} flagged {k} score {v:.2f}")
        elif isinstance(v, (list, tuple)) and v:
            out.append(f"guardrail {name} detected {k} {' '.join(map(str, v))}")
    if out and action not in (None, "allow", "pass", "block", "blocked"):
        out.append(f"guardrail {name} action {action} did not block")
    elif action in ("block", "blocked"):
        out.append(f"guardrail {name} blocked the request")
    if data.get("passed") is False:
        out.append(f"guardrail {name} failed")
    return out


def trace_digest(
    spans: pd.DataFrame,
    *,
    include_output: bool | str = "auto",
    detect_language: bool = True,
    low_retrieval_quantile: float = 0.1,
    traces: pd.DataFrame | None = None,
) -> pd.Series:
    """A failure-relevant text per trace, built from what the trace shows: errors of its
    spans (kind, name, message), output guardrail verdicts that flagged something, a
    mismatch between the question's and the answer's language (py3langid): the failure
    evidence; input guardrail flags and weak retrieval (best document score in the lowest
    ``low_retrieval_quantile`` of the traces): risk signals; and the answer. ``include_output="auto"`` adds the answer only when the trace has no failure
    evidence (the first thing that went wrong is then what the answer says); ``True``
    always, ``False`` never. Cluster it to group failures by what went wrong rather than by
    topic or language.

    Row grain: one string per trace, indexed by trace_id. ``traces``: the traces of ``spans``
    when the caller has them already (:func:`traces_of`), so they are not derived twice.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([
        ...     {"trace_id": "t", "span_id": "a", "kind": "chain", "output_text": "Sorry."},
        ...     {"trace_id": "t", "span_id": "b", "parent_span_id": "a", "kind": "tool", "name": "lookup",
        ...      "status": "error", "error_message": "OrderNotFound"}], format="records")
        >>> trace_digest(spans, detect_language=False, include_output=True)["t"]
        'error in tool lookup: OrderNotFound\\nanswer: Sorry.'
    """
    lines: dict[str, list[str]] = {}  # failure evidence
    risks: dict[str, list[str]] = {}  # input-side signals
    err = spans[spans["status"].eq("error")]
    for t, k, nm, msg in zip(err["trace_id"], err["kind"], err["name"], err["error_message"]):
        lines.setdefault(t, []).append(f"error in {k} {nm}: {msg or 'error'}")
    g = spans[spans["kind"].eq("guardrail") & spans["output_text"].notna()]
    for t, nm, out in zip(g["trace_id"], g["name"], g["output_text"]):
        flags = _guardrail_flags(str(nm), out)
        if flags:
            target = risks if "input" in str(nm).lower() else lines
            target.setdefault(t, []).extend(flags)
    if "documents" in spans.columns and low_retrieval_quantile:
        ret = spans[spans["kind"].eq("retriever") & spans["documents"].notna()]
        best: dict[str, float] = {}
        for t, docs in zip(ret["trace_id"], ret["documents"]):
            scores = [float(d["score"]) for d in docs if isinstance(d, dict) and d.get("score") is not None]
            if scores:
                best[t] = max(best.get(t, float("-inf")), max(scores))
        if len(best) >= 20:
            cut = float(np.quantile(list(best.values()), low_retrieval_quantile))
            for t, v in best.items():
                if v <= cut:
                    risks.setdefault(t, []).append(
                        f"retrieval weak: best document score {v:.2f}, among the lowest of these traces"
                    )
    if traces is None:
        traces = traces_of(spans)
    answers = dict(zip(traces["trace_id"], traces["output_text"]))
    if detect_language:
        import py3langid

        for t, q, a in zip(traces["trace_id"], traces["input_text"], traces["output_text"]):
            if isinstance(q, str) and isinstance(a, str) and len(q) > 15 and len(a) > 15:
                lq, la = py3langid.classify(q)[0], py3langid.classify(a)[0]
                if lq != la:
                    lines.setdefault(t, []).append(f"language mismatch: question {lq}, answer {la}")
    out = {}
    for t in traces["trace_id"]:
        parts = list(lines.get(t, []))
        add = include_output is True or (include_output == "auto" and not parts)
        parts += risks.get(t, [])
        if add and isinstance(answers.get(t), str):
            parts.append(f"answer: {answers[t]}")
        out[t] = "\n".join(parts)
    return pd.Series(out, name="digest", dtype=object)
