"""The trace viewer: a span tree with a timing waterfall, chat messages, tool calls, retrieved
documents, tokens, cost, latency, errors, and the results and labels attached to each span.

The HTML is static (no script, CSS inlined), so it renders in JupyterLab, in exported reports
and offline; large payloads sit in ``<details>`` expanders. Every text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

from llmops_nb.annotation._assets import asset_path, asset_text
from llmops_nb.annotation._html import (
    clip,
    esc,
    fmt_cost,
    fmt_ms,
    fmt_num,
    fmt_value,
    is_missing,
    to_json_text,
)

__all__ = ["TraceView", "show_trace", "render_trace_html"]

_KIND_COLOR = {
    "llm": "#6f42c1", "chain": "#0d6efd", "retriever": "#198754", "tool": "#fd7e14",
    "agent": "#d63384", "embedding": "#20c997", "reranker": "#6610f2", "guardrail": "#dc3545",
    "evaluator": "#6c757d", "unknown": "#adb5bd",
}


def _ts(v: Any) -> pd.Timestamp | None:
    if is_missing(v):
        return None
    try:
        return pd.Timestamp(v)
    except (TypeError, ValueError):
        return None


def _tree_order(spans: pd.DataFrame) -> list[tuple[int, int]]:
    """(row position, depth) in depth-first order, children by start time."""
    ids = spans["span_id"].tolist()
    parents = spans["parent_span_id"].tolist()
    starts = [_ts(v) for v in spans["start_time"].tolist()] if "start_time" in spans else [None] * len(ids)
    known = set(ids)
    children: dict[Any, list[int]] = {}
    roots: list[int] = []
    for i, (sid, par) in enumerate(zip(ids, parents)):
        if is_missing(par) or par not in known or par == sid:
            roots.append(i)
        else:
            children.setdefault(par, []).append(i)

    def key(i: int) -> tuple[int, Any]:
        s = starts[i]
        return (0, s.value) if s is not None else (1, 0)

    out: list[tuple[int, int]] = []
    seen: set[int] = set()
    stack = [(i, 0) for i in sorted(roots, key=key, reverse=True)]
    while stack:
        i, d = stack.pop()
        if i in seen:
            continue
        seen.add(i)
        out.append((i, d))
        for c in sorted(children.get(ids[i], []), key=key, reverse=True):
            stack.append((c, d + 1))
    out.extend((i, 0) for i in range(len(ids)) if i not in seen)  # cycles: show flat
    return out


def _messages_html(msgs: Any, limit: int, seen: dict[str, str] | None = None, where: str = "") -> str:
    """The messages as a chat. ``seen`` (message key -> where it was first shown) folds a
    message repeated from an earlier span (a system prompt sent with every call, the history
    of an agent loop) into a one-line expander."""
    if is_missing(msgs) or msgs is None or len(msgs) == 0:
        return ""
    parts = []
    for m in list(msgs):
        if not isinstance(m, dict):
            parts.append(f'<div class="lo-msg">{clip(m, limit)}</div>')
            continue
        role = m.get("role") or "message"
        content = m.get("content")
        body = clip(content, limit) if not is_missing(content) else ""
        calls = m.get("tool_calls")
        if calls is not None and len(calls):
            for c in list(calls):
                c = c if isinstance(c, dict) else {}
                body += (
                    f'<div class="lo-toolcall"><span class="lo-tag">tool call</span> '
                    f'<b>{esc(c.get("name"))}</b> <span class="lo-dim">{esc(c.get("id"))}</span>'
                    f'{clip(c.get("arguments"), limit, cls="lo-code")}</div>'
                )
        tcid = m.get("tool_call_id")
        if not is_missing(tcid):
            body = f'<div class="lo-dim">result of {esc(tcid)}</div>' + body
        key = f"{role}\x00{to_json_text(content)}\x00{to_json_text(calls) if calls is not None else ''}"
        first = seen.get(key) if seen is not None else None
        if first is not None and body:
            n = len(str(content)) if not is_missing(content) else 0
            parts.append(
                f'<details class="lo-msg lo-role-{esc(role)} lo-repeat"><summary><span class="lo-role">{esc(role)}</span> '
                f'<span class="lo-dim">same as in {esc(first)}{f" ({n:,} characters)" if n else ""}</span></summary>'
                f'{body}</details>'
            )
            continue
        if seen is not None:
            seen.setdefault(key, where)
        parts.append(f'<div class="lo-msg lo-role-{esc(role)}"><div class="lo-role">{esc(role)}</div>{body}</div>')
    return '<div class="lo-chat">' + "".join(parts) + "</div>"


def _documents_html(docs: Any, limit: int) -> str:
    if is_missing(docs) or docs is None or len(docs) == 0:
        return ""
    rows = []
    for i, d in enumerate(list(docs)):
        d = d if isinstance(d, dict) else {"content": d}
        score: Any = d.get("score")
        sc = f"{float(score):.3f}" if not is_missing(score) else ""
        rows.append(
            f'<div class="lo-doc"><div class="lo-doc-h"><span class="lo-tag lo-tag-doc">doc {i + 1}</span> '
            f'<span class="lo-dim">{esc(d.get("id"))}</span> <span class="lo-score">score {esc(sc)}</span></div>'
            f'{clip(d.get("content"), limit // 2)}</div>'
        )
    return '<div class="lo-docs">' + "".join(rows) + "</div>"


def _result_shown(r: dict[str, Any]) -> str:
    name = str(r.get("evaluator") or "")
    if not is_missing(r.get("error")):
        return "error"
    label, score, value = r.get("label"), r.get("score"), r.get("value")
    if not is_missing(label) and str(label) not in ("True", "False"):
        return str(label)
    if isinstance(value, (bool, str)) or (not is_missing(value) and isinstance(value, (list, tuple, dict))):
        return fmt_value(value, name)
    if not is_missing(score):
        return fmt_value(score, name)
    return fmt_value(value, name) if not is_missing(value) else (str(label) if not is_missing(label) else "")


def _results_html(res: list[dict[str, Any]]) -> str:
    """One chip per result; results of several runs show their run (newest first) and every
    chip opens on click to the judge's reasoning (or the error)."""
    if not res:
        return ""
    runs = {r.get("run_id") for r in res if not is_missing(r.get("run_id"))}
    several = len(runs) > 1

    def when(r: dict[str, Any]) -> Any:
        t = _ts(r.get("created_at"))
        return t.value if t is not None else 0

    res = sorted(res, key=lambda r: (str(r.get("evaluator")), -when(r)))
    chips = []
    for r in res:
        passed = r.get("passed")
        cls = "lo-pass" if passed is True else "lo-fail" if passed is False else "lo-neutral"
        if not is_missing(r.get("error")):
            cls = "lo-err"
        shown = _result_shown(r)
        run = r.get("run_id")
        t = _ts(r.get("created_at"))
        run_txt = ""
        if several and not is_missing(run):
            run_txt = f'<span class="lo-run">run {esc(str(run)[:10])}{" · " + t.strftime("%m-%d %H:%M") if t is not None else ""}</span>'
        why = r.get("explanation") if not is_missing(r.get("explanation")) else r.get("error")
        facts = [f"{k} {v}" for k, v in (
            ("model", r.get("judge_model")), ("run", run if not is_missing(run) else None),
            ("latency", fmt_ms(r.get("latency_ms")) or None), ("cost", fmt_cost(r.get("cost_usd")) or None),
            ("score", fmt_value(r.get("score"), str(r.get("evaluator") or "")) or None),
            ("simulated", "yes" if r.get("simulated") is True else None),
        ) if v is not None and not is_missing(v)]
        head = f'<b>{esc(r.get("evaluator"))}</b>: {esc(shown)} {run_txt}'
        inner = (clip(why, 2000) if not is_missing(why) else '<div class="lo-dim">no reasoning recorded</div>')
        inner += f'<div class="lo-dim">{esc(" · ".join(facts))}</div>' if facts else ""
        chips.append(f'<details class="lo-chip lo-res {cls}"><summary>{head}</summary><div class="lo-why">{inner}</div></details>')
    return '<div class="lo-results"><span class="lo-dim">results</span> ' + "".join(chips) + "</div>"


