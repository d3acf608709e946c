"""The session viewer: a conversation as a chat, each turn expandable into its trace (the trace
viewer), with the session's results and labels on top. Static HTML like the trace viewer: it
renders in JupyterLab, in exported reports and offline; every text is escaped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from llmops_nb.annotation._assets import asset_text
from llmops_nb.annotation._html import clip, esc, fmt_cost, fmt_ms, is_missing, to_json_text
from llmops_nb.annotation._trace_view import _labels_html, _results_html, render_trace_html

__all__ = ["SessionView", "show_session", "render_session_html"]

_CSS = """
.lo-session{font-family:system-ui,-apple-system,Segoe UI,sans-serif;font-size:13px;max-width:980px}
.lo-session .lo-s-head{padding:6px 8px;border-bottom:1px solid #ddd;margin-bottom:6px}
.lo-session .lo-turn{margin:8px 0;padding:4px 0;border-bottom:1px dashed #e3e3e3}
.lo-session .lo-turn-n{font-size:11px;color:#777;margin-bottom:2px}
.lo-session .lo-bubble{padding:6px 10px;border-radius:10px;margin:3px 0;max-width:85%;white-space:pre-wrap}
.lo-session .lo-user{background:#e8f0fe;margin-right:auto}
.lo-session .lo-assistant{background:#f1f3f4;margin-left:auto}
.lo-session .lo-tools{font-size:11px;color:#555;margin:2px 0 2px 12px}
.lo-session .lo-turn-err{color:#b02a37;font-size:11px}
.lo-session details.lo-turn-trace>summary{cursor:pointer;font-size:11px;color:#0d6efd}
"""


def _session_rows(frame: pd.DataFrame | None, session_id: Any) -> list[dict[str, Any]]:
    if frame is None or len(frame) == 0 or "session_id" not in frame.columns:
        return []
    sub = frame[frame["session_id"].eq(session_id)]
    if "trace_id" in sub.columns:
        sub = sub[sub["trace_id"].isna()]
    return sub.to_dict("records")


def render_session_html(
    session: dict[str, Any],
    spans: pd.DataFrame | None = None,
    results: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    *,
    limit: int = 2000,
    include_css: bool = True,
) -> str:
    """The session viewer's static HTML for one row of the sessions table (see :func:`show_session`)."""
    sid = session.get("session_id")
    ins = list(session.get("user_inputs") or [])
    outs = list(session.get("assistant_outputs") or [])
    tids = list(session.get("trace_ids") or [])
    calls: dict[int, list[dict[str, Any]]] = {}
    for c in session.get("tool_calls") or []:
        calls.setdefault(int(c.get("turn") or 0), []).append(c)
    meta = session.get("metadata")
    facts = [f"<b>session</b> {esc(sid)}", f"{len(tids)} turns"]
    if not is_missing(session.get("duration_ms")):
        facts.append(fmt_ms(session.get("duration_ms")))
    if not is_missing(session.get("cost_usd")):
        facts.append(fmt_cost(session.get("cost_usd")))
    if not is_missing(session.get("user_id")):
        facts.append(f"user {esc(session.get('user_id'))}")
    if session.get("n_errors"):
        facts.append(f'<span class="lo-turn-err">{int(session["n_errors"])} errors</span>')
    head = " · ".join(facts)
    if isinstance(meta, dict) and meta:
        head += " · " + " ".join(f'<span class="lo-dim">{esc(k)}</span>={esc(to_json_text(v))}' for k, v in meta.items())
    parts = [f'<div class="lo-s-head">{head}</div>', _results_html(_session_rows(results, sid)),
             _labels_html(_session_rows(labels, sid))]
    trace_res = results[results["trace_id"].notna()] if results is not None and "trace_id" in results else results
    for j in range(max(len(tids), len(ins))):
        tid = tids[j] if j < len(tids) else None
        q = ins[j] if j < len(ins) else None
        a = outs[j] if j < len(outs) else None
        turn = [f'<div class="lo-turn" data-turn="{j + 1}" data-trace="{esc(tid)}">',
                f'<div class="lo-turn-n">turn {j + 1}</div>',
                f'<div class="lo-bubble lo-user">{clip(q, limit)}</div>']
        for c in calls.get(j + 1, []):
            err = ' <span class="lo-turn-err">error</span>' if c.get("status") == "error" else ""
            turn.append(f'<div class="lo-tools">🔧 {esc(c.get("name"))}({esc(c.get("arguments") or "")}){err}</div>')
        turn.append(f'<div class="lo-bubble lo-assistant">{clip(a, limit)}</div>')
        if spans is not None and tid is not None and (spans["trace_id"] == tid).any():
            inner = render_trace_html(spans[spans["trace_id"] == tid], tid, trace_res, labels, limit=limit,
                                      include_css=False)
            turn.append(f'<details class="lo-turn-trace"><summary>trace {esc(tid)}</summary>{inner}</details>')
        turn.append("</div>")
        parts.append("".join(turn))
    css = f"<style>{asset_text('trace_view.css')}{_CSS}</style>" if include_css else f"<style>{_CSS}</style>"
    return f'{css}<div class="lo-session">{"".join(p for p in parts if p)}</div>'


@dataclass
class SessionView:
    """One conversation shown as a chat: each turn's user message, tool calls and answer, an
    expander with the turn's trace (the trace viewer), and the session's results and labels.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "agent", "session_id": "c",
        ...     "input_text": "<hi>", "output_text": "hello"}], format="records")
        >>> v = lo.show_session(spans, "c")
        >>> v, "&lt;hi&gt;" in v.html
        (SessionView(session_id='c', 1 turns), True)
    """

    session: dict[str, Any]
    spans: pd.DataFrame | None = None
    results: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None
    limit: int = 2000
    _html: str | None = field(default=None, repr=False)

    @property
    def html(self) -> str:
        """The static HTML (computed once)."""
        if self._html is None:
            self._html = render_session_html(self.session, self.spans, self.results, self.labels, limit=self.limit)
        return self._html

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return f"SessionView(session_id={self.session.get('session_id')!r}, {len(self.session.get('trace_ids') or [])} turns)"


def show_session(
    spans: Any,
    session_id: str | None = None,
    results: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    *,
    sessions: pd.DataFrame | None = None,
    limit: int = 2000,
) -> SessionView:
    """Show one conversation as a chat: each turn's user message, tool calls and answer, with an
    expander opening the turn's trace in the trace viewer; the session-level ``results`` and
    ``labels`` (rows with ``session_id`` and no ``trace_id``) on top, the trace-level ones inside
    each turn.

    ``spans`` is a spans frame or a :class:`~llmops_nb.Store` (then its results and labels are
    shown too); ``session_id`` defaults to the first session; ``sessions``: the sessions table
    when you have it (otherwise derived from the spans).

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "agent", "session_id": "c"}],
        ...                        format="records")
        >>> lo.show_session(spans, "c")
        SessionView(session_id='c', 1 turns)
    """
    from llmops_nb.sessions import to_sessions

    if hasattr(spans, "spans") and callable(spans.spans):  # a Store
        store = spans
        if session_id is None:
            raise ValueError("show_session(store, session_id): pass the session_id to show from a store")
        spans = store.spans(session_id=session_id)
        if results is None and "results" in store.tables():
            results = store.results()
        if labels is None and "labels" in store.tables():
            from llmops_nb.annotation._labels import labels as _labels

            labels = _labels(store)
    if not isinstance(spans, pd.DataFrame):
        raise TypeError(f"spans must be a spans DataFrame or a Store, not {type(spans).__name__}")
    if "session_id" not in spans.columns:
        raise ValueError("spans has no 'session_id' column; pass a spans table (lo.read_traces or store.spans())")
    if session_id is None:
        known = spans["session_id"].dropna()
        if known.empty:
            raise ValueError("no span has a session_id; there is no session to show")
        session_id = known.iloc[0]
    if sessions is not None and (sessions["session_id"] == session_id).any():
        row = sessions[sessions["session_id"] == session_id].iloc[0].to_dict()
    else:
        sub = spans[spans["trace_id"].isin(set(spans.loc[spans["session_id"] == session_id, "trace_id"]))]
        if len(sub) == 0:
            some = spans["session_id"].dropna().drop_duplicates().head(5).tolist()
            raise KeyError(f"session_id {session_id!r} is not in spans; some session ids there: {some}")
        row = to_sessions(sub).iloc[0].to_dict()
    sub_spans = spans[spans["trace_id"].isin(set(row["trace_ids"] or []))]
    return SessionView(row, sub_spans, results, labels, limit)
