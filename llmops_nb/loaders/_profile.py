"""``profile(spans)``: what a team's traces carry, per source format and producer.

The ``attributes`` column of the spans table holds, by its declaration, every attribute of the
source record that no mapping used (raw). Counting its keys is therefore the account of what
was left unmapped; the few keys that loaders keep there on purpose as raw copies of what they
did map (``input.value``, ``inputs``, OTel ``resource``, the scope name...) are not counted.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from llmops_nb.results import ResultView
from llmops_nb.schema import COST_ESTIMATED_KEY

__all__ = ["profile", "Profile", "RAW_COPY_KEYS"]

RAW_COPY_KEYS = frozenset({
    "resource", "events", "otel.scope.name", "otel.span.kind", "input.value", "output.value", "inputs", "outputs",
    "input", "output", "http.url", "http.method", "http.status_code",
})
"""Attribute keys kept as raw copies or context of what a loader mapped: not counted as unmapped."""

_EXPAND = ("meta", "metrics")  # nested groups of raw tags (Datadog APM) counted key by key

_SHARES = ("model", "tokens", "cost_source", "cost_estimated", "input_messages", "output_messages", "tool_calls",
           "documents", "errors")


def _producer(attrs: Any, meta: Any) -> str | None:
    """The instrumentation or service that wrote a span: OTel scope name, else service name."""
    a = attrs if isinstance(attrs, Mapping) else {}
    m = meta if isinstance(meta, Mapping) else {}
    for v in (a.get("otel.scope.name"), m.get("service.name"), m.get("service")):
        if isinstance(v, str) and v:
            return v
    return None


def _has_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 or (hasattr(v, "__len__") and not isinstance(v, (str, Mapping))
                                                            and v is not None and len(v) > 0)


def _tool_calls(kind: str, out: Any) -> bool:
    if kind == "tool":
        return True
    if not _has_list(out):
        return False
    return any(isinstance(m, Mapping) and m.get("tool_calls") is not None and len(m["tool_calls"]) > 0 for m in out)


@dataclass(frozen=True)
class Profile(ResultView):
    """The fidelity profile of a spans table.

    ``frame``: one row per (source_format, producer) with ``spans`` and the share (0 to 1) of
    spans that carry a model, tokens, a cost from the source, an estimated cost, input and output
    messages, tool calls, documents, errors. ``unmapped``: attribute keys no mapping used, with
    their ``count`` per source format, most frequent first.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm"}], format="records")
        >>> isinstance(lo.loaders.profile(spans), Profile)
        True
    """

    frame: pd.DataFrame
    unmapped: pd.DataFrame

    def __repr__(self) -> str:
        lines = [f"Profile: {int(self.frame['spans'].sum()) if len(self.frame) else 0} spans, "
                 f"{len(self.frame)} source format / producer group(s)"]
        if len(self.frame):
            shown = self.frame.copy()
            for c in _SHARES:
                shown[c] = shown[c].map(lambda x: f"{x:.0%}")
            lines.append(shown.to_string(index=False))
        if len(self.unmapped):
            lines.append("unmapped attribute keys (most frequent):")
            lines.append(self.unmapped.head(15).to_string(index=False))
        else:
            lines.append("unmapped attribute keys: none")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        def pct(x: float) -> str:
            return f'<td style="text-align:right;background:rgba(46,125,50,{0.08 + 0.5 * x:.2f})">{x:.0%}</td>'

        head = "".join(f"<th>{html.escape(c)}</th>" for c in ["source_format", "producer", "spans", *_SHARES])
        rows = []
        for r in self.frame.itertuples(index=False):
            d = r._asdict()
            cells = (f"<td>{html.escape(str(d['source_format']))}</td><td>{html.escape(str(d['producer']))}</td>"
                     f"<td style='text-align:right'>{d['spans']}</td>" + "".join(pct(float(d[c])) for c in _SHARES))
            rows.append(f"<tr>{cells}</tr>")
        um = "".join(f"<tr><td>{html.escape(str(r.source_format))}</td><td><code>{html.escape(str(r.key))}</code></td>"
                     f"<td style='text-align:right'>{r.count}</td></tr>" for r in self.unmapped.head(30).itertuples(index=False))
        more = f"<p>{len(self.unmapped) - 30} more keys in <code>.unmapped</code></p>" if len(self.unmapped) > 30 else ""
        return ("<div><b>Fidelity profile</b> (share of spans that carry each field)"
                f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
                "<b>Attribute keys no mapping used</b>"
                + (f"<table><thead><tr><th>source_format</th><th>key</th><th>count</th></tr></thead><tbody>{um}</tbody></table>{more}"
                   if um else "<p>none</p>") + "</div>")


def profile(spans: pd.DataFrame) -> Profile:
    """What the spans carry, per source format and producer, and which attribute keys no mapping used.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm", "model": "gpt-4o",
        ...     "prompt_tokens": 10, "completion_tokens": 2, "attributes": {"my.key": 1}}], format="records")
        >>> p = lo.loaders.profile(spans)
        >>> p.frame[["source_format", "spans", "model", "tokens", "cost_estimated"]].values.tolist()
        [['records', 1, 1.0, 1.0, 1.0]]
        >>> p.unmapped.values.tolist()
        [['records', 'my.key', 1]]
    """
    missing = {"source_format", "kind", "model", "prompt_tokens", "completion_tokens", "cost_usd", "attributes"} - set(spans.columns)
    if missing:
        raise ValueError(f"spans lacks columns {sorted(missing)}; pass a spans table (lo.read_traces or store.spans())")
    n = len(spans)
    col = {c: (spans[c].tolist() if c in spans.columns else [None] * n) for c in (
        "source_format", "kind", "model", "provider", "metadata", "attributes", "input_messages", "output_messages",
        "documents", "status")}
    tokens = (spans["prompt_tokens"].notna() | spans["completion_tokens"].notna()).tolist()
    cost = spans["cost_usd"].notna().tolist()
    producers = [_producer(a, m) for a, m in zip(col["attributes"], col["metadata"])]
    by_trace: dict[Any, str] = {}  # spans without a producer of their own take their trace's
    if "trace_id" in spans.columns:
        for t, p in zip(spans["trace_id"].tolist(), producers):
            if p is not None:
                by_trace.setdefault(t, p)
        producers = [p or by_trace.get(t) for t, p in zip(spans["trace_id"].tolist(), producers)]
    groups: dict[tuple[str, str], Counter[str]] = {}
    unmapped: dict[tuple[str, str], int] = {}
    for i in range(n):
        attrs, meta = col["attributes"][i], col["metadata"][i]
        fmt = str(col["source_format"][i])
        key = (fmt, producers[i] or "-")
        c = groups.setdefault(key, Counter())
        c["spans"] += 1
        estimated = isinstance(meta, Mapping) and bool(meta.get(COST_ESTIMATED_KEY))
        c["model"] += col["model"][i] is not None and col["model"][i] == col["model"][i]
        c["tokens"] += tokens[i]
        c["cost_source"] += cost[i] and not estimated
        c["cost_estimated"] += cost[i] and estimated
        c["input_messages"] += _has_list(col["input_messages"][i])
        c["output_messages"] += _has_list(col["output_messages"][i])
        c["tool_calls"] += _tool_calls(str(col["kind"][i]), col["output_messages"][i])
        c["documents"] += _has_list(col["documents"][i])
        c["errors"] += col["status"][i] == "error"
        if isinstance(attrs, Mapping):
            for k, v in attrs.items():
                if k in RAW_COPY_KEYS:
                    continue
                if k in _EXPAND and isinstance(v, Mapping):
                    for sub in v:
                        unmapped[(fmt, f"{k}.{sub}")] = unmapped.get((fmt, f"{k}.{sub}"), 0) + 1
                else:
                    unmapped[(fmt, k)] = unmapped.get((fmt, k), 0) + 1
    rows = []
    for (fmt, prod), c in sorted(groups.items()):
        total = c["spans"]
        rows.append({"source_format": fmt, "producer": prod, "spans": total, **{s: c[s] / total for s in _SHARES}})
    frame = pd.DataFrame(rows, columns=["source_format", "producer", "spans", *_SHARES])
    um = pd.DataFrame([{"source_format": f, "key": k, "count": v} for (f, k), v in unmapped.items()],
                      columns=["source_format", "key", "count"])
    um = um.sort_values(["count", "source_format", "key"], ascending=[False, True, True]).reset_index(drop=True)
    return Profile(frame=frame, unmapped=um)