def _labels_html(labs: list[dict[str, Any]]) -> str:
    if not labs:
        return ""
    chips = []
    for r in labs:
        q, v = r.get("question"), r.get("value")
        shown = ("skipped" if q == "skip" else "flagged") if q in ("skip", "flag") and v is True else fmt_value(v)
        chips.append(f'<span class="lo-chip lo-label"><b>{esc(q)}</b>: {esc(shown)} '
                     f'<span class="lo-dim">({esc(r.get("annotator"))})</span></span>')
    return '<div class="lo-results"><span class="lo-dim">labels</span> ' + "".join(chips) + "</div>"


def _axis_html(total_ms: float | None) -> str:
    """The waterfall's time axis: ticks at round milliseconds or seconds."""
    if not total_ms or total_ms <= 0:
        return ""
    import math

    raw = total_ms / 4
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    ticks = []
    k = 0
    while k * step <= total_ms * 1.0001 and k < 12:
        x = k * step
        pos = x / total_ms * 100
        label = (f"{x:g} ms" if total_ms < 2000 else f"{x / 1000:g} s")
        align = "lo-tick-l" if k == 0 else "lo-tick-r" if pos > 92 else ""
        ticks.append(f'<span class="lo-tick {align}" style="left:{pos:.2f}%">{esc(label)}</span>')
        k += 1
    return (f'<div class="lo-axis"><span></span><span class="lo-lat lo-dim">latency</span>'
            f'<span class="lo-axis-ticks">{"".join(ticks)}</span></div>')


def _by_span(frame: pd.DataFrame | None, trace_id: str, root_id: Any) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    if frame is None or len(frame) == 0 or "trace_id" not in frame:
        return out
    sub = frame[frame["trace_id"] == trace_id]
    for r in sub.to_dict("records"):
        sid = r.get("span_id")
        out.setdefault(root_id if is_missing(sid) else sid, []).append(r)
    return out


def render_trace_html(
    spans: pd.DataFrame,
    trace_id: str | None = None,
    results: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    *,
    limit: int = 2000,
    open_spans: Sequence[str] | str = "root",
    include_css: bool = True,
) -> str:
    """The trace viewer's static HTML for one trace (see :func:`show_trace`)."""
    if trace_id is not None:
        spans = spans[spans["trace_id"] == trace_id]
    if len(spans) == 0:
        return f'<div class="lo-trace">no spans for trace {esc(trace_id)}</div>'
    trace_id = spans["trace_id"].iloc[0] if trace_id is None else trace_id
    spans = spans.reset_index(drop=True)
    order = _tree_order(spans)
    starts = [_ts(v) for v in spans["start_time"]] if "start_time" in spans else [None] * len(spans)
    ends = [_ts(v) for v in spans["end_time"]] if "end_time" in spans else [None] * len(spans)
    known = [s for s in starts if s is not None]
    t0 = min(known) if known else None
    t1 = max([e for e in ends if e is not None] + known) if known else None
    total_ms = max((t1 - t0).total_seconds() * 1000.0, 1e-9) if t0 is not None and t1 is not None else None
    root_id = spans["span_id"].iloc[order[0][0]]
    res = _by_span(results, trace_id, root_id)
    labs = _by_span(labels, trace_id, root_id)
    rec = spans.to_dict("records")

    def num_sum(col: str, kinds: tuple[str, ...] | None = None) -> float | None:
        vals = []
        for r in rec:
            v = r.get(col)
            if (kinds is None or r.get("kind") in kinds) and not is_missing(v):
                try:
                    vals.append(float(v))
                except (TypeError, ValueError):
                    continue
        return sum(vals) if vals else None

    def tok_sum(col: str) -> int | None:
        v = num_sum(col, ("llm", "embedding"))
        return None if v is None else int(v)

    n_err = sum(1 for r in rec if r.get("status") == "error")
    cost = num_sum("cost_usd")
    tok_in, tok_out = tok_sum("prompt_tokens"), tok_sum("completion_tokens")
    head = (
        f'<div class="lo-head"><span class="lo-title">trace <code>{esc(trace_id)}</code></span>'
        f'<span>{len(spans)} spans</span>'
        + (f'<span>{fmt_ms(total_ms)}</span>' if total_ms else "")
        + (f'<span>{fmt_num(tok_in) or "?"} in / {fmt_num(tok_out) or "?"} out tokens</span>'
           if tok_in is not None or tok_out is not None else "")
        + (f'<span>{fmt_cost(cost)}</span>' if cost is not None else "")
        + (f'<span class="lo-errcount">{n_err} error{"s" if n_err != 1 else ""}</span>' if n_err else "")
        + "</div>"
    )
    open_set = set([open_spans] if isinstance(open_spans, str) else open_spans)
    rows = []
    seen: dict[str, str] = {}
    for pos, depth in order:
        r = rec[pos]
        kind = r.get("kind") or "unknown"
        s, e = starts[pos], ends[pos]
        if total_ms and s is not None:
            left = (s - t0).total_seconds() * 1000.0 / total_ms * 100.0
            dur = r.get("latency_ms")
            if is_missing(dur):
                dur = (e - s).total_seconds() * 1000.0 if e is not None else 0.0
            width = max(float(dur) / total_ms * 100.0, 0.4)
            left = min(max(left, 0.0), 99.6)
            width = min(width, 100.0 - left)
            bar = (f'<span class="lo-bar" style="left:{left:.2f}%;width:{width:.2f}%;'
                   f'background:{_KIND_COLOR.get(kind, "#adb5bd")}"></span>')
        else:
            bar = ""
        err = r.get("status") == "error"
        sid = r.get("span_id")
        is_open = ("root" in open_set and pos == order[0][0]) or "all" in open_set or sid in open_set or err
        detail = _span_detail(r, limit, seen)
        detail += _results_html(res.get(sid, []))
        detail += _labels_html(labs.get(sid, []))
        badges = ""
        if res.get(sid):
            fails = sum(1 for x in res[sid] if x.get("passed") is False)
            badges += f'<span class="lo-chip {"lo-fail" if fails else "lo-pass"}">{len(res[sid])} results{f", {fails} failed" if fails else ""}</span>'
        if labs.get(sid):
            badges += f'<span class="lo-chip lo-label">{len(labs[sid])} labels</span>'
        par = r.get("parent_span_id")
        rows.append(
            f'<details class="lo-span{" lo-error" if err else ""}" data-span-id="{esc(sid)}" data-kind="{esc(kind)}"'
            f' data-parent="{esc(par) if not is_missing(par) else ""}"'
            f'{" open" if is_open else ""}><summary><span class="lo-name" style="padding-left:{depth * 14}px">'
            f'<span class="lo-badge lo-k-{esc(kind)}">{esc(kind)}</span> {esc(r.get("name"))} {badges}</span>'
            f'<span class="lo-lat">{fmt_ms(r.get("latency_ms"))}</span>'
            f'<span class="lo-wf">{bar}</span></summary><div class="lo-body">{detail}</div></details>'
        )
    css = f"<style>{asset_text('trace_view.css')}</style>" if include_css else ""
    return (f'{css}<div class="lo-trace" data-trace-id="{esc(trace_id)}">{head}{_axis_html(total_ms)}'
            f'<div class="lo-spans">{"".join(rows)}</div></div>')


def _parsed(v: Any) -> Any:
    if isinstance(v, str):
        t = v.strip()
        try:
            return orjson.loads(t)
        except orjson.JSONDecodeError:
            pass
        if t[:1] in "{[(":  # a Python repr of a dict or list, as some producers write them
            import ast

            try:
                return ast.literal_eval(t)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                pass
        return t
    return v


def _same_text(a: Any, b: Any) -> bool:
    """True when two payloads say the same (a JSON string and the object it encodes count)."""
    if is_missing(a) or is_missing(b):
        return False
    x, y = _parsed(a), _parsed(b)
    return x == y or to_json_text(x).strip() == to_json_text(y).strip()


def _span_detail(r: dict[str, Any], limit: int, seen: dict[str, str] | None = None) -> str:
    facts = []
    for label, val in (
        ("model", r.get("model")), ("provider", r.get("provider")),
        ("tokens", None if is_missing(r.get("total_tokens")) else
         f"{fmt_num(r.get('prompt_tokens'))} in / {fmt_num(r.get('completion_tokens'))} out / {fmt_num(r.get('total_tokens'))}"),
        ("cost", fmt_cost(r.get("cost_usd")) or None), ("latency", fmt_ms(r.get("latency_ms")) or None),
        ("status", r.get("status")), ("start", r.get("start_time")), ("span", r.get("span_id")),
    ):
        if not is_missing(val) and val != "":
            facts.append(f"<span><span class=\"lo-dim\">{label}</span> {esc(val)}</span>")
    out = '<div class="lo-facts">' + "".join(facts) + "</div>"
    if r.get("status") == "error" or not is_missing(r.get("error_message")):
        out += f'<div class="lo-errbox">{clip(r.get("error_message") or "error", limit)}</div>'
    where = f"span {r.get('name') or r.get('span_id')}"
    chat_in = _messages_html(r.get("input_messages"), limit, seen, where)
    chat_out = _messages_html(r.get("output_messages"), limit, seen, where)
    is_tool = not is_missing(r.get("tool_name"))
    if chat_in or chat_out:
        out += chat_in + (f'<div class="lo-sep">output</div>{chat_out}' if chat_out else "")
    else:
        # a tool span's input and output are usually its arguments and result: show them once
        if not is_missing(r.get("input_text")) and not (is_tool and _same_text(r.get("input_text"), r.get("tool_arguments"))):
            out += f'<div class="lo-io"><div class="lo-dim">input</div>{clip(r.get("input_text"), limit)}</div>'
        if not is_missing(r.get("output_text")) and not (is_tool and _same_text(r.get("output_text"), r.get("tool_result"))):
            out += f'<div class="lo-io"><div class="lo-dim">output</div>{clip(r.get("output_text"), limit)}</div>'
    if is_tool:
        out += (f'<div class="lo-toolcall"><span class="lo-tag">tool</span> <b>{esc(r.get("tool_name"))}</b>'
                f'{clip(r.get("tool_arguments"), limit, cls="lo-code")}'
                + (f'<div class="lo-dim">result</div>{clip(r.get("tool_result"), limit, cls="lo-code")}'
                   if not is_missing(r.get("tool_result")) else "") + "</div>")
    out += _documents_html(r.get("documents"), limit)
    meta = r.get("metadata")
    if isinstance(meta, dict) and meta:
        out += f'<details class="lo-meta"><summary>metadata</summary>{clip(to_json_text(meta), limit, cls="lo-code")}</details>'
    attrs = r.get("attributes")
    if isinstance(attrs, dict) and attrs:
        out += f'<details class="lo-meta"><summary>attributes ({len(attrs)})</summary>{clip(to_json_text(attrs), limit, cls="lo-code")}</details>'
    return out


@dataclass
class TraceView:
    """One trace, shown as HTML (span tree, waterfall, chat, documents, results, labels).

    Displays itself in a notebook (``_repr_html_``, offline, no script); ``.widget()`` gives an
    interactive widget (expand or collapse all spans, filter by kind).

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm",
        ...     "input_text": "<b>hi</b>"}], format="records")
        >>> "&lt;b&gt;hi&lt;/b&gt;" in lo.show_trace(spans, "t").html
        True
    """

    spans: pd.DataFrame
    trace_id: str
    results: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None
    limit: int = 2000
    _html: str | None = field(default=None, repr=False)

    @property
    def html(self) -> str:
        """The static HTML (computed once)."""
        if self._html is None:
            self._html = render_trace_html(self.spans, self.trace_id, self.results, self.labels, limit=self.limit)
        return self._html

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        sub = self.spans[self.spans["trace_id"] == self.trace_id]
        return f"TraceView(trace_id={self.trace_id!r}, {len(sub)} spans)"

    def widget(self) -> Any:
        """An anywidget showing the trace with expand/collapse-all and a kind filter."""
        import anywidget
        import traitlets

        class TraceWidget(anywidget.AnyWidget):
            _esm = asset_path("trace_view.js")
            _css = asset_path("trace_view.css")
            html = traitlets.Unicode("").tag(sync=True)

        return TraceWidget(html=render_trace_html(self.spans, self.trace_id, self.results, self.labels,
                                                  limit=self.limit, include_css=False))


def show_trace(
    spans: pd.DataFrame,
    trace_id: str | None = None,
    results: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    *,
    limit: int = 2000,
) -> TraceView:
    """Show one trace: the span tree with a timing waterfall; messages as a chat (roles, tool
    calls and results, retrieved documents with scores); tokens, cost, latency, errors; the
    evaluation ``results`` and human ``labels`` attached to each span (rows with no span_id go
    to the root). Texts longer than ``limit`` characters fold into an expander.

    ``spans`` is a spans frame (one row per span) or a :class:`~llmops_nb.Store`; ``trace_id``
    defaults to the first trace in ``spans``.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "chain"}], format="records")
        >>> lo.show_trace(spans, "t")
        TraceView(trace_id='t', 1 spans)
    """
    if hasattr(spans, "spans") and callable(spans.spans):  # a Store
        if trace_id is None:
            raise ValueError("show_trace(store, trace_id): pass the trace_id to show from a store")
        spans = spans.spans(trace_id=trace_id)
    if not isinstance(spans, pd.DataFrame):
        raise TypeError(f"spans must be a spans DataFrame or a Store, not {type(spans).__name__}")
    for col in ("trace_id", "span_id"):
        if col not in spans.columns:
            raise ValueError(f"spans has no {col!r} column; pass a spans table (lo.read_traces or store.spans())")
    if trace_id is None:
        if len(spans) == 0:
            raise ValueError("spans is empty; there is no trace to show")
        trace_id = spans["trace_id"].iloc[0]
    elif not (spans["trace_id"] == trace_id).any():
        some = spans["trace_id"].drop_duplicates().head(5).tolist()
        raise KeyError(f"trace_id {trace_id!r} is not in spans; some trace ids there: {some}")
    if "parent_span_id" not in spans.columns:
        spans = spans.assign(parent_span_id=None)
    return TraceView(spans, trace_id, results, labels, limit)
